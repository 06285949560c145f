"""The Rust engine end to end: parity with the Python engine, Python nodes inside
Rust-run manifests, streaming, errors, concurrency and the module's API."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.core import rust_engine

runtime = pytest.importorskip(
    "remotemedia._runtime",
    reason="Rust runtime not built (run 'make runtime' or runtime/build.sh)",
)


@rm.register_node
class RtInvert(rm.Node):
    """Negates audio samples (a Python node for the runtime tests)."""

    def process(self, data: Any) -> Any:
        return data.with_samples(-data.samples)


@rm.register_node
class RtDescribe(rm.Node):
    """Turns audio into text (a Python node producing a non-audio value)."""

    def process(self, data: Any) -> Any:
        return f"{data.num_samples}@{data.sample_rate}"


@rm.register_node
class RtAsyncDouble(rm.Node):
    """Async node: doubles audio after awaiting."""

    async def aprocess(self, data: Any) -> Any:
        await asyncio.sleep(0)
        return data.with_samples(data.samples * 2)


@rm.register_node
class RtFails(rm.Node):
    """Raises on every input whose first sample is negative."""

    def process(self, data: Any) -> Any:
        if data.samples[0, 0] < 0:
            raise RuntimeError("negative start")
        return data


@rm.register_node
class RtSplit(rm.Node):
    """Emits every frame twice (several outputs)."""

    emits = "items"  # two separate outputs, not one signal: run() returns both

    def process(self, data: Any) -> Any:
        return rm.Outputs([data, data])


def bursts(rate: int = 16000, seconds: float = 2.0, seed: int = 3) -> rm.AudioFrame:
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    x = 1e-4 * rng.standard_normal(n)
    for start in (0.2, 1.1):
        a, b = min(n, int(start * rate)), min(n, int((start + 0.5) * rate))
        x[a:b] = 0.3 * rng.standard_normal(b - a)
    return rm.AudioFrame(x.astype(np.float32), rate)


def frames(clip: rm.AudioFrame, ms: float = 20.0) -> list[rm.AudioFrame]:
    return [
        rm.AudioFrame(np.ascontiguousarray(c.samples), c.sample_rate, c.timestamp)
        for c in clip.chunks(ms)
    ]


def same(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if isinstance(a, rm.AudioFrame):
        assert a.sample_rate == b.sample_rate
        assert a.timestamp == pytest.approx(b.timestamp)
        np.testing.assert_allclose(a.samples, b.samples, atol=1e-4)
    elif isinstance(a, nodes.Spectrogram):
        assert (a.kind, a.sample_rate, a.hop_length) == (
            b.kind,
            b.sample_rate,
            b.hop_length,
        )
        np.testing.assert_allclose(a.values, b.values, atol=0.01)
    else:
        assert a == b


def test_module_api() -> None:
    assert isinstance(runtime.__version__, str) and runtime.__version__
    native = runtime.native_nodes()
    for name in (
        "Resample",
        "Gain",
        "Normalize",
        "ChannelMix",
        "HighPass",
        "LowPass",
        "Rebuffer",
        "EnergyVAD",
        "STFT",
        "MelSpectrogram",
    ):
        assert name in native
        assert rm.nodes.__dict__[name] is not None  # same registry names as Python
    assert rust_engine.available()
    assert rust_engine.native_nodes() == native


def test_engines_agree_on_a_manifest() -> None:
    pipeline = rm.Pipeline(
        [
            nodes.HighPass(100.0),
            nodes.Gain(-3.0),
            nodes.EnergyVAD(),
            nodes.MelSpectrogram(),
        ]
    )
    rebuilt = rm.Pipeline.from_manifest(pipeline.to_json())
    inputs = frames(bursts())
    python = pipeline.collect(inputs, engine="python")
    rust = rebuilt.collect(inputs, engine="rust")
    assert len(python) == len(rust) == 2
    for a, b in zip(python, rust):
        same(a, b)
    one = bursts(seconds=0.5)
    same(pipeline.run(one, engine="python"), pipeline.run(one, engine="rust"))


def test_auto_engine_uses_the_runtime_and_keeps_results() -> None:
    clip = bursts(seconds=0.3)
    pipeline = rm.Pipeline([nodes.Gain(-6.0)])
    same(pipeline.run(clip), pipeline.run(clip, engine="python"))


def test_python_nodes_run_inside_rust_manifests() -> None:
    pipeline = rm.Pipeline(
        [nodes.Gain(-6.0), RtInvert(), RtAsyncDouble(), nodes.Gain(6.0), RtDescribe()]
    )
    placement = runtime.plan(pipeline.to_json())
    assert [(p["id"], p["native"], p["stage"]) for p in placement] == [
        ("Gain", True, 0),
        ("RtInvert", False, 1),
        ("RtAsyncDouble", False, 2),
        ("Gain_2", True, 3),
        ("RtDescribe", False, 4),
    ]
    inputs = frames(bursts(seconds=0.2))
    assert pipeline.collect(inputs, engine="rust") == ["320@16000"] * len(inputs)
    # Audio that went through all the stages has the same samples on both engines.
    audio = rm.Pipeline(
        [nodes.Gain(-6.0), RtInvert(), RtAsyncDouble(), nodes.Gain(6.0)]
    )
    for a, b in zip(
        audio.collect(inputs, engine="python"), audio.collect(inputs, engine="rust")
    ):
        np.testing.assert_array_equal(a.samples, b.samples)


def test_outputs_lists_and_sources_follow_the_python_engine() -> None:
    clip = bursts(seconds=0.1)
    split = rm.Pipeline([RtSplit(), nodes.Gain(0.0)])
    assert len(split.run(clip, engine="rust")) == 2
    source = rm.Pipeline(
        [nodes.ToneSource(duration_s=0.1, sample_rate=16000), nodes.Gain(-6.0)]
    )
    python, rust = source.run(engine="python"), source.run(engine="rust")
    same(python, rust)  # the source's five frames, joined into one by run()
    assert python.num_samples == 1600
    frames = source.collect(engine="rust")
    assert len(frames) == len(source.collect(engine="python")) == 5


def test_manifest_errors_name_node_and_field() -> None:
    def bad(manifest: dict[str, Any]) -> str:
        with pytest.raises(rm.ManifestError) as info:
            rust_engine.run_manifest(manifest, [])
        return str(info.value)

    message = bad({"version": 1, "nodes": [{"id": "g", "type": "Gain", "config": 3}]})
    assert "node 'g', field 'config'" in message
    message = bad(
        {"version": 1, "nodes": [{"id": "g", "type": "Gain", "config": {"db": "x"}}]}
    )
    assert "node 'g'" in message and "'db'" in message
    message = bad(
        {
            "version": 1,
            "nodes": [{"id": "hp", "type": "HighPass", "config": {"order": 2}}],
        }
    )
    assert "node 'hp'" in message and "cutoff_hz" in message
    message = bad({"version": 1, "nodes": [{"id": "n", "type": "NoSuchNode"}]})
    assert "unknown node type 'NoSuchNode'" in message
    assert "manifest is not valid JSON" in bad("{")  # type: ignore[arg-type]
    message = bad(
        {
            "version": 1,
            "nodes": [{"id": "a", "type": "Gain"}],
            "edges": [{"from": "a", "to": "b"}],
        }
    )
    assert "unknown node id 'b'" in message


def test_node_failures_raise_or_emit_like_the_python_engine() -> None:
    high = bursts(rate=16000, seconds=0.1)
    manifest = {
        "version": 1,
        "nodes": [{"id": "hp", "type": "HighPass", "config": {"cutoff_hz": 9000.0}}],
    }
    with pytest.raises(rm.PipelineError) as info:
        rust_engine.run_manifest(manifest, [high])
    record = info.value.node_error
    assert (record.node, record.error_type) == ("hp", "ValueError")
    assert "cutoff_hz" in record.message and "AudioFrame(1ch" in record.input_summary
    python_error = rm.Pipeline.from_manifest(manifest)
    with pytest.raises(rm.PipelineError) as py_info:
        python_error.run(high, engine="python")
    assert py_info.value.node_error.error_type == record.error_type

    manifest["options"] = {"on_error": "emit"}
    manifest["nodes"].append({"id": "g", "type": "Gain", "config": {"db": 1.0}})
    out = rust_engine.run_manifest(manifest, [high, "text"])
    assert [type(o) for o in out] == [rm.NodeError, rm.NodeError]
    assert out[1].error_type == "TypeError" and "Gain" not in out[1].node


def test_python_node_failure_carries_its_traceback() -> None:
    pipeline = rm.Pipeline([nodes.Gain(0.0), RtFails()], on_error="emit")
    positive = rm.AudioFrame(np.full((1, 10), 0.5, np.float32), 16000)
    negative = rm.AudioFrame(np.full((1, 10), -0.5, np.float32), 16000)
    out = pipeline.collect([negative, positive], engine="rust")
    assert isinstance(out[0], rm.NodeError) and out[0].node == "RtFails"
    assert "negative start" in out[0].message and "in process" in out[0].traceback
    assert isinstance(out[1], rm.AudioFrame)
    with pytest.raises(rm.PipelineError, match="negative start"):
        rm.Pipeline([RtFails()]).run(negative, engine="rust")


async def test_stream_engine_rust_and_early_exit() -> None:
    pipeline = rm.Pipeline([nodes.Rebuffer(40.0), nodes.Gain(-6.0)])
    inputs = frames(bursts(seconds=0.5))
    python = [f async for f in pipeline.stream(inputs, engine="python")]
    rust = [f async for f in pipeline.stream(inputs, engine="rust")]
    assert len(python) == len(rust) == 13
    for a, b in zip(python, rust):
        same(a, b)
    taken = 0
    stream = pipeline.stream(iter(inputs * 20), engine="rust")
    async for _ in stream:
        taken += 1
        if taken == 3:
            break
    await stream.aclose()
    assert taken == 3 and pipeline._running == 0


def test_stream_executor_push_pull_backpressure_cancel() -> None:
    manifest = rm.Pipeline([nodes.Gain(-6.0)], queue_size=1).to_json()
    clip = bursts(seconds=0.02)
    with runtime.StreamExecutor(manifest) as executor:
        accepted = 0
        for _ in range(50):  # bounded: the queues hold only a few frames
            if not executor.try_push(clip):
                break
            accepted += 1
        assert 1 <= accepted < 50  # backpressure: the queues filled up
        first = executor.pull(timeout=5.0)
        assert isinstance(first, rm.AudioFrame)
        executor.push(clip)  # room again
        executor.cancel()
        with pytest.raises(rm.RemoteMediaError):
            executor.push(clip)
    executor = runtime.StreamExecutor(manifest)
    executor.push(clip)
    executor.close()
    assert [type(x) for x in executor] == [rm.AudioFrame]
    assert executor.pull() is runtime.END
    with pytest.raises(TimeoutError):
        runtime.StreamExecutor(manifest).pull(timeout=0.01)


def test_threads_run_manifests_concurrently() -> None:
    manifest = rm.Pipeline(
        [nodes.Resample(16000), nodes.HighPass(80.0), nodes.EnergyVAD()]
    ).to_manifest()
    inputs = frames(rm.AudioFrame(bursts(seconds=1.0).samples.repeat(3, axis=1), 48000))
    expected = rust_engine.run_manifest(manifest, inputs)
    results: list[list[Any]] = [[] for _ in range(4)]

    def work(index: int) -> None:
        results[index] = rust_engine.run_manifest(manifest, inputs)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        assert len(result) == len(expected)
        for a, b in zip(result, expected):
            np.testing.assert_array_equal(a.samples, b.samples)


def test_int16_conversion_matches_audio_frame() -> None:
    pcm = np.array([[-32768, -1, 0, 1, 32767]], dtype=np.int16)
    np.testing.assert_array_equal(
        runtime.int16_to_float32(pcm), rm.AudioFrame.from_int16(pcm, 8000).samples
    )
    x = np.array([[-2.0, -1.0, -0.5, 0.0, 0.99999, 1.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(
        runtime.float32_to_int16(x), rm.AudioFrame(x, 8000).to_int16()
    )


@rm.register_node
class RtNested(rm.Node):
    """Runs a small pipeline on the Rust engine from inside a Rust-run pipeline."""

    def process(self, data: Any) -> Any:
        return rm.Pipeline([nodes.Gain(6.0)]).run(data, engine="rust")


def test_nested_runs_and_node_stats() -> None:
    clip = bursts(seconds=0.05)
    describe = RtDescribe()
    pipeline = rm.Pipeline([RtNested(), describe])
    assert pipeline.run(clip, engine="rust") == "800@16000"
    assert describe.stats.calls == 1 and describe.stats.outputs == 1


@rm.register_node
class RtNoneFirst(rm.Node):
    """Emits None (as an explicit output) before each input."""

    def process(self, data: Any) -> Any:
        return rm.Outputs([None, data])


def test_none_outputs_do_not_end_the_stream() -> None:
    pipeline = rm.Pipeline([nodes.Gain(0.0), RtNoneFirst()])
    inputs = [bursts(seconds=0.02), bursts(seconds=0.02, seed=4)]
    python = pipeline.collect(inputs, engine="python")
    rust = pipeline.collect(inputs, engine="rust")
    assert [type(x) for x in rust] == [type(x) for x in python]
    assert rust[0] is None and isinstance(rust[3], rm.AudioFrame)
