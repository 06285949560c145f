"""grpc.aio-style bidi handlers served by the Rust runtime's gRPC endpoint.

A session worker's direct endpoint carries every frame of a direct stream and every
method call. Served by ``grpc.aio``, each message costs tens of microseconds of
Python in gRPC's own layers; ``remotemedia._runtime.GrpcEndpoint`` does HTTP/2,
framing and flow control in Rust and hands each batch of arrived messages to the
handler's event loop in one ``call_soon_threadsafe``. The handlers are the same
coroutines ``grpc.aio`` would run: they get the requests as an async iterator of
bytes and a context with the parts of ``grpc.aio.ServicerContext`` they use
(metadata, ``write``, trailing metadata, ``abort``).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from types import ModuleType
from typing import Any, NoReturn

import grpc

from remotemedia.core.engine import rust_runtime

__all__ = [
    "Handler",
    "InlineStep",
    "InlineStepError",
    "NativeEndpoint",
    "native_endpoint_available",
]

logger = logging.getLogger(__name__)

# handler(requests, context): an async generator of replies, or a coroutine that
# writes them through context.write.
Handler = Callable[[AsyncIterator[bytes], Any], Any]
# step(request) -> (reply or None, whether the input ended), or None: not now.
InlineStep = Callable[[bytes], "tuple[bytes | None, bool] | None"]


def _runtime_with_endpoint() -> ModuleType | None:
    runtime = rust_runtime()
    return runtime if runtime is not None and hasattr(runtime, "GrpcEndpoint") else None


def native_endpoint_available() -> bool:
    """Whether the Rust runtime is built with its gRPC endpoint."""
    return _runtime_with_endpoint() is not None


class _AbortError(Exception):
    """Raised by :meth:`_Context.abort`: ends the call with this status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Requests:
    """The client's messages, as the handler's async iterator."""

    def __init__(self, call: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._call = call
        self._loop = loop
        self._items: collections.deque[bytes] = collections.deque()
        self._ended = False
        self._waiter: asyncio.Future[None] | None = None
        # Given back when the handler asks for the next one (its reply is out by
        # then): the endpoint handles requests inline only when none is held.
        self._held = 0

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def add(self, items: list[bytes]) -> None:
        self._items.extend(items)
        self._wake()

    def end(self) -> None:
        self._ended = True
        self._wake()

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> bytes:
        if self._held:
            self._call.release(self._held)
            self._held = 0
        while not self._items:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = self._loop.create_future()
            await self._waiter
        self._held = 1
        return self._items.popleft()


class InlineStepError(RuntimeError):
    """An inline step could not finish without the event loop (ends the call)."""


class _Context:
    """The parts of ``grpc.aio.ServicerContext`` that the handlers use, and
    :meth:`serve_inline`."""

    def __init__(
        self, call: Any, metadata: list[tuple[str, bytes]], requests: _Requests
    ) -> None:
        self._call = call
        self._requests = requests
        self._metadata = tuple(
            (key, value if key.endswith("-bin") else value.decode("latin-1"))
            for key, value in metadata
        )
        self.trailers: Sequence[tuple[str, Any]] = ()

    def invocation_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._metadata

    async def write(self, message: bytes) -> None:
        self._call.send(message)

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, Any]]) -> None:
        self.trailers = metadata

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise _AbortError(code, details)

    def serve_inline(self, step: InlineStep) -> None:
        """Handles the coming requests with ``step`` on the endpoint's thread.

        While the handler holds no request, the endpoint passes each one that
        arrives to ``step(raw)`` on its own thread, with no hop to the event loop,
        and sends the reply it returns. ``step`` returns None when it cannot handle
        a request without the loop (or raises): that request and the later ones go
        to the handler's iterator as before. Once ``step`` reports that the input
        ended, the iterator ends too.
        """
        call, requests, loop = self._call, self._requests, self._requests._loop

        def run(batch: list[bytes]) -> int:
            for index, raw in enumerate(batch):
                try:
                    result = step(raw)
                except InlineStepError as exc:
                    call.finish(grpc.StatusCode.INTERNAL.value[0], str(exc))
                    return len(batch)
                except Exception:  # noqa: BLE001 - the loop runs it again and reports
                    logger.debug(
                        "inline step failed; the loop takes over", exc_info=True
                    )
                    result = None
                if result is None:
                    return index
                reply, ended = result
                if reply is not None:
                    call.send(reply)
                if ended:
                    call.go_inline(None)
                    loop.call_soon_threadsafe(requests.end)
                    return index + 1
            return len(batch)

        call.go_inline(run)


class _Call:
    """One call: its handler's task, fed by the endpoint's ``deliver``."""

    def __init__(
        self,
        handler: Handler,
        call: Any,
        metadata: list[tuple[str, bytes]],
        loop: asyncio.AbstractEventLoop,
        kinds: tuple[int, int, int],
    ) -> None:
        self._handler = handler
        self._call = call
        self._requests = _Requests(call, loop)
        self._context = _Context(call, metadata, self._requests)
        self._loop = loop
        self._messages, self._end, self._gone = kinds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = self._loop.create_task(self._serve())

    def deliver(self, kind: int, payload: list[bytes] | None) -> None:
        if kind == self._messages:
            self._requests.add(payload or [])
        elif kind == self._end:
            self._requests.end()
        elif self._task is not None and not self._task.done():
            self._task.cancel()  # the client has gone: stop its work

    async def _serve(self) -> None:
        call = self._call
        try:
            result = self._handler(self._requests, self._context)
            if inspect.isasyncgen(result):
                async for reply in result:
                    call.send(reply)
            else:
                await result
        except _AbortError as abort:
            call.finish(abort.code.value[0], abort.details, _trailers(self._context))
        except asyncio.CancelledError:
            call.finish(grpc.StatusCode.CANCELLED.value[0], "cancelled")
        except Exception:  # noqa: BLE001 - the status tells the client
            logger.exception("direct endpoint handler failed")
            call.finish(grpc.StatusCode.UNKNOWN.value[0], "internal server error")
        else:
            call.finish(0)


def _trailers(context: _Context) -> list[tuple[str, bytes]]:
    return [
        (key, value if isinstance(value, bytes) else str(value).encode())
        for key, value in context.trailers
    ]


class NativeEndpoint:
    """Serves bidi ``handlers`` on the Rust endpoint; they run on the current loop.

    Args:
        service: Full service name ("package.Service").
        handlers: Method name -> handler.
        host: Interface to bind (the port is picked by the system).
        max_message_bytes: Largest message accepted or sent.
        tls: (certificate PEM, private key PEM) to serve TLS, or None.
    """

    def __init__(
        self,
        service: str,
        handlers: dict[str, Handler],
        host: str,
        max_message_bytes: int,
        tls: tuple[bytes, bytes] | None = None,
    ) -> None:
        runtime = _runtime_with_endpoint()
        if runtime is None:
            raise RuntimeError(
                "the native endpoint needs remotemedia._runtime (build it with "
                "'make runtime')"
            )
        loop = asyncio.get_running_loop()
        kinds = (runtime.CALL_MESSAGES, runtime.CALL_END, runtime.CALL_GONE)
        paths = {f"/{service}/{name}": handler for name, handler in handlers.items()}

        def on_call(
            method: str, metadata: list[tuple[str, bytes]], call: Any
        ) -> Callable[[int, list[bytes] | None], None]:
            # On the endpoint's thread: only build the call; it starts on the loop.
            state = _Call(paths[method], call, metadata, loop, kinds)
            loop.call_soon_threadsafe(state.start)
            return state.deliver

        self._endpoint = runtime.GrpcEndpoint(
            host,
            list(paths),
            on_call,
            loop.call_soon_threadsafe,
            max_message_bytes,
            tls,
        )
        self.port: int = self._endpoint.port

    def stop(self, grace_s: float = 0.0) -> None:
        """Stops serving (calls in flight get ``grace_s`` to end)."""
        self._endpoint.stop(grace_s)
