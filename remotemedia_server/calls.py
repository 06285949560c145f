"""CallStream serving, shared by the front end and the session workers' own
endpoints: method calls and code cells multiplexed over one bidi call.

Replies are built around already-encoded bytes (the worker's result ``Value``,
its ``ExecuteCodeEvent`` messages) without parsing or copying them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from remotemedia.remote import codec
from remotemedia.remote._proto import execution_pb2 as epb
from remotemedia.remote.status import as_remote_error

__all__ = ["CallRaw", "ExecuteEvents", "serve_call_stream"]

# (session id, serialized CallStreamRequest, timeout s) -> encoded result Value
CallRaw = Callable[[str, bytes, float], Awaitable[bytes]]
# (session id, code, timeout s) -> serialized ExecuteCodeEvent messages
ExecuteEvents = Callable[[str, str, float], AsyncGenerator[bytes, None]]


async def serve_call_stream(
    requests: AsyncIterator[bytes],
    context: grpc.aio.ServicerContext,
    call_raw: CallRaw,
    execute_events: ExecuteEvents,
) -> None:
    """Serves one CallStream: calls multiplexed over it, replies in any order.

    Each call runs in its own task and writes its reply itself (no queue hop).

    Args:
        requests: The serialized ``CallStreamRequest`` messages.
        context: The call's context (replies go out through ``context.write``).
        call_raw: Runs one method call: (session id, the serialized request,
            timeout in s) -> the encoded result ``Value``.
        execute_events: Runs one code cell: (session id, code, timeout in s) ->
            its serialized ``ExecuteCodeEvent`` messages.
    """
    loop = asyncio.get_running_loop()
    write_lock = asyncio.Lock()
    running: dict[int, asyncio.Task[None]] = {}
    replying: set[int] = set()

    async def one(call_id: int, request: Any, raw: bytes) -> None:
        try:
            data = await call_raw(request.call.session_id, raw, request.call.timeout_s)
            reply = _call_reply(call_id, data)
        except (asyncio.CancelledError, Exception) as exc:  # reported in the reply
            reply = _failure_reply(call_id, exc)
        await final_reply(call_id, reply)

    async def final_reply(call_id: int, reply: bytes) -> None:
        replying.add(call_id)  # a late cancel must not abandon the reply mid-write
        try:
            async with write_lock:
                await context.write(reply)
        finally:
            # Only now: the stream must not end while this reply is in flight.
            running.pop(call_id, None)
            replying.discard(call_id)

    async def locked_write(data: bytes) -> None:
        async with write_lock:
            await context.write(data)

    async def execute(call_id: int, request: Any) -> None:
        # Like ExecuteCode: the worker's events go out as they come (each one
        # written before the next is read, so their order holds), then `end`.
        events = execute_events(request.session_id, request.code, request.timeout_s)
        try:
            async for event in events:
                # Shielded: a cancel must not abandon a write in flight (the
                # call allows one at a time).
                await asyncio.shield(
                    loop.create_task(locked_write(_execute_event(call_id, event)))
                )
            reply = b"\x08" + _varint(call_id) + _END_FLAG
        except (asyncio.CancelledError, Exception) as exc:  # reported in the reply
            reply = _failure_reply(call_id, exc, end=True)
        finally:
            # Closed here, not left to the garbage collector: a cancelled cell
            # must stop on the worker now.
            await events.aclose()
        await final_reply(call_id, reply)

    try:
        async for raw in requests:
            request = codec.parse(epb.CallStreamRequest, raw, "CallStream")
            if request.cancel:
                task = running.get(request.id)
                if task is not None and request.id not in replying:
                    task.cancel()
                continue
            if request.HasField("execute"):
                running[request.id] = loop.create_task(
                    execute(request.id, request.execute)
                )
                continue
            running[request.id] = loop.create_task(one(request.id, request, raw))
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)
    finally:
        for task in list(running.values()):
            task.cancel()


def _call_reply(call_id: int, value: bytes) -> bytes:
    """Serialized ``CallStreamResponse(id, result=CallMethodResponse(value))``.

    Built around the worker's encoded Value without parsing or copying it into a
    message (fields: id = 1 varint; result = 2 and its result = 1, both
    length-delimited).
    """
    inner = b"\x0a" + _varint(len(value))
    return b"".join(
        (
            b"\x08",
            _varint(call_id),
            b"\x12",
            _varint(len(inner) + len(value)),
            inner,
            value,
        )
    )


# CallStreamResponse fields: id = 1 (varint), event = 5 (length-delimited),
# end = 6 (varint); this is `end: true`.
_END_FLAG = b"\x30\x01"


def _execute_event(call_id: int, event: bytes) -> bytes:
    """Serialized ``CallStreamResponse(id, event=...)`` around the worker's
    already serialized ExecuteCodeEvent (not parsed here)."""
    return b"".join((b"\x08", _varint(call_id), b"\x2a", _varint(len(event)), event))


def _failure_reply(call_id: int, exc: BaseException, end: bool = False) -> bytes:
    """The reply reporting that call ``call_id`` failed with ``exc`` (or was
    cancelled)."""
    if isinstance(exc, asyncio.CancelledError):
        return _call_error(call_id, "CANCELLED", "the call was cancelled", end=end)
    error = as_remote_error(exc)
    return _call_error(
        call_id,
        error.code or "UNKNOWN",
        str(error),
        error.error_type,
        error.remote_traceback,
        end=end,
    )


def _call_error(
    call_id: int,
    code: str,
    message: str,
    error_type: str = "",
    tb: str = "",
    end: bool = False,
) -> bytes:
    response = epb.CallStreamResponse(id=call_id, code=code, end=end)
    response.error.message = message
    response.error.error_type = error_type
    response.error.traceback = tb
    return response.SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
