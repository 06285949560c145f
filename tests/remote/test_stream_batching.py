"""Batched streaming and multiplexed method calls: order, completeness, errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

import remotemedia as rm
from remotemedia.core._sync import run_sync
from remotemedia.remote import LocalServer, Session, _rpc, codec
from remotemedia.remote._proto import execution_pb2 as epb
from remotemedia.remote.client import _stream_message
from remotemedia_server import protocol


class Tag(rm.Node):
    """Emits (input, running count); fails on multiples of ``fail_every``.

    Args:
        fail_every: Inputs divisible by this raise ValueError (0: never).
        twice: Emit each output twice (several outputs per input).
    """

    def __init__(
        self, fail_every: int = 0, twice: bool = False, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.fail_every = fail_every
        self.twice = twice
        self.seen = 0

    def process(self, data: int) -> Any:
        self.seen += 1
        if self.fail_every and data % self.fail_every == 0:
            raise ValueError(f"bad input {data}")
        out = (data, self.seen)
        return rm.Outputs([out, out]) if self.twice else out

    def flush(self) -> Any:
        seen, self.seen = self.seen, 0
        return ("end", seen)


class Counter:
    """A stateful object for method calls."""

    def __init__(self) -> None:
        self.n = 0

    def add(self, k: int = 1) -> int:
        self.n += k
        return self.n

    def fail(self, text: str) -> None:
        raise KeyError(text)


N = 300


async def _collect(node: rm.Node, inputs: Any) -> list[Any]:
    return [item async for item in node.astream(inputs)]


async def _ints(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@pytest.mark.parametrize("window", [1, 32])
def test_many_frames_in_flight_arrive_complete_and_in_order(
    session: Session, window: int
) -> None:
    node = rm.remote(Tag(twice=True), session, window=window)
    # Runs on the background loop: the in-place path.
    out = run_sync(_collect(node, _ints(N)))
    expected = [(i, i + 1) for i in range(N) for _ in range(2)] + [("end", N)]
    assert out == expected


async def test_stream_from_another_loop_keeps_order(session: Session) -> None:
    # The test's own loop is not the background loop: inputs are pulled here and
    # outputs handed back across loops.
    node = rm.remote(Tag(), session, window=16)
    out = await _collect(node, list(range(N)))
    assert out == [(i, i + 1) for i in range(N)] + [("end", N)]


def test_errors_mid_batch_are_records_in_place(session: Session) -> None:
    node = rm.remote(Tag(fail_every=7), session, window=32)
    out = run_sync(_collect(node, _ints(100)))
    assert len(out) == 101 and out[-1] == ("end", 100)
    for i, item in enumerate(out[:-1]):
        if i % 7 == 0:
            assert isinstance(item, rm.NodeError)
            assert f"bad input {i}" in item.message
        else:
            assert item == (i, i + 1)
    # The same through a pipeline that raises: the first failure stops it.
    with pytest.raises(rm.PipelineError, match="bad input 7"):
        rm.Pipeline([rm.remote(Tag(fail_every=7), session, window=32)]).collect(
            range(1, 50)
        )


@pytest.mark.parametrize("window", [1, 8])
def test_input_error_mid_stream_reaches_the_consumer(
    session: Session, window: int
) -> None:
    async def broken() -> AsyncIterator[int]:
        for i in range(20):
            yield i
        raise RuntimeError("source broke")

    node = rm.remote(Tag(), session, window=window)
    with pytest.raises(RuntimeError, match="source broke"):
        run_sync(_collect(node, broken()))
    # The session is still usable.
    assert run_sync(_collect(rm.remote(Tag(), session), _ints(3)))[-1] == ("end", 3)


def test_batch_message_round_trips_through_the_server(
    server: LocalServer, session: Session
) -> None:
    frames = [codec.encode_bytes(i) for i in range(10)]
    message = epb.StreamRequest.FromString(_stream_message(frames))
    assert [codec.decode(v) for v in message.batch.frames] == list(range(10))
    assert (
        codec.decode(epb.StreamRequest.FromString(_stream_message(frames[:1])).frame)
        == 0
    )

    node_id, _ = run_sync(session._acreate_object(Tag()))
    spec = epb.PipelineSpec(node_ids=epb.NodeIds(ids=[node_id]))
    opening = epb.StreamRequest(
        open=epb.StreamOpen(session_id=session.id, pipeline=spec)
    )
    # Two batches concatenated on the wire merge into one batch of all frames.
    requests = [
        opening.SerializeToString(),
        _stream_message(frames[:4]) + _stream_message(frames[4:]),
        epb.StreamRequest(end=epb.StreamEnd()).SerializeToString(),
    ]
    with grpc.insecure_channel(server.address) as channel:
        call = channel.stream_stream(
            _rpc.path("StreamPipeline"),
            response_deserializer=epb.StreamResponse.FromString,
        )
        responses = list(
            call(
                iter(requests),
                metadata=(("authorization", f"Bearer {server.token}"),),
                timeout=60,
            )
        )
    values = [codec.decode(v) for r in responses for v in r.values]
    assert values == [(i, i + 1) for i in range(10)] + [("end", 10)]
    assert max(r.ack for r in responses) == 10 and responses[-1].end


def test_concurrent_method_calls_share_one_stream(session: Session) -> None:
    counter = rm.RemoteObject(Counter(), session)
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(25):
                value = counter.add(1)
                with lock:
                    results.append(value)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(results) == list(range(1, 101))  # every call ran exactly once
    with pytest.raises(rm.RemoteError) as info:
        counter.fail("missing thing")
    assert info.value.error_type == "KeyError"
    assert "missing thing" in str(info.value) and "fail" in info.value.remote_traceback
    assert counter.add(k=5) == 105  # a failed call leaves the stream usable


def test_method_lookup_is_remembered_until_shadowed(session: Session) -> None:
    counter = rm.RemoteObject(Counter(), session)
    assert counter.add() == 1 and counter.add() == 2
    counter.add = 42  # shadows the method on the remote instance
    assert counter.add == 42
    assert counter.n == 2


class Sleeper:
    """Sleeps on request (to cancel a call mid-way)."""

    def nap(self, seconds: float) -> str:
        import time

        for _ in range(int(seconds / 0.05)):
            time.sleep(0.05)
        return "rested"

    def ping(self) -> str:
        return "pong"


async def test_cancelling_a_method_call_cancels_it_on_the_server(
    session: Session,
) -> None:
    sleeper = await asyncio.to_thread(rm.RemoteObject, Sleeper(), session)
    nap = await asyncio.to_thread(getattr, sleeper, "nap")
    task = asyncio.ensure_future(nap.acall(20.0))
    await asyncio.sleep(1.0)  # the call is running in the worker
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status: dict[str, Any] = {}
    for _ in range(100):  # bounded: up to ~10 s on a busy machine
        status = await session.astatus()
        if status["cancelled"]:
            break
        await asyncio.sleep(0.1)
    assert status["cancelled"] == 1
    ping = await asyncio.to_thread(getattr, sleeper, "ping")
    assert await ping.acall() == "pong"  # the call stream is still usable


def test_worker_framing_survives_split_and_merged_chunks() -> None:
    received: list[Any] = []
    lost: list[Any] = []
    proto = protocol.FrameProtocol(received.append, lost.append)
    big = bytes(range(256)) * 4096  # 1 MiB, sent raw
    messages = [(1, "event", b"abc"), (2, "ok", {"x": [1, 2]}), (3, "event", big)]
    wire = b"".join(b"".join(protocol.encode(m)) for m in messages)
    # Byte by byte for the small ones, then the rest in uneven chunks.
    for i in range(40):
        proto.data_received(wire[i : i + 1])
    rest = wire[40:]
    for start in range(0, len(rest), 70001):
        proto.data_received(rest[start : start + 70001])
    assert received == messages
    proto.connection_lost(None)
    assert lost == [None]
