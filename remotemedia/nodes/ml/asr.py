"""``SpeechToText``: speech recognition on VAD segments or on a rolling window."""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Outputs, iter_outputs
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import Resample, check_number, require_audio
from remotemedia.nodes.ml.base import ModelNode
from remotemedia.nodes.ml.transcript import Transcript
from remotemedia.nodes.ml.transformers_pipeline import (
    build_pipeline,
    resample_whole,
    to_pipeline_input,
)

__all__ = ["SpeechToText"]

logger = logging.getLogger(__name__)


@register_node
class SpeechToText(ModelNode):
    """Transcribes speech with any model the transformers ASR pipeline takes.

    Modes:

    * ``"segments"``: each input frame is one utterance (the segments that
      ``EnergyVAD``/``SileroVAD`` emit); each gives one final :class:`Transcript`
      from the frame's start to its end, in stream seconds.
    * ``"window"``: input is a continuous stream of small frames. Every ``hop_s``
      seconds of new audio the current window (up to ``window_s`` seconds) is
      transcribed and emitted as a partial (``final=False``); when the window is
      full it is emitted as final and the next window starts where it ended.
      ``flush()`` emits the last window as final.

    Audio at another rate than the model's is resampled with :class:`Resample`;
    channels are mixed to mono. An empty transcription emits nothing.

    Example:
        >>> rm.Pipeline([nodes.AudioFileSource(path), nodes.EnergyVAD(),
        ...              nodes.SpeechToText("openai/whisper-tiny", language="en")])

    Args:
        model: An ASR model id or folder (Whisper, Wav2Vec2 CTC, ...).
        language: Language to transcribe in ("en", "german", ...): Whisper models are
            told; other models ignore it (it is still recorded in the transcript).
        mode: "segments" or "window" (see above).
        window_s: Longest window in window mode, in seconds.
        hop_s: New audio between partial results in window mode, in seconds.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        dtype: None (float16 on CUDA, float32 elsewhere) or a dtype name.
        max_new_tokens: Cap on the tokens generated per transcription (seq2seq
            models); None keeps the model's own limit.
    """

    purpose = "speech recognition model"

    def __init__(
        self,
        model: str = "openai/whisper-tiny",
        language: str | None = None,
        mode: Literal["segments", "window"] = "segments",
        window_s: float = 5.0,
        hop_s: float = 1.0,
        device: str = "auto",
        dtype: Any = None,
        max_new_tokens: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(model, device=device, dtype=dtype, name=name)
        if mode not in ("segments", "window"):
            raise ValueError(
                f"SpeechToText: mode must be 'segments' or 'window', got {mode!r}"
            )
        check_number("SpeechToText", "window_s", window_s, positive=True)
        check_number("SpeechToText", "hop_s", hop_s, positive=True)
        if hop_s > window_s:
            raise ValueError(
                f"SpeechToText: hop_s ({hop_s:g}) must not exceed window_s ({window_s:g})"
            )
        if max_new_tokens is not None:
            check_number(
                "SpeechToText",
                "max_new_tokens",
                max_new_tokens,
                positive=True,
                integer=True,
            )
        self.language = language
        self.mode = mode
        self.window_s = float(window_s)
        self.hop_s = float(hop_s)
        self.max_new_tokens = max_new_tokens
        self.sample_rate = 16000
        self._reset()

    def _reset(self) -> None:
        self._resampler: Resample | None = None
        self._window: list[np.ndarray] = []
        self._window_len = 0
        self._window_start = 0.0
        self._since_hop = 0

    def load(self, path: str, device: str, dtype: Any) -> Any:
        pipe = build_pipeline("automatic-speech-recognition", path, device, dtype)
        extractor = getattr(pipe, "feature_extractor", None)
        self.sample_rate = int(getattr(extractor, "sampling_rate", 16000))
        return pipe

    def _generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        model = self.loaded.model
        is_whisper = getattr(model.config, "model_type", "") == "whisper"
        # English-only Whisper checkpoints (".en") refuse a language argument.
        multilingual = getattr(model.generation_config, "is_multilingual", True)
        if self.language and is_whisper and multilingual:
            kwargs["language"] = self.language
        if self.max_new_tokens is not None:
            kwargs["max_new_tokens"] = self.max_new_tokens
        return kwargs

    def transcribe(self, frame: AudioFrame, final: bool = True) -> Transcript | None:
        """Transcribes one frame (any rate) as one :class:`Transcript`, or None."""
        audio = resample_whole(frame, self.sample_rate)
        return self._transcribe(
            audio, frame.timestamp, frame.timestamp + frame.duration, final
        )

    def _transcribe(
        self, audio: AudioFrame, start: float, end: float, final: bool
    ) -> Transcript | None:
        if audio.num_samples == 0:
            return None
        kwargs = self._generate_kwargs()
        call: dict[str, Any] = {"generate_kwargs": kwargs} if kwargs else {}
        result = self.loaded(to_pipeline_input(audio), **call)
        text = str(
            result.get("text", "") if isinstance(result, dict) else result
        ).strip()
        if not text:
            return None
        return Transcript(text, start, end, final=final, language=self.language)

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        if self.mode == "segments":
            return self.transcribe(frame)
        if self._resampler is None:
            self._resampler = Resample(target_rate=self.sample_rate)
        outputs = Outputs()
        for part in iter_outputs(self._resampler.process(frame)):
            outputs.extend(self._add(part))
        return outputs

    def _add(self, part: AudioFrame) -> list[Transcript]:
        """Adds resampled audio to the window; returns the transcripts it completes."""
        out: list[Transcript] = []
        mono = part.to_mono().samples[0]
        rate = self.sample_rate
        full, hop = round(self.window_s * rate), round(self.hop_s * rate)
        pos = 0
        while pos < mono.size:
            if not self._window_len:
                self._window_start = part.timestamp + pos / rate
            take = min(mono.size - pos, full - self._window_len, hop - self._since_hop)
            self._window.append(mono[pos : pos + take])
            self._window_len += take
            self._since_hop += take
            pos += take
            if self._window_len >= full:
                out.extend(self._emit(final=True))
            elif self._since_hop >= hop:
                out.extend(self._emit(final=False))
        return out

    def _emit(self, final: bool) -> list[Transcript]:
        samples = np.concatenate(self._window)
        start = self._window_start
        end = start + samples.size / self.sample_rate
        self._since_hop = 0
        if final:
            self._window, self._window_len = [], 0
        else:
            self._window = [samples]
        result = self._transcribe(
            AudioFrame(samples, self.sample_rate, start), start, end, final
        )
        return [result] if result is not None else []

    def flush(self) -> Any:
        if self.mode == "segments" or self._resampler is None:
            self._reset()
            return None
        outputs = Outputs()
        for part in iter_outputs(self._resampler.flush()):
            outputs.extend(self._add(part))
        if self._window_len:
            outputs.extend(self._emit(final=True))
        self._reset()
        return outputs
