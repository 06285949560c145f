"""The model nodes chained: speech -> transcript -> reply -> speech, tiny models."""

from __future__ import annotations

import numpy as np
import torch

import remotemedia as rm
from remotemedia import nodes


def test_speech_in_speech_out(
    tiny_whisper: str, tiny_qwen3: str, tiny_vits: str
) -> None:
    torch.manual_seed(0)  # the reply is sampled: the same one every run
    rng = np.random.default_rng(5)
    silence = np.zeros(8000, dtype=np.float32)
    loud = (0.3 * rng.standard_normal(8000)).astype(np.float32)
    stream = np.concatenate([silence, loud, silence, silence])
    chat = nodes.TextGenerator(
        tiny_qwen3, max_new_tokens=12, chunk="sentence", temperature=1.0
    )
    pipeline = rm.Pipeline(
        [
            nodes.EnergyVAD(threshold_db=-30),
            nodes.SpeechToText(tiny_whisper, max_new_tokens=3),
            chat,
            nodes.TextToSpeech(tiny_vits, chunk_s=0.2),
        ]
    )
    out = pipeline.collect(list(rm.AudioFrame(stream, 16000).chunks(20)))
    assert out and all(isinstance(f, rm.AudioFrame) for f in out)
    assert [m["role"] for m in chat.history] == ["user", "assistant"]
