"""``TextToSpeech``: transformers text-to-speech models, audio streamed in chunks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number
from remotemedia.nodes.ml.base import ModelNode
from remotemedia.nodes.ml.llm import split_sentences
from remotemedia.nodes.ml.transcript import Transcript
from remotemedia.nodes.ml.transformers_pipeline import build_pipeline

__all__ = ["TextToSpeech", "SpeechChunker", "speech_text"]

logger = logging.getLogger(__name__)


def speech_text(node: Any, data: Any) -> str:
    """The text to speak in ``data`` (str or Transcript), else a TypeError."""
    if isinstance(data, (str, Transcript)):
        return str(data)
    raise TypeError(
        f"{type(node).__name__} expects text (str or Transcript), "
        f"got {type(data).__name__}"
    )


class SpeechChunker:
    """Cuts synthesized audio into frames of ``chunk_s`` seconds on a running clock.

    Timestamps continue across utterances, so a node's output is one stream.

    Args:
        chunk_s: Frame length in seconds.
    """

    def __init__(self, chunk_s: float) -> None:
        self.chunk_s = chunk_s
        self.time = 0.0

    def frames(self, audio: Any, rate: int) -> Iterator[AudioFrame]:
        """Frames of ``audio`` (any array-like, mono or ``(channels, n)``)."""
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples.reshape(1, -1)
        elif samples.ndim > 2:
            samples = samples.reshape(-1, samples.shape[-1])[:1]
        step = max(1, round(self.chunk_s * rate))
        for begin in range(0, samples.shape[1], step):
            part = np.ascontiguousarray(samples[:, begin : begin + step])
            yield AudioFrame(part, rate, self.time)
            self.time += part.shape[1] / rate


@register_node
class TextToSpeech(ModelNode):
    """Speaks text with a transformers text-to-speech model (VITS/MMS, Bark, ...).

    Each input (str or Transcript) is split into sentences; each sentence is
    synthesized and emitted at once as AudioFrames of ``chunk_s`` seconds, so that
    playback starts after the first sentence. Timestamps run on one clock across
    inputs (reset by ``flush()``). An interruption (barge-in) stops synthesis
    before the next sentence and drops the chunks not yet emitted.

    Example:
        >>> rm.Pipeline([nodes.TextToSpeech("facebook/mms-tts-eng")]).collect(["Hi."])

    Args:
        model: A text-to-speech model id or folder that the transformers
            "text-to-speech" pipeline loads on its own (no separate vocoder).
        chunk_s: Length of the emitted frames in seconds.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        dtype: None (float16 on CUDA, float32 elsewhere) or a dtype name.
    """

    purpose = "text-to-speech model"

    def __init__(
        self,
        model: str = "facebook/mms-tts-eng",
        chunk_s: float = 0.5,
        device: str = "auto",
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(model, device=device, dtype=dtype, name=name)
        check_number("TextToSpeech", "chunk_s", chunk_s, positive=True)
        self.chunk_s = float(chunk_s)
        self._chunker = SpeechChunker(self.chunk_s)

    def load(self, path: str, device: str, dtype: Any) -> Any:
        return build_pipeline("text-to-speech", path, device, dtype)

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """One utterance: ``(samples, sample_rate)``."""
        result = self.loaded(text)
        return np.asarray(result["audio"], dtype=np.float32), int(
            result["sampling_rate"]
        )

    def stream(self, data: Any) -> Iterator[AudioFrame]:
        sentences, rest = split_sentences(speech_text(self, data))
        if rest.strip():
            sentences.append(rest.strip())
        for sentence in sentences:
            if self.interrupted:
                return
            audio, rate = self.synthesize(sentence)
            for frame in self._chunker.frames(audio, rate):
                if self.interrupted:
                    return
                yield frame

    def flush(self) -> Any:
        self._chunker = SpeechChunker(self.chunk_s)
        return None
