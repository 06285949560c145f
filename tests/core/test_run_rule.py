"""The run() rule: one output per input on every engine, and whole-clip node calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.core import rust_engine

ENGINES = [
    "python",
    pytest.param(
        "rust",
        marks=[
            pytest.mark.rust,
            pytest.mark.skipif(
                not rust_engine.available(),
                reason="Rust runtime not built (run 'make runtime')",
            ),
        ],
    ),
]


def _second_at_48k() -> rm.AudioFrame:
    t = np.arange(48000) / 48000
    return rm.AudioFrame((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 48000)


@rm.register_node
class RunRuleTwice(rm.Node):
    """Emits each input twice: two separate items."""

    emits = "items"

    def process(self, data: Any) -> Any:
        return rm.Outputs([data, data])


@pytest.mark.parametrize("engine", ENGINES)
def test_run_joins_a_resampled_clip_and_its_tail(engine: str) -> None:
    clip = _second_at_48k()
    pipeline = rm.Pipeline([nodes.Resample(16000), nodes.Gain(db=-6)])
    out = pipeline.run(clip, engine=engine)
    assert isinstance(out, rm.AudioFrame)
    # soxr returns exactly 16000; the Rust resampler within its documented delay.
    assert abs(out.num_samples - 16000) <= 32
    assert out.sample_rate == 16000 and out.timestamp == 0.0
    # collect() still returns every frame as emitted (output, then flushed tail).
    frames = pipeline.collect([clip], engine=engine)
    assert len(frames) == 2
    assert sum(f.num_samples for f in frames) == out.num_samples
    np.testing.assert_array_equal(
        out.samples, rm.AudioFrame.concatenate(frames).samples
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_run_returns_the_list_for_separate_items(engine: str) -> None:
    clip = _second_at_48k()
    mel = rm.Pipeline([nodes.Resample(16000), nodes.MelSpectrogram()])
    specs = mel.run(clip, engine=engine)
    assert isinstance(specs, list) and len(specs) == 2  # not audio: not joined
    assert all(isinstance(s, nodes.Spectrogram) for s in specs)
    twice = rm.Pipeline([RunRuleTwice(), nodes.Gain(db=0.0)]).run(clip, engine=engine)
    assert isinstance(twice, list) and len(twice) == 2


def test_run_returns_rebuffer_chunks_and_vad_segments_as_lists() -> None:
    clip = _second_at_48k()
    chunks = rm.Pipeline([nodes.Rebuffer(250.0)]).run(clip)
    assert isinstance(chunks, list) and [c.num_samples for c in chunks] == [12000] * 4
    x = np.zeros(32000, dtype=np.float32)
    x[3200:9600] = 0.5 * np.sin(np.arange(6400) * 0.3)
    x[22400:28800] = 0.5 * np.sin(np.arange(6400) * 0.3)
    segments = rm.Pipeline([nodes.EnergyVAD(hangover_ms=50.0)]).run(
        rm.AudioFrame(x, 16000)
    )
    assert isinstance(segments, list) and len(segments) == 2


def test_run_single_and_empty_outputs_are_unchanged() -> None:
    assert rm.Pipeline([nodes.Passthrough()]).run("text") == "text"
    assert rm.Pipeline([nodes.Lambda(fn=lambda _: None)]).run(1) is None
    assert rm.Pipeline([nodes.Buffer(2)]).run(7) == [7]  # one output: a list value


async def test_arun_follows_the_same_rule() -> None:
    out = await rm.Pipeline([nodes.Resample(16000)]).arun(
        _second_at_48k(), engine="python"
    )
    assert isinstance(out, rm.AudioFrame) and out.num_samples == 16000


def test_a_direct_call_processes_a_whole_clip_including_the_tail() -> None:
    clip = _second_at_48k()
    out = nodes.Resample(16000)(clip)
    assert isinstance(out, rm.AudioFrame) and out.num_samples == 16000
    node = nodes.Resample(16000)
    node(clip)
    again = node(clip)  # the call flushed: the second clip starts afresh
    assert again.num_samples == 16000 and again.timestamp == 0.0
    assert isinstance(RunRuleTwice()(clip), rm.Outputs)
    assert nodes.MelSpectrogram()(out).values.ndim == 2
