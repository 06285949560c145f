"""SileroVAD on the weights shipped by silero-vad (onnxruntime, no download)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes

pytest.importorskip("onnxruntime", reason="the ml extra (onnxruntime) is not installed")
pytest.importorskip("silero_vad", reason="the ml extra (silero-vad) is not installed")

from remotemedia.nodes.ml.silero import SileroVAD  # noqa: E402


@pytest.fixture(scope="module")
def clip() -> list[rm.AudioFrame]:
    return list(nodes.AudioFileSource(rm.data.speech()))


def _spans(segments: list[rm.AudioFrame]) -> list[tuple[float, float]]:
    return [(s.timestamp, s.timestamp + s.duration) for s in segments]


@pytest.mark.parametrize("rate", [48000, 16000, 8000, 44100])
def test_finds_the_two_utterances_of_the_clip(
    clip: list[rm.AudioFrame], rate: int
) -> None:
    frames = rm.Pipeline([nodes.Resample(rate)]).collect(clip)
    segments = rm.Pipeline([SileroVAD()]).collect(frames)
    assert len(segments) == 2
    energy = rm.Pipeline([nodes.EnergyVAD()]).collect(clip)
    for seg, ref in zip(_spans(segments), _spans(energy)):
        # The same utterances as the energy detector finds on this clean clip.
        assert abs(seg[0] - ref[0]) < 0.15 and abs(seg[1] - ref[1]) < 0.3
    for seg in segments:
        assert isinstance(seg, rm.AudioFrame)
        assert seg.sample_rate == rate and seg.channels == frames[0].channels
    assert _spans(segments)[0][1] <= _spans(segments)[1][0]


def test_frame_size_does_not_change_the_segments(clip: list[rm.AudioFrame]) -> None:
    small = rm.Pipeline([SileroVAD()]).collect(clip)
    whole = np.concatenate([f.samples for f in clip], axis=1)
    big = rm.Pipeline([SileroVAD()]).collect([rm.AudioFrame(whole, 48000)])
    assert np.allclose(_spans(small), _spans(big))
    for a, b in zip(small, big):
        np.testing.assert_array_equal(a.samples, b.samples)


def test_silence_and_noise_are_not_speech() -> None:
    rng = np.random.default_rng(0)
    quiet = np.zeros((1, 32000), np.float32)
    noise = (0.01 * rng.standard_normal((1, 32000))).astype(np.float32)
    for samples in (quiet, noise):
        assert rm.Pipeline([SileroVAD()]).collect([rm.AudioFrame(samples, 16000)]) == []


def test_interrupts_precede_each_segment(clip: list[rm.AudioFrame]) -> None:
    out = rm.Pipeline([SileroVAD(interrupts=True)]).collect(clip)
    kinds = [type(item).__name__ for item in out]
    assert kinds == ["Interrupt", "AudioFrame", "Interrupt", "AudioFrame"]
    assert out[0].reason == "speech"
    assert out[0].timestamp <= out[1].timestamp + 0.05


def test_bad_parameters_and_input() -> None:
    for kwargs in ({"threshold": 1.5}, {"threshold": -0.1}, {"min_silence_ms": -1}):
        with pytest.raises(ValueError, match="SileroVAD"):
            SileroVAD(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SileroVAD"):
        SileroVAD()("not audio")


def test_pickles_without_its_session_and_reloads(clip: list[rm.AudioFrame]) -> None:
    vad = SileroVAD()
    vad.initialize()
    copy = pickle.loads(pickle.dumps(vad))
    assert copy._session is None
    assert len(rm.Pipeline([copy]).collect(clip)) == 2
    assert SileroVAD().config == {
        "threshold": 0.5,
        "min_silence_ms": 300.0,
        "min_speech_ms": 250.0,
        "pre_roll_ms": 30.0,
        "interrupts": False,
    }


def test_runs_without_torch() -> None:
    code = (
        "import sys, remotemedia as rm\n"
        "from remotemedia import nodes\n"
        "from remotemedia.nodes.ml.silero import SileroVAD\n"
        "segs = rm.Pipeline([nodes.AudioFileSource(rm.data.speech()), SileroVAD()])"
        ".collect()\n"
        "print(len(segs), 'torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["2", "False"], done.stderr[-2000:]
