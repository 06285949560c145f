"""Model nodes (extra ``ml``): transformers pipelines, speech, text and audio models.

The modules here import torch and transformers only when a node loads its model,
so the nodes are always listed by ``rm.list_nodes()`` and usable in manifests; a
node whose dependency is missing fails at ``initialize()`` with an ImportError
naming ``pip install 'remotemedia[ml]'``. Models are resolved offline-first (see
:mod:`remotemedia.nodes.ml.loading`) and run on cuda > mps > cpu unless told
otherwise (:mod:`remotemedia.nodes.ml.device`).
"""

from remotemedia.nodes.ml.asr import SpeechToText
from remotemedia.nodes.ml.base import ModelNode, loaded_models
from remotemedia.nodes.ml.device import resolve_device, resolve_dtype
from remotemedia.nodes.ml.llm import TextGenerator
from remotemedia.nodes.ml.loading import ModelNotFoundError, resolve_model
from remotemedia.nodes.ml.transcript import Transcript
from remotemedia.nodes.ml.transformers_pipeline import TransformersPipeline

__all__ = [
    "TransformersPipeline",
    "SpeechToText",
    "TextGenerator",
    "Transcript",
    "ModelNode",
    "ModelNotFoundError",
    "loaded_models",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
]
