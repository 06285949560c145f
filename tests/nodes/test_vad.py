"""EnergyVAD and TrimSilence on synthetic tone bursts and on the shipped speech clip."""

from __future__ import annotations

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.core.node import iter_outputs
from remotemedia.nodes import AudioFileSource, EnergyVAD, Resample, TrimSilence

RATE = 16000
WINDOW_S = 0.02


def _bursts(
    spans: list[tuple[float, float]], seconds: float, channels: int = 1, t0: float = 0.0
) -> rm.AudioFrame:
    """Quiet noise (-70 dBFS) with 600 Hz tone bursts (-9 dBFS) over ``spans``."""
    rng = np.random.default_rng(5)
    n = int(seconds * RATE)
    x = rng.normal(0.0, 10 ** (-70 / 20), n)
    t = np.arange(n) / RATE
    for start, end in spans:
        part = (t >= start) & (t < end)
        x[part] += 0.5 * np.sin(2 * np.pi * 600 * t[part])
    samples = np.tile(x, (channels, 1)).astype(np.float32)
    return rm.AudioFrame(samples, RATE, timestamp=t0)


def _run(node: EnergyVAD, frame: rm.AudioFrame, ms: float) -> list[rm.AudioFrame]:
    out: list[rm.AudioFrame] = []
    for chunk in frame.chunks(ms):
        out.extend(iter_outputs(node.process(chunk)))
    out.extend(iter_outputs(node.flush()))
    return out


def _spans(segments: list[rm.AudioFrame]) -> list[tuple[float, float]]:
    return [(s.timestamp, s.timestamp + s.duration) for s in segments]


# -- EnergyVAD ----------------------------------------------------------------------
def test_vad_finds_bursts_at_the_right_times() -> None:
    signal = _bursts([(0.3, 0.8), (1.5, 1.72), (2.2, 2.25)], 3.0)
    segments = _run(EnergyVAD(), signal, ms=7.0)  # frames that straddle windows
    spans = _spans(segments)
    # The 50 ms burst is under min_speech_ms and is dropped.
    assert len(spans) == 2
    for (start, end), (exp_start, exp_end) in zip(spans, [(0.3, 0.8), (1.5, 1.72)]):
        assert abs(start - exp_start) <= WINDOW_S
        assert abs(end - exp_end) <= WINDOW_S
    # Each segment carries the audio of its span.
    first = segments[0]
    index = round(first.timestamp * RATE)
    np.testing.assert_array_equal(
        first.samples, signal.samples[:, index : index + first.num_samples]
    )


def test_vad_result_does_not_depend_on_input_framing() -> None:
    signal = _bursts([(0.31, 0.62), (1.0, 1.4)], 2.0)
    expected = _run(EnergyVAD(), signal, ms=20.0)
    assert _run(EnergyVAD(), signal, ms=3.0) == expected
    assert _run(EnergyVAD(), signal, ms=2000.0) == expected  # one input


def test_vad_emits_a_segment_as_soon_as_it_closes() -> None:
    signal = _bursts([(0.2, 0.5), (1.5, 1.95)], 2.0)
    node = EnergyVAD(hangover_ms=100.0)
    seen_at = []
    for chunk in signal.chunks(20.0):
        for segment in iter_outputs(node.process(chunk)):
            seen_at.append((chunk.timestamp, segment))
    assert len(seen_at) == 1  # the second one is still open at the end
    emitted_at, segment = seen_at[0]
    assert abs(emitted_at - (0.5 + 0.1)) <= 2 * WINDOW_S
    tail = node.flush()
    assert isinstance(tail, rm.AudioFrame) and abs(tail.timestamp - 1.5) <= WINDOW_S
    assert node.flush() is None  # state was reset


def test_vad_hangover_bridges_short_pauses() -> None:
    signal = _bursts([(0.3, 0.5), (0.6, 0.8)], 1.5)
    assert len(_run(EnergyVAD(hangover_ms=200.0), signal, 20.0)) == 1
    split = _run(EnergyVAD(hangover_ms=40.0), signal, 20.0)
    assert len(split) == 2
    # Trailing silence is excluded: the first segment ends where its tone ends.
    assert abs(split[0].timestamp + split[0].duration - 0.5) <= WINDOW_S


def test_vad_pre_roll_timestamps_and_channels() -> None:
    signal = _bursts([(0.5, 0.9)], 1.5, channels=2, t0=10.0)
    plain = _run(EnergyVAD(), signal, 20.0)
    rolled = _run(EnergyVAD(pre_roll_ms=100.0), signal, 20.0)
    assert len(plain) == len(rolled) == 1
    assert abs(plain[0].timestamp - 10.5) <= WINDOW_S
    assert abs((plain[0].timestamp - rolled[0].timestamp) - 0.1) < 1e-9
    assert rolled[0].num_samples == plain[0].num_samples + 1600
    assert rolled[0].channels == 2
    # Pre-roll never reaches before the stream start.
    early = _run(EnergyVAD(pre_roll_ms=500.0), _bursts([(0.1, 0.5)], 1.0), 20.0)
    assert early[0].timestamp == 0.0


def test_vad_threshold_controls_detection() -> None:
    signal = _bursts([(0.3, 0.8)], 1.0)
    assert _run(EnergyVAD(threshold_db=-5.0), signal, 20.0) == []
    assert len(_run(EnergyVAD(threshold_db=-20.0), signal, 20.0)) == 1


def test_vad_flushes_on_format_change() -> None:
    node = EnergyVAD()
    first = _bursts([(0.0, 0.5)], 0.5)
    assert iter_outputs(node.process(first)) == []  # still open
    out = iter_outputs(
        node.process(rm.AudioFrame(np.zeros(800, dtype=np.float32), 8000))
    )
    assert len(out) == 1 and out[0].sample_rate == RATE


def test_vad_splits_the_shipped_speech_clip() -> None:
    pipeline = rm.Pipeline(
        [AudioFileSource(rm.data.speech(), sample_rate=16000), EnergyVAD()]
    )
    segments = pipeline.collect()
    assert len(segments) >= 2
    starts = [s.timestamp for s in segments]
    assert starts == sorted(starts)
    assert all(s.duration >= 0.1 and s.sample_rate == 16000 for s in segments)


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_ms", 0), ("threshold_db", float("nan")), ("hangover_ms", -1.0),
     ("min_speech_ms", "long"), ("pre_roll_ms", -5)],
)  # fmt: skip
def test_vad_rejects_bad_parameters(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        EnergyVAD(**{field: value})


def test_vad_rejects_non_audio_and_tiny_windows() -> None:
    with pytest.raises(TypeError, match="AudioFrame"):
        EnergyVAD()("hello")
    with pytest.raises(ValueError, match="window_ms"):
        EnergyVAD(window_ms=0.01)(rm.AudioFrame(np.zeros(80, dtype=np.float32), 8000))


# -- TrimSilence ----------------------------------------------------------------------
def test_trim_silence_cuts_both_ends() -> None:
    signal = _bursts([(0.4, 0.7)], 1.0, t0=3.0)
    out = TrimSilence()(signal)
    assert abs(out.timestamp - 3.4) <= WINDOW_S
    assert abs(out.duration - 0.3) <= 2 * WINDOW_S
    start = round((out.timestamp - 3.0) * RATE)
    assert start % 320 == 0  # cut on window boundaries
    np.testing.assert_array_equal(
        out.samples, signal.samples[:, start : start + out.num_samples]
    )


def test_trim_silence_keeps_loud_input_and_drops_silence() -> None:
    loud = _bursts([(0.0, 1.0)], 1.0)
    assert TrimSilence()(loud) is loud
    assert TrimSilence()(_bursts([], 0.5)) is None
    # A loud partial window at the end is kept (measured over its own samples).
    x = np.zeros(330, dtype=np.float32)
    x[325:] = 0.5
    out = TrimSilence()(rm.AudioFrame(x, RATE))
    assert out.num_samples == 10 and out.timestamp == 320 / RATE


def test_trim_silence_on_the_shipped_clip_and_errors() -> None:
    clip = rm.AudioFrame.concatenate(list(AudioFileSource(rm.data.speech())))
    out = TrimSilence()(clip)
    assert 0.0 < out.timestamp < 0.3 and out.duration < clip.duration - 0.2
    with pytest.raises(ValueError, match="window_ms"):
        TrimSilence(window_ms=-1)
    with pytest.raises(TypeError, match="AudioFrame"):
        TrimSilence()(np.zeros(4))


def test_vad_nodes_round_trip_through_a_manifest() -> None:
    pipeline = rm.Pipeline(
        [Resample(16000), EnergyVAD(threshold_db=-35.0, pre_roll_ms=40.0),
         TrimSilence(threshold_db=-50.0, window_ms=10.0)]
    )  # fmt: skip
    manifest = pipeline.to_manifest()
    rebuilt = rm.Pipeline.from_manifest(manifest)
    assert rebuilt.to_manifest() == manifest
    assert rebuilt["EnergyVAD"].config == {
        "threshold_db": -35.0, "window_ms": 20.0, "min_speech_ms": 100.0,
        "hangover_ms": 200.0, "pre_roll_ms": 40.0,
    }  # fmt: skip
    signal = _bursts([(0.3, 0.8)], 1.2)
    assert rebuilt.collect([signal]) == pipeline.collect([signal])
