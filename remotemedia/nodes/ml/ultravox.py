"""``Ultravox``: a speech-in, text-out language model (transformers remote code)."""

from __future__ import annotations

import logging
from typing import Any

from remotemedia.core.frames import AudioFrame
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number, require_audio
from remotemedia.nodes.ml.base import ModelNode
from remotemedia.nodes.ml.transformers_pipeline import build_pipeline, resample_whole

__all__ = ["Ultravox", "ULTRAVOX_RATE"]

logger = logging.getLogger(__name__)

#: The sample rate Ultravox's audio encoder (Whisper) takes.
ULTRAVOX_RATE = 16000


@register_node
class Ultravox(ModelNode):
    """Answers speech directly: each audio segment is a user turn, the reply is text.

    Ultravox (fixie-ai) joins a Whisper encoder to a Llama/Gemma language model, so
    one model replaces ``SpeechToText -> TextGenerator``. It runs through the
    transformers pipeline with ``trust_remote_code=True`` (its code ships in the
    model repository: only use repositories you trust). The conversation is node
    state (``history``); :meth:`reset` clears it. Segments are resampled to
    16 kHz and mixed to mono.

    Example:
        >>> rm.Pipeline([nodes.AudioFileSource(path), nodes.EnergyVAD(),
        ...              nodes.Ultravox("fixie-ai/ultravox-v0_5-llama-3_2-1b")])

    Args:
        model: An Ultravox model id or folder.
        system_prompt: Instructions put first in the conversation.
        max_new_tokens: Most tokens generated per reply.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        dtype: None (float16 on CUDA, float32 elsewhere) or a dtype name.
    """

    purpose = "speech language model"

    def __init__(
        self,
        model: str = "fixie-ai/ultravox-v0_5-llama-3_2-1b",
        system_prompt: str | None = None,
        max_new_tokens: int = 128,
        device: str = "auto",
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(model, device=device, dtype=dtype, name=name)
        check_number(
            "Ultravox", "max_new_tokens", max_new_tokens, positive=True, integer=True
        )
        self.system_prompt = system_prompt
        self.max_new_tokens = int(max_new_tokens)
        self.history: list[dict[str, str]] = []
        self.reset()

    def reset(self) -> None:
        """Forgets the conversation (keeps the system prompt)."""
        self.history = (
            [{"role": "system", "content": self.system_prompt}]
            if self.system_prompt
            else []
        )

    def load(self, path: str, device: str, dtype: Any) -> Any:
        return build_pipeline(None, path, device, dtype, trust_remote_code=True)

    def pipeline_input(self, frame: AudioFrame) -> dict[str, Any]:
        """The pipeline's input for one segment: 16 kHz mono audio and the turns."""
        audio = resample_whole(frame.to_mono(), ULTRAVOX_RATE)
        return {
            "audio": audio.samples[0],
            "turns": list(self.history),
            "sampling_rate": ULTRAVOX_RATE,
        }

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        inputs = self.pipeline_input(frame)
        reply = self.loaded(inputs, max_new_tokens=self.max_new_tokens)
        text = str(reply if not isinstance(reply, dict) else reply.get("text", ""))
        # Ultravox marks the audio's place in a user turn with <|audio|>.
        self.history.append({"role": "user", "content": "<|audio|>"})
        self.history.append({"role": "assistant", "content": text.strip()})
        return text.strip() or None
