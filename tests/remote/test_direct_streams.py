"""Streams straight to the session worker's own endpoint (no front-end hop).

Every check runs against real servers and workers on loopback: the direct path
is used by default, refuses strangers, reports worker crashes as the front end
would, falls back to the front end when it cannot be reached, and keeps the
session alive for the idle reaper while it streams.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from typing import Any

import grpc
import numpy as np
import pytest

import remotemedia as rm
from remotemedia.remote import LocalServer, Session, _rpc, start_server
from remotemedia.remote._proto import execution_pb2 as epb


class Scale(rm.Node):
    """Multiplies audio by ``factor`` and counts the frames it saw (state)."""

    def __init__(self, factor: float, name: str | None = None) -> None:
        super().__init__(name=name)
        self.factor = factor
        self.seen = 0

    def process(self, frame: rm.AudioFrame) -> rm.AudioFrame:
        self.seen += 1
        return rm.AudioFrame(frame.samples * self.factor, frame.sample_rate, self.seen)


class CrashAfter(rm.Node):
    """Kills its process at the ``n``-th frame (a segfault in native code)."""

    def __init__(self, n: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.n = n
        self.seen = 0

    def process(self, data: Any) -> Any:
        self.seen += 1
        if self.seen >= self.n:
            os._exit(17)
        return data


class Slow(rm.Node):
    """Sleeps ``seconds`` per input."""

    def __init__(self, seconds: float, name: str | None = None) -> None:
        super().__init__(name=name)
        self.seconds = seconds

    def process(self, data: Any) -> Any:
        time.sleep(self.seconds)
        return data


def _frames(n: int) -> list[rm.AudioFrame]:
    rng = np.random.default_rng(3)
    return [
        rm.AudioFrame(rng.standard_normal((1, 960)).astype(np.float32), 48000, i / 50)
        for i in range(n)
    ]


def _stream_counts(session: Session) -> tuple[int, int]:
    status = session.status()
    return status["streams_direct"], status["streams_via_front_end"]


def test_streams_go_to_the_worker_directly(session: Session) -> None:
    assert session._direct_endpoint is not None
    frames = _frames(120)
    remote = rm.Pipeline([rm.remote(Scale(0.5), session)]).collect(frames)
    local = rm.Pipeline([Scale(0.5)]).collect(frames)
    assert len(remote) == len(local) == 120
    for got, want in zip(remote, local):
        np.testing.assert_array_equal(got.samples, want.samples)
        assert got.timestamp == want.timestamp
    assert _stream_counts(session) == (1, 0)


def test_client_can_stream_through_the_front_end(server: LocalServer) -> None:
    with rm.connect(server.address, server.token, direct=False) as session:
        out = rm.Pipeline([rm.remote(Scale(2.0), session)]).collect(_frames(10))
        assert [f.timestamp for f in out] == list(range(1, 11))
        assert _stream_counts(session) == (0, 1)


def test_server_without_direct_offers_no_endpoint() -> None:
    srv = start_server(args=["--no-direct", "--workers", "1"])
    try:
        with rm.connect(srv.address, srv.token) as session:
            assert session._direct_endpoint is None
            out = rm.Pipeline([rm.remote(Scale(2.0), session)]).collect(_frames(5))
            assert len(out) == 5
            assert _stream_counts(session) == (0, 1)
    finally:
        srv.stop()


def _direct_call(
    session: Session, token: str, session_id: str
) -> grpc.StatusCode | None:
    port = session._direct_endpoint[0] if session._direct_endpoint else 0
    spec = epb.PipelineSpec(manifest_json=rm.Pipeline([rm.nodes.Gain(0.0)]).to_json())
    opening = epb.StreamRequest(
        open=epb.StreamOpen(session_id=session_id, pipeline=spec)
    ).SerializeToString()
    end = epb.StreamRequest(end=epb.StreamEnd()).SerializeToString()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        bidi = channel.stream_stream(_rpc.path("StreamPipeline"))
        try:
            list(bidi(iter([opening, end]), metadata=_bearer(token), timeout=20))
        except grpc.RpcError as exc:
            return exc.code()
    return None


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def test_direct_endpoint_refuses_strangers(
    server: LocalServer, session: Session
) -> None:
    assert session._direct_endpoint is not None
    port, token = session._direct_endpoint
    assert _direct_call(session, token, session.id) is None
    # The server's own token, or none, does not open a worker's endpoint.
    assert _direct_call(session, server.token, session.id) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    assert _direct_call(session, "", session.id) == grpc.StatusCode.UNAUTHENTICATED
    assert _direct_call(session, token, "another-session") == grpc.StatusCode.NOT_FOUND
    # Only StreamPipeline is served there.
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        info = channel.unary_unary(_rpc.path("ServerInfo"))
        with pytest.raises(grpc.RpcError) as rpc_info:
            info(b"", metadata=_bearer(token), timeout=20)
        assert rpc_info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_worker_crash_mid_direct_stream_is_reported(session: Session) -> None:
    session.execute("kept = 1")
    pipeline = rm.Pipeline([rm.remote(CrashAfter(5), session)])
    with pytest.raises(rm.RemoteError, match="crashed.*exit.* code 17") as info:
        pipeline.collect(_frames(20))
    assert info.value.code == "UNAVAILABLE"
    # The session goes on with a fresh worker, reached directly again.
    out = rm.Pipeline([rm.remote(Scale(1.0), session)]).collect(_frames(3))
    assert len(out) == 3
    status = session.status()
    assert status["worker_restarts"] == 1
    assert (status["streams_direct"], status["streams_via_front_end"]) == (1, 0)
    assert "kept" not in status["variables"]


def test_unreachable_endpoint_falls_back_to_the_front_end(session: Session) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    session._direct_endpoint = (closed_port, "token")
    out = rm.Pipeline([rm.remote(Scale(3.0), session)]).collect(_frames(4))
    assert len(out) == 4
    assert session._direct_endpoint is None  # not tried again
    assert _stream_counts(session) == (0, 1)


async def test_cancelling_a_direct_stream_stops_it_on_the_worker(
    session: Session,
) -> None:
    node = rm.remote(Slow(0.05), session)

    async def frames() -> Any:
        for frame in _frames(400):
            yield frame

    outputs = 0

    async def consume() -> None:
        nonlocal outputs
        async for _ in node.astream(frames()):
            outputs += 1

    task = asyncio.ensure_future(consume())
    deadline = time.monotonic() + 60
    while outputs < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if (await session.astatus())["streams"] == 0:
            break
        await asyncio.sleep(0.1)
    assert (await session.astatus())["streams"] == 0
    assert outputs < 400
    out = rm.Pipeline([rm.remote(Scale(1.0), session)]).collect(_frames(2))
    assert len(out) == 2


def test_idle_reaper_spares_a_session_that_streams_directly() -> None:
    srv = start_server(args=["--idle-timeout", "1", "--workers", "1"])
    try:
        with rm.connect(srv.address, srv.token) as session:
            # 2.5 s of streaming, all of it past the front end's back.
            out = rm.Pipeline([rm.remote(Slow(0.1), session)]).collect(_frames(25))
            assert len(out) == 25
            assert session.status()["streams_direct"] == 1  # still open
            deadline = time.monotonic() + 30
            with pytest.raises(rm.RemoteError, match="unknown session") as info:
                while time.monotonic() < deadline:
                    session.status()
                    time.sleep(2.0)  # idle past the timeout
            assert info.value.code == "NOT_FOUND"
    finally:
        srv.stop()


class Counter:
    """A stateful object for method calls."""

    def __init__(self) -> None:
        self.n = 0

    def add(self, k: int = 1) -> int:
        self.n += k
        return self.n


def test_calls_and_cells_go_to_the_worker_directly(session: Session) -> None:
    counter = rm.RemoteObject(Counter(), session)
    assert [counter.add(), counter.add(2)] == [1, 3]
    assert session.execute("6 * 7").value_bundle == {"text/plain": "42"}
    status = session.status()
    assert status["calls_direct"] >= 3  # create goes to the front end; calls do not


def test_calls_cells_and_limits_through_the_front_end(server: LocalServer) -> None:
    with rm.connect(server.address, server.token, direct=False) as session:
        counter = rm.RemoteObject(Counter(), session)
        assert counter.add(5) == 5
        seen: list[str] = []
        result = session.execute(
            "print('hi')\n1 + 1", on_stream=lambda name, text: seen.append(text)
        )
        assert result.value_bundle == {"text/plain": "2"}
        assert "".join(seen).strip() == "hi"
        with pytest.raises(rm.RemoteError, match="1 s time limit") as info:
            session.execute("import time\ntime.sleep(30)", timeout=1.0)
        assert info.value.code == "DEADLINE_EXCEEDED"
        assert counter.add() == 6  # interrupted, state intact
        assert session.status()["calls_direct"] == 0


def test_direct_calls_check_the_session(session: Session) -> None:
    assert session._direct_endpoint is not None
    port, token = session._direct_endpoint
    request = epb.CallStreamRequest(id=1)
    request.execute.session_id = "another-session"
    request.execute.code = "1"
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        calls = channel.stream_stream(
            _rpc.path("CallStream"),
            request_serializer=epb.CallStreamRequest.SerializeToString,
            response_deserializer=epb.CallStreamResponse.FromString,
        )
        replies = list(calls(iter([request]), metadata=_bearer(token), timeout=20))
    assert [(r.id, r.code, r.end) for r in replies] == [(1, "NOT_FOUND", True)]
    assert "another-session" in replies[0].error.message


class Sleeper:
    """Counts calls; ``nap`` sleeps, ``crash`` kills the process."""

    def __init__(self) -> None:
        self.calls = 0

    def tick(self) -> int:
        self.calls += 1
        return self.calls

    def nap(self, seconds: float) -> None:
        import time as _time

        _time.sleep(seconds)

    def crash(self) -> None:
        os._exit(17)


def test_sync_method_calls_use_a_blocking_stream(session: Session) -> None:
    obj = rm.RemoteObject(Sleeper(), session)
    assert [obj.tick() for _ in range(5)] == [1, 2, 3, 4, 5]
    assert session._sync_calls is not None and not session._sync_calls.broken
    # Threads at once: one holds the blocking stream, the others multiplex.
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            value = obj.tick()
            with lock:
                results.append(value)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == list(range(6, 46))


def test_interrupting_a_sync_call_cancels_it_on_the_worker(session: Session) -> None:
    obj = rm.RemoteObject(Sleeper(), session)
    obj.tick()
    obj.tick()  # (the blocking stream is open from here on)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        obj.nap(30)
    assert time.monotonic() - start < 20
    status: dict[str, Any] = {}
    for _ in range(100):  # bounded: up to ~10 s
        status = session.status()
        if status["cancelled"]:
            break
        time.sleep(0.1)
    assert status["cancelled"] == 1
    assert obj.tick() == 3  # state kept, a new stream serves the next call


def test_worker_crash_during_a_sync_call_is_reported(session: Session) -> None:
    obj = rm.RemoteObject(Sleeper(), session)
    obj.tick()
    obj.tick()
    with pytest.raises(rm.RemoteError, match="crashed.*exit.* code 17") as info:
        obj.crash()
    assert info.value.code == "UNAVAILABLE"
    fresh = rm.RemoteObject(Sleeper(), session)
    assert [fresh.tick(), fresh.tick()] == [1, 2]
