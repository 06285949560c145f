"""Clip-level nodes in streams: TrimSilence and Normalize gather each clip; Join."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.core import rust_engine
from remotemedia.core.node import iter_outputs
from remotemedia.nodes import (
    AudioFileSink,
    AudioFileSource,
    Gain,
    Join,
    Normalize,
    TrimSilence,
    read_audio,
)
from remotemedia.nodes.audio import integrated_loudness
from remotemedia.nodes.clip import ClipBuffer, ClipNode


def _speech() -> rm.AudioFrame:
    return read_audio(rm.data.speech())


def _frame_levels(clip: rm.AudioFrame, ms: float = 20.0) -> np.ndarray:
    """RMS level in dBFS of each ``ms`` piece of ``clip``."""
    return np.array(
        [
            10 * np.log10(np.mean(c.samples.astype(np.float64) ** 2) + 1e-12)
            for c in clip.chunks(ms)
        ]
    )


def _bursts(spans: list[tuple[float, float]], seconds: float, rate: int = 16000):
    """Mono noise bursts at ``spans`` (seconds) in near silence."""
    rng = np.random.default_rng(7)
    x = 1e-4 * rng.standard_normal(int(seconds * rate))
    for start, end in spans:
        a, b = int(start * rate), int(end * rate)
        x[a:b] = 0.3 * rng.standard_normal(b - a)
    return rm.AudioFrame(x.astype(np.float32), rate)


def _issue_pipeline(target: Path) -> rm.Pipeline:
    return rm.Pipeline(
        [
            AudioFileSource(str(rm.data.speech())),
            TrimSilence(),
            Normalize(lufs=-23.0),
            AudioFileSink(str(target)),
        ]
    )


def _check_levelled_clip(out: list, whole: rm.AudioFrame) -> None:
    assert len(out) == 1, [o.describe() for o in out]
    (clip,) = out
    # The whole clip trimmed once (about 4.3 s), not every 20 ms frame trimmed.
    expected = TrimSilence()(whole)
    assert clip.num_samples == expected.num_samples
    assert clip.duration == pytest.approx(4.3, abs=0.05)
    assert clip.timestamp == pytest.approx(expected.timestamp)
    # One gain for the whole clip: the clip is at -23 LUFS and its dynamics stay.
    assert integrated_loudness(clip) == pytest.approx(-23.0, abs=1e-3)
    np.testing.assert_allclose(
        clip.samples, Normalize(lufs=-23.0)(expected).samples, rtol=0, atol=1e-7
    )
    levels = _frame_levels(clip)
    assert levels.max() - np.median(levels) > 6.0  # loud frames stand out
    assert np.std(levels) > 6.0


@pytest.mark.parametrize("engine", ["python", "rust"])
def test_trim_then_normalize_a_file_stream_through_collect(
    tmp_path: Path, engine: str
) -> None:
    if engine == "rust" and not rust_engine.available():
        pytest.skip("Rust runtime not built: only the Python engine runs here")
    target = tmp_path / "levelled.wav"
    out = _issue_pipeline(target).collect(engine=engine)
    _check_levelled_clip(out, _speech())
    written = read_audio(target)
    assert written.num_samples == out[0].num_samples
    np.testing.assert_array_equal(written.samples, out[0].samples)


def test_trim_then_normalize_a_file_stream_through_stream(tmp_path: Path) -> None:
    pipeline = _issue_pipeline(tmp_path / "levelled.wav")

    async def gather() -> list:
        return [item async for item in pipeline.stream()]

    _check_levelled_clip(asyncio.run(gather()), _speech())


@pytest.mark.parametrize(
    "node",
    [TrimSilence(), TrimSilence(threshold_db=-30, window_ms=7), Normalize()],
    ids=["trim", "trim-7ms", "peak"],
)
@pytest.mark.parametrize("ms", [20.0, 3.0, 1000.0])
def test_stream_in_chunks_equals_one_whole_clip(node: ClipNode, ms: float) -> None:
    clip = _bursts([(0.3, 0.6), (0.9, 1.2)], 1.6)
    whole = node(clip)
    out = rm.Pipeline([node]).collect(clip.chunks(ms))
    assert len(out) == 1
    np.testing.assert_array_equal(out[0].samples, whole.samples)
    assert out[0].timestamp == pytest.approx(whole.timestamp, abs=1e-12)


def test_a_whole_clip_gives_exactly_what_a_direct_call_gives() -> None:
    clip = _bursts([(0.2, 0.5)], 1.0)
    assert rm.Pipeline([TrimSilence()]).run(clip) == TrimSilence()(clip)
    silent = rm.AudioFrame(np.zeros((1, 800), dtype=np.float32), 16000)
    assert rm.Pipeline([Normalize(lufs=-23.0)]).collect([silent])[0] is silent
    assert rm.Pipeline([TrimSilence()]).collect([silent]) == []


def test_separate_clips_stay_separate() -> None:
    # Two clips that both start at t=0 (two files, two takes) and a VAD-like
    # segment later in time: three clips, each levelled on its own.
    quiet = _bursts([(0.1, 0.4)], 0.5).with_samples(
        _bursts([(0.1, 0.4)], 0.5).samples * np.float32(0.1)
    )
    loud = _bursts([(0.2, 0.3)], 0.5)
    later = rm.AudioFrame(loud.samples.copy(), 16000, timestamp=3.0)
    node = Normalize(peak_db=-3.0)
    out = rm.Pipeline([node]).collect([quiet, loud, later])
    assert [o.timestamp for o in out] == [0.0, 0.0, 3.0]
    for got, clip in zip(out, [quiet, loud, later]):
        np.testing.assert_array_equal(
            got.samples, Normalize(peak_db=-3.0)(clip).samples
        )


def test_a_gap_or_a_format_change_ends_a_clip() -> None:
    clip = _bursts([(0.1, 0.2)], 0.4)
    first, second = list(clip.chunks(200.0))
    gap = rm.AudioFrame(second.samples, 16000, second.timestamp + 0.01)
    other_rate = rm.AudioFrame(second.samples, 8000, second.timestamp)
    for follower in (gap, other_rate):
        node = TrimSilence()
        emitted = iter_outputs(node.process(first))
        assert emitted == []  # the clip is still arriving
        ended = iter_outputs(node.process(follower))
        assert len(ended) == 1 and ended[0] == TrimSilence()(first)
    buffer = ClipBuffer()
    buffer.add(first)
    # Within half a sample counts as continuing (float timestamps).
    assert buffer.continues(rm.AudioFrame(second.samples, 16000, 0.2 + 0.4 / 16000))
    assert not buffer.continues(rm.AudioFrame(second.samples, 16000, 0.2 + 0.6 / 16000))


def test_clip_level_nodes_declare_it() -> None:
    assert TrimSilence.clip_level and Normalize.clip_level
    assert not getattr(Gain, "clip_level", False)


def test_native_nodes_gather_clips_like_python() -> None:
    if not rust_engine.available():
        pytest.skip("Rust runtime not built: only the Python engine runs here")
    clip = _bursts([(0.3, 0.6), (0.9, 1.2)], 1.6)
    later = rm.AudioFrame(clip.samples * np.float32(0.5), 16000, timestamp=5.0)
    inputs = list(clip.chunks(20.0)) + list(later.chunks(20.0))
    for node in (TrimSilence(), Normalize(lufs=-23.0), Normalize(peak_db=-1.0)):
        pipeline = rm.Pipeline([node])
        python = pipeline.collect(inputs, engine="python")
        rust = rust_engine.run_manifest(pipeline.to_manifest(), inputs)
        assert len(python) == len(rust) == 2
        for a, b in zip(python, rust):
            assert b.timestamp == pytest.approx(a.timestamp, abs=1e-9)
            np.testing.assert_allclose(b.samples, a.samples, rtol=0, atol=1e-6)


# -- Join -----------------------------------------------------------------------------
def test_join_makes_one_clip_from_a_stream() -> None:
    clip = _speech()
    out = rm.Pipeline([AudioFileSource(str(rm.data.speech())), Join()]).collect()
    assert len(out) == 1
    np.testing.assert_array_equal(out[0].samples, clip.samples)
    assert out[0].timestamp == 0.0


def test_join_splits_on_format_and_max_seconds() -> None:
    a = rm.AudioFrame(np.ones((1, 160), np.float32), 16000)
    b = rm.AudioFrame(np.ones((1, 80), np.float32), 8000, timestamp=0.5)
    out = rm.Pipeline([Join()]).collect([a, a, b])
    assert [(o.sample_rate, o.num_samples) for o in out] == [(16000, 320), (8000, 80)]
    out = rm.Pipeline([Join(max_seconds=0.025)]).collect([a] * 7)
    assert [o.num_samples for o in out] == [480, 480, 160]
    assert Join().process(a) == [] and Join()(a) is a
    with pytest.raises(ValueError, match="Join: max_seconds"):
        Join(max_seconds=0)
    with pytest.raises(TypeError, match="Join expects an AudioFrame"):
        Join().process("text")


def test_join_is_registered_and_round_trips() -> None:
    assert "Join" in [info.name for info in rm.list_nodes()]
    pipeline = rm.Pipeline([Join(max_seconds=2.5)])
    again = rm.Pipeline.from_manifest(pipeline.to_manifest())
    assert isinstance(again.nodes[0], Join) and again.nodes[0].max_seconds == 2.5
