"""SpeechToText on a tiny Whisper: segments, rolling window, resampling, timestamps."""

from __future__ import annotations

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.nodes.ml import SpeechToText, Transcript


def _noise(seconds: float, rate: int, timestamp: float = 0.0) -> rm.AudioFrame:
    rng = np.random.default_rng(7)
    samples = (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32)
    return rm.AudioFrame(samples, rate, timestamp)


def test_segment_at_48k_gives_one_final_transcript(tiny_whisper: str) -> None:
    stt = SpeechToText(tiny_whisper, language="en", device="cpu", max_new_tokens=4)
    segment = _noise(1.0, 48000, timestamp=2.5)  # resampled to the model's 16 kHz
    transcript = stt(segment)
    assert isinstance(transcript, Transcript)
    assert (transcript.start, transcript.end) == (2.5, 3.5)
    assert transcript.final and transcript.language == "en"
    assert str(transcript) == transcript.text and transcript.text
    assert stt.sample_rate == 16000
    assert stt.model_info()["device"] == "cpu"


def test_after_energy_vad_in_a_pipeline(tiny_whisper: str) -> None:
    silence = np.zeros(8000, dtype=np.float32)
    loud = _noise(0.5, 16000).samples[0] * 3
    stream = np.concatenate([silence, loud, silence, silence, loud, silence])
    frames = list(rm.AudioFrame(stream, 16000).chunks(20))
    pipeline = rm.Pipeline(
        [
            nodes.EnergyVAD(threshold_db=-30),
            SpeechToText(tiny_whisper, device="cpu", max_new_tokens=3),
        ]
    )
    out = pipeline.collect(frames)
    assert [type(t) for t in out] == [Transcript, Transcript]
    assert out[0].start == pytest.approx(0.5, abs=0.021)
    assert out[1].start == pytest.approx(2.0, abs=0.021)
    assert all(t.end - t.start == pytest.approx(0.5, abs=0.021) for t in out)


def test_window_mode_emits_partials_then_finals(tiny_whisper: str) -> None:
    stt = SpeechToText(
        tiny_whisper, mode="window", window_s=1.0, hop_s=0.5, max_new_tokens=2
    )
    frames = list(_noise(1.5, 16000, timestamp=10.0).chunks(20))
    out = rm.Pipeline([stt]).collect(frames)
    spans = [(round(t.start, 3), round(t.end, 3), t.final) for t in out]
    assert spans == [
        (10.0, 10.5, False),
        (10.0, 11.0, True),
        (11.0, 11.5, False),
        (11.0, 11.5, True),  # flush: the last window, final
    ]


def test_bad_arguments_and_input() -> None:
    with pytest.raises(ValueError, match="mode"):
        SpeechToText("x/y", mode="stream")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hop_s"):
        SpeechToText("x/y", mode="window", window_s=1.0, hop_s=2.0)


def test_text_input_is_refused_by_name(tiny_whisper: str) -> None:
    with pytest.raises(TypeError, match="SpeechToText expects an AudioFrame"):
        SpeechToText(tiny_whisper, device="cpu")("hello")
