"""The Rust runtime's gRPC endpoint serving Python handlers (a worker's direct port).

The first tests drive ``NativeEndpoint`` itself with real ``grpc.aio`` clients on
loopback: order, metadata, status codes with trailers, cancellation, message size
and the inline steps. The last ones check it inside real servers: direct streams
handle synchronous nodes inline and hand async and threaded ones to the loop, and
``--direct-transport grpcio`` still serves everything through ``grpc.aio``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import numpy as np
import pytest

import remotemedia as rm
from remotemedia.core.errors import RemoteError
from remotemedia.remote import LocalServer, Session, start_server
from remotemedia.remote.status import abort_with, error_from_rpc
from remotemedia_server.config import ServerConfig
from remotemedia_server.native_endpoint import (
    NativeEndpoint,
    native_endpoint_available,
)

pytestmark = pytest.mark.skipif(
    not native_endpoint_available(),
    reason="Rust runtime not built (run 'make runtime'): no native endpoint to test",
)

SERVICE = "test.Native"


def _method(name: str) -> str:
    return f"/{SERVICE}/{name}"


@contextlib.asynccontextmanager
async def _serving(
    handlers: dict[str, Any], max_message_bytes: int = 4 * 2**20
) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to an endpoint serving ``handlers``, both closed afterwards."""
    endpoint = NativeEndpoint(SERVICE, handlers, "127.0.0.1", max_message_bytes)
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{endpoint.port}",
        options=[("grpc.max_send_message_length", 16 * 2**20)],
    )
    try:
        yield channel
    finally:
        await channel.close()
        endpoint.stop()


async def _read_rest(call: Any) -> list[bytes]:
    replies = []
    while (reply := await call.read()) is not grpc.aio.EOF:
        replies.append(reply)
    return replies


async def test_messages_and_metadata_reach_the_handler_in_order() -> None:
    seen: dict[str, Any] = {}

    async def echo(
        requests: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[bytes]:
        seen["metadata"] = dict(context.invocation_metadata())
        async for raw in requests:
            yield raw.upper()

    async with _serving({"Echo": echo}) as channel:
        call = channel.stream_stream(_method("Echo"))(
            metadata=(("authorization", "Bearer abc"), ("x-trace-bin", b"\x00\xff"))
        )
        replies = []
        for i in range(200):
            await call.write(f"m{i}".encode())
            if i % 3 == 0:  # sometimes several in flight
                replies.append(await call.read())
        await call.done_writing()
        replies += await _read_rest(call)
        assert replies == [f"M{i}".encode() for i in range(200)]
        assert await call.code() == grpc.StatusCode.OK
        assert seen["metadata"]["authorization"] == "Bearer abc"
        assert seen["metadata"]["x-trace-bin"] == b"\x00\xff"


async def test_abort_carries_code_details_and_trailers() -> None:
    async def refuse(requests: AsyncIterator[bytes], context: Any) -> None:
        async for _ in requests:
            error = RemoteError(
                "no object 'x'", code="NOT_FOUND", error_type="KeyError"
            )
            error.remote_traceback = "Traceback: line 1 ✓"
            await abort_with(context, error)

    async with _serving({"Refuse": refuse}) as channel:
        call = channel.stream_stream(_method("Refuse"))()
        await call.write(b"x")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        error = error_from_rpc(caught.value)
        assert "no object 'x'" in str(error)
        assert error.error_type == "KeyError"
        assert error.remote_traceback == "Traceback: line 1 ✓"


async def test_unknown_methods_and_failing_handlers_get_a_status() -> None:
    async def broken(requests: AsyncIterator[bytes], context: Any) -> None:
        raise ValueError("bug in the handler")

    async with _serving({"Broken": broken}) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary(_method("Nope"))(b"x")
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.stream_stream(_method("Broken"))().read()
        assert caught.value.code() == grpc.StatusCode.UNKNOWN
        assert "internal server error" in (caught.value.details() or "")


async def test_oversized_messages_are_refused() -> None:
    async def echo(
        requests: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[bytes]:
        async for raw in requests:
            yield raw

    async with _serving({"Echo": echo}, max_message_bytes=2**20) as channel:
        call = channel.stream_stream(_method("Echo"))()
        await call.write(b"a" * 1000)
        assert await call.read() == b"a" * 1000
        await call.write(b"b" * (2 * 2**20))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_client_cancel_cancels_the_handler() -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def wait_forever(
        requests: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[bytes]:
        try:
            async for raw in requests:
                started.set()
                yield raw
                await asyncio.sleep(60)
        finally:
            stopped.set()

    async with _serving({"Wait": wait_forever}) as channel:
        call = channel.stream_stream(_method("Wait"))()
        await call.write(b"go")
        assert await call.read() == b"go"
        await asyncio.wait_for(started.wait(), 10)
        call.cancel()
        await asyncio.wait_for(stopped.wait(), 10)


def _inline_then_loop(step: Any, last: bytes | None = None) -> Any:
    """A handler that serves ``step`` inline, answers the rest on the loop with
    "loop <request>", and ``last`` when the input ends."""

    async def handler(
        requests: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[bytes]:
        context.serve_inline(step)
        async for raw in requests:
            yield b"loop " + raw
        if last is not None:
            yield last

    return handler


async def test_inline_steps_keep_order_with_the_loop() -> None:
    """Requests go to the inline step until it declines one; that one and the
    rest go to the handler's loop, and replies keep the requests' order."""
    threads: set[str] = set()

    def step(raw: bytes) -> tuple[bytes | None, bool] | None:
        import threading

        threads.add(threading.current_thread().name)
        if raw == b"decline":
            return None
        return b"inline " + raw, False

    async with _serving({"Mixed": _inline_then_loop(step)}) as channel:
        call = channel.stream_stream(_method("Mixed"))()
        sent = [str(i).encode() for i in range(20)] + [b"decline"]
        sent += [str(i).encode() for i in range(20, 30)]
        replies = []
        for raw in sent:  # lockstep: the step may take each one inline
            await call.write(raw)
            replies.append(await call.read())
        await call.done_writing()
        assert await _read_rest(call) == []
        expected = [b"inline " + r for r in sent[:20]] + [
            b"loop " + r for r in sent[20:]
        ]
        assert replies == expected
        assert threads and all(t != "MainThread" for t in threads)


async def test_an_inline_step_that_ends_the_input_ends_the_iterator() -> None:
    def step(raw: bytes) -> tuple[bytes | None, bool] | None:
        return (None, True) if raw == b"end" else (raw, False)

    async with _serving({"Ends": _inline_then_loop(step, b"finished")}) as channel:
        call = channel.stream_stream(_method("Ends"))()
        await call.write(b"a")
        assert await call.read() == b"a"
        await call.write(b"end")
        assert await call.read() == b"finished"
        assert await call.code() == grpc.StatusCode.OK


# -- inside a real server --------------------------------------------------------------


class Twice(rm.Node):
    """A synchronous node: doubles audio."""

    def process(self, frame: rm.AudioFrame) -> rm.AudioFrame:
        return rm.AudioFrame(frame.samples * 2, frame.sample_rate, frame.timestamp)


class ThreadedTwice(Twice):
    """The same on the node's own thread."""

    blocking = True


class AsyncTwice(rm.Node):
    """The same with ``aprocess`` (it awaits on the worker's loop)."""

    async def aprocess(self, frame: rm.AudioFrame) -> rm.AudioFrame:
        await asyncio.sleep(0)
        return rm.AudioFrame(frame.samples * 2, frame.sample_rate, frame.timestamp)


class Tally:
    """A stateful object for method calls."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, n: int) -> int:
        self.total += n
        return self.total


def _frames(n: int) -> list[rm.AudioFrame]:
    rng = np.random.default_rng(7)
    return [
        rm.AudioFrame(rng.standard_normal((1, 480)).astype(np.float32), 48000, i / 100)
        for i in range(n)
    ]


def _check_doubled(out: list[Any], frames: list[rm.AudioFrame]) -> None:
    assert len(out) == len(frames)
    for got, sent in zip(out, frames):
        np.testing.assert_array_equal(got.samples, sent.samples * 2)
        assert got.timestamp == sent.timestamp


@pytest.mark.parametrize("window", [1, 8])
def test_sync_nodes_are_handled_inline(session: Session, window: int) -> None:
    frames = _frames(60)
    before = session.status()
    assert before["direct_transport"] == "native"
    node = rm.remote(Twice(), session, window=window)
    _check_doubled(rm.Pipeline([node]).collect(frames), frames)
    after = session.status()
    assert after["streams_direct"] == before["streams_direct"] + 1
    inline = after["frames_inline"] - before["frames_inline"]
    # Frames that arrive while the loop still holds earlier ones (opening the
    # stream, a full window) go to the loop: order first.
    assert 0 < inline <= len(frames)
    if window == 1:
        assert inline >= len(frames) - 2


def test_async_and_threaded_nodes_stay_on_the_loop(session: Session) -> None:
    frames = _frames(40)
    before = session.status()["frames_inline"]
    _check_doubled(
        rm.Pipeline([rm.remote(AsyncTwice(), session)]).collect(frames), frames
    )
    _check_doubled(
        rm.Pipeline([rm.remote(ThreadedTwice(), session)]).collect(frames), frames
    )
    assert session.status()["frames_inline"] == before


@pytest.fixture(scope="module")
def grpcio_server() -> Iterator[LocalServer]:
    srv = start_server(args=["--workers", "1", "--direct-transport", "grpcio"])
    yield srv
    srv.stop()


def test_grpcio_transport_serves_streams_and_calls(grpcio_server: LocalServer) -> None:
    with rm.connect(grpcio_server.address, grpcio_server.token) as session:
        frames = _frames(30)
        _check_doubled(
            rm.Pipeline([rm.remote(Twice(), session)]).collect(frames), frames
        )
        tally = session.put(Tally())
        assert [tally.add(2), tally.add(3)] == [2, 5]
        status = session.status()
        assert status["direct_transport"] == "grpcio"
        assert status["streams_direct"] == 1
        assert status["frames_inline"] == 0


def test_unknown_transport_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="direct_transport must be one of"):
        ServerConfig().update({"direct_transport": "quic"}, "server.yaml")
