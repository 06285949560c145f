"""Remote nodes: state on the server, hybrid pipelines, fused segments, streaming."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.remote import LocalServer, RemoteNode, RemoteSegment, Session


class CountCalls(rm.Node):
    """Returns how many inputs it has seen (state lives where the node runs)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.calls = 0

    def process(self, data: Any) -> int:
        self.calls += 1
        return self.calls


class TestGain(rm.Node):
    """Scales audio by a linear factor (numpy only).

    Args:
        factor: Linear gain.
    """

    __test__ = False

    def __init__(self, factor: float = 0.5, name: str | None = None) -> None:
        super().__init__(name=name)
        self.factor = factor

    def process(self, frame: Any) -> Any:
        if not isinstance(frame, rm.AudioFrame):
            return frame * self.factor
        return frame.with_samples(frame.samples * np.float32(self.factor))


class RunningSum(rm.Node):
    """Cumulative sum over the stream; emits the total at end of stream."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.total = np.zeros(1, np.float64)

    def process(self, frame: rm.AudioFrame) -> rm.AudioFrame:
        self.total = self.total + frame.samples.astype(np.float64).sum()
        return frame.with_samples(np.cumsum(frame.samples, axis=1, dtype=np.float32))

    def flush(self) -> Any:
        total, self.total = self.total, np.zeros(1, np.float64)
        return float(total[0])


class Pairs(rm.Node):
    """Emits two outputs per input (tests several outputs per input)."""

    def process(self, frame: Any) -> Any:
        if not isinstance(frame, rm.AudioFrame):
            return frame
        return rm.Outputs([frame, frame.with_samples(-frame.samples)])


class Lambda(rm.Node):
    """Applies a function (config is not JSON: the node travels cloudpickled)."""

    def __init__(self, fn: Any, name: str | None = None) -> None:
        super().__init__(name=name)
        self.fn = fn

    def process(self, data: Any) -> Any:
        return self.fn(data)


class FailOnOdd(rm.Node):
    """Raises on odd inputs."""

    def process(self, data: int) -> int:
        if data % 2:
            raise ValueError(f"odd input {data}")
        return data


def _frames(sine: rm.AudioFrame) -> list[rm.AudioFrame]:
    return list(sine.chunks(20))


def test_remote_node_state_persists_across_calls(session: Session) -> None:
    node = rm.remote(CountCalls(), session)
    assert isinstance(node, RemoteNode) and node.is_remote
    assert [node.process("x") for _ in range(3)] == [[1], [2], [3]]
    pipeline = rm.Pipeline([node])
    assert pipeline.run("y") == 4  # same remote instance, state kept
    assert pipeline.collect(["a", "b"]) == [5, 6]
    assert len(session.objects()) == 1
    session.reset()  # the instance is gone: a new one starts from scratch
    assert node.process("z") == [1]
    assert pipeline.collect(["a"]) == [2]


def test_hybrid_pipeline_equals_local_bit_for_bit(
    session: Session, sine: rm.AudioFrame
) -> None:
    local = rm.Pipeline([TestGain(0.5), RunningSum(), Pairs(), TestGain(2.0)])
    expected = local.collect(_frames(sine))
    hybrid = rm.Pipeline(
        [
            TestGain(0.5),
            rm.remote(RunningSum(), session),
            rm.remote(Pairs(), session),
            TestGain(2.0),
        ]
    )
    stages = hybrid._stages()
    assert isinstance(stages[1], RemoteSegment) and len(stages) == 3  # fused
    got = hybrid.collect(_frames(sine))
    assert len(got) == len(expected) == 2 * 50 + 1
    for a, b in zip(got, expected):
        if isinstance(a, rm.AudioFrame):
            assert a.samples.tobytes() == b.samples.tobytes()
            assert a.timestamp == b.timestamp and a.sample_rate == b.sample_rate
        else:
            assert a == b


def test_lambda_node_travels_pickled(session: Session) -> None:
    offset = 10
    node = rm.remote(Lambda(lambda v: v + offset), session)
    assert rm.Pipeline([node]).collect([1, 2, 3]) == [11, 12, 13]
    assert session.run_pipeline([Lambda(lambda v: v * 3)], 5) == [15]


def test_remote_errors_flow_as_records(session: Session) -> None:
    pipeline = rm.Pipeline([rm.remote(FailOnOdd(), session)], on_error="emit")
    out = pipeline.collect([0, 1, 2])
    assert out[0] == 0 and out[2] == 2
    assert isinstance(out[1], rm.NodeError)
    assert out[1].error_type == "ValueError" and "odd input 1" in out[1].message
    with pytest.raises(rm.PipelineError, match="odd input 3"):
        rm.Pipeline([rm.remote(FailOnOdd(), session)]).collect([2, 3])


def test_manifest_pipeline_runs_remotely(session: Session) -> None:
    pipeline = rm.Pipeline([rm.nodes.Passthrough()])
    assert session.run_pipeline(pipeline, "hi") == ["hi"]


def test_8_mb_video_frame_round_trip_through_remote_node(session: Session) -> None:
    rng = np.random.default_rng(3)
    frame = rm.VideoFrame(rng.integers(0, 256, (1632, 1712, 3), np.uint8), 0.5)
    node = rm.remote(Lambda(lambda f: f), session)
    assert node.process(frame)[0] == frame
    assert rm.Pipeline([node]).collect([frame, frame]) == [frame, frame]


def test_twenty_concurrent_streaming_sessions(
    server: LocalServer, sine: rm.AudioFrame
) -> None:
    frames = _frames(sine)[:25]
    sessions = [rm.connect(server.address, server.token) for _ in range(20)]
    try:

        async def run(index: int, sess: Session) -> list[Any]:
            pipeline = rm.Pipeline(
                [rm.remote(TestGain(float(index + 1)), sess), rm.remote(Pairs(), sess)]
            )
            return [out async for out in pipeline.stream(frames)]

        async def run_all() -> list[list[Any]]:
            return await asyncio.wait_for(
                asyncio.gather(*(run(i, s) for i, s in enumerate(sessions))), 120
            )

        results = asyncio.run(run_all())
    finally:
        for sess in sessions:
            sess.close()
    for index, outputs in enumerate(results):
        assert len(outputs) == 2 * len(frames)
        for k, frame in enumerate(frames):
            scaled = frame.samples * np.float32(index + 1)
            assert outputs[2 * k].samples.tobytes() == scaled.tobytes()
            assert outputs[2 * k].timestamp == frame.timestamp
            assert outputs[2 * k + 1].samples.tobytes() == (-scaled).tobytes()


def test_hybrid_with_registered_built_ins_is_bit_exact(
    session: Session, stereo_noise: rm.AudioFrame
) -> None:
    def build(remote: bool) -> rm.Pipeline:
        wrap = (lambda n: rm.remote(n, session)) if remote else (lambda n: n)
        return rm.Pipeline(
            [
                rm.nodes.Gain(db=-6.0),
                wrap(rm.nodes.HighPass(cutoff_hz=300.0)),  # stateful across frames
                wrap(rm.nodes.Rebuffer(frame_ms=30.0)),  # holds a tail to flush
                rm.nodes.Gain(db=3.0),
            ]
        )

    frames = list(stereo_noise.chunks(20))
    expected = build(False).collect(frames)
    got = build(True).collect(frames)
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected):
        assert a.samples.tobytes() == b.samples.tobytes()
        assert (a.timestamp, a.sample_rate) == (b.timestamp, b.sample_rate)
