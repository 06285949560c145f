"""Model nodes (extra ``ml``): transformers pipelines, speech, text and audio models.

The modules here import torch and transformers only when a node loads its model,
so the nodes are always listed by ``rm.list_nodes()`` and usable in manifests; a
node whose dependency is missing fails at ``initialize()`` with an ImportError
naming ``pip install 'remotemedia[ml]'``. Models are resolved offline-first (see
:mod:`remotemedia.nodes.ml.loading`) and run on cuda > mps > cpu unless told
otherwise (:mod:`remotemedia.nodes.ml.device`). The helpers imported here "as"
themselves (``ModelNode``, ``loaded_models``, ...) are importable from this package
but not re-exported into ``remotemedia.nodes``.
"""

from remotemedia.nodes.ml.asr import SpeechToText
from remotemedia.nodes.ml.base import ModelNode as ModelNode
from remotemedia.nodes.ml.base import loaded_models as loaded_models
from remotemedia.nodes.ml.classifier import AudioClassifier, Classification
from remotemedia.nodes.ml.device import resolve_device as resolve_device
from remotemedia.nodes.ml.device import resolve_dtype as resolve_dtype
from remotemedia.nodes.ml.kokoro import KokoroTTS
from remotemedia.nodes.ml.llm import TextGenerator
from remotemedia.nodes.ml.loading import ModelNotFoundError
from remotemedia.nodes.ml.loading import resolve_model as resolve_model
from remotemedia.nodes.ml.offline_tts import OfflineTTS
from remotemedia.nodes.ml.silero import SileroVAD
from remotemedia.nodes.ml.transcript import Transcript
from remotemedia.nodes.ml.transformers_pipeline import TransformersPipeline
from remotemedia.nodes.ml.tts import TextToSpeech
from remotemedia.nodes.ml.ultravox import Ultravox

__all__ = [
    "TransformersPipeline",
    "SpeechToText",
    "TextGenerator",
    "TextToSpeech",
    "AudioClassifier",
    "KokoroTTS",
    "Ultravox",
    "SileroVAD",
    "OfflineTTS",
    "Transcript",
    "Classification",
    "ModelNotFoundError",
]
