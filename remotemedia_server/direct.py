"""A session worker's own gRPC endpoint: streams and calls without the front-end hop.

Relayed by the front end, a frame or a method call crosses three processes (client,
front end, session worker) and two sockets each way. Through this endpoint it
crosses two, like a plain gRPC echo. The worker serves ``StreamPipeline`` and
``CallStream`` (method calls, code cells) here, for the one session it belongs to,
and only to callers presenting its own bearer token, which the front end hands to
that session's client (``OpenSession``, ``SessionEndpoint``). Limits hold as they
do through the front end; crash reports still come from the front end, which sees
the worker end. A client that cannot reach this port uses the front end instead.

The Rust runtime's gRPC endpoint serves the port when it is built
(:mod:`remotemedia_server.native_endpoint`), else ``grpc.aio``; the handlers here
are the same for both.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hmac
import logging
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import grpc

from remotemedia.core.errors import RemoteError
from remotemedia.remote import _rpc, codec
from remotemedia.remote._proto import execution_pb2 as epb
from remotemedia.remote.status import abort_with, error_from_record
from remotemedia_server import calls, protocol
from remotemedia_server.native_endpoint import (
    NativeEndpoint,
    native_endpoint_available,
)

logger = logging.getLogger(__name__)

# What can serve a worker's endpoint (DirectOptions.transport).
TRANSPORTS = ("auto", "native", "grpcio")


@dataclasses.dataclass
class DirectOptions:
    """How a worker serves its direct endpoint (the front end's own settings).

    Attributes:
        host: Interface to bind: the front end's.
        tls_cert: PEM certificate file (TLS when set with ``tls_key``).
        tls_key: PEM private key file.
        max_message_mb: Largest message accepted or sent.
        transport: What serves the endpoint: "native" (the Rust runtime's gRPC
            endpoint), "grpcio" (``grpc.aio``) or "auto" (native when the runtime
            is built).
    """

    host: str = "127.0.0.1"
    tls_cert: str | None = None
    tls_key: str | None = None
    max_message_mb: int = 256
    transport: str = "auto"

    def to_args(self) -> list[str]:
        """The worker command-line options that carry these settings."""
        args = [
            "--direct-host",
            self.host,
            "--max-message-mb",
            str(self.max_message_mb),
            "--direct-transport",
            self.transport,
        ]
        if self.tls_cert and self.tls_key:
            args += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        return args

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Adds the options :meth:`to_args` writes."""
        parser.add_argument("--direct-host", default=None)
        parser.add_argument("--max-message-mb", type=int, default=256)
        parser.add_argument("--tls-cert", default=None)
        parser.add_argument("--tls-key", default=None)
        parser.add_argument("--direct-transport", choices=TRANSPORTS, default="auto")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DirectOptions | None:
        """The options parsed by :meth:`add_arguments` (None: no direct endpoint)."""
        if args.direct_host is None:
            return None
        return cls(
            args.direct_host,
            args.tls_cert,
            args.tls_key,
            args.max_message_mb,
            args.direct_transport,
        )

    def native(self) -> bool:
        """Whether the Rust runtime serves the endpoint (``transport``).

        Raises:
            ValueError: "native" was asked for and the runtime is not built.
        """
        if self.transport not in TRANSPORTS:
            raise ValueError(
                f"direct_transport must be one of {', '.join(TRANSPORTS)}, "
                f"not {self.transport!r}"
            )
        available = native_endpoint_available()
        if self.transport == "native" and not available:
            raise ValueError(
                "direct_transport 'native' needs the Rust runtime "
                "(remotemedia._runtime): build it with 'make runtime', or use "
                "'auto' or 'grpcio'"
            )
        return available and self.transport != "grpcio"


class StreamRun(Protocol):
    """One stream on the worker (an async context manager)."""

    async def __aenter__(self) -> StreamRun: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def handle(self, requests: list[bytes]) -> tuple[bytes | None, bool]:
        """The response to ``requests`` (or None), and whether input ended."""
        ...

    def step(self, raw: bytes) -> tuple[bytes | None, bool] | None:
        """``handle([raw])`` done on the calling thread, or None if it cannot be."""
        ...

    async def finish(self) -> bytes:
        """The last response (end-of-stream outputs)."""
        ...


class StreamHost(Protocol):
    """What the endpoint needs from its worker."""

    session_id: str | None

    def stream_run(self, spec: dict[str, Any], direct: bool) -> StreamRun:
        """One stream over the segment ``spec``."""
        ...

    def error_payload(self, exc: BaseException) -> dict[str, str]:
        """The error record reporting ``exc``."""
        ...

    def call_timeout(self, requested: float) -> float:
        """The wall-time limit of one call."""
        ...

    def local_request(
        self, op: str, payload: Any, timeout: float
    ) -> AsyncGenerator[tuple[str, Any], None]:
        """Runs an op as the front end would; yields events, then the final reply."""
        ...


class DirectServer:
    """Serves ``StreamPipeline`` and ``CallStream`` for one worker's session; the
    handlers run on the worker's loop (frames of synchronous nodes on the native
    endpoint's thread).

    Args:
        host: The worker (its session id, streams and error reporting).
        options: Interface, TLS, message size and transport.
    """

    def __init__(self, host: StreamHost, options: DirectOptions) -> None:
        self.host = host
        self.options = options
        self.token = secrets.token_hex(24)
        self.port = 0
        self._expected = f"Bearer {self.token}".encode()
        self._server: grpc.aio.Server | None = None
        self._native: NativeEndpoint | None = None

    async def start(self) -> int:
        """Binds a free port and starts serving; returns the port."""
        max_bytes = int(self.options.max_message_mb) * 2**20
        if self.options.native():
            self._native = NativeEndpoint(
                _rpc.SERVICE,
                {"StreamPipeline": self._stream, "CallStream": self._calls},
                self.options.host,
                max_bytes,
                self._tls_pem(),
            )
            self.port = self._native.port
            return self.port
        server = grpc.aio.server(
            options=[
                *_rpc.channel_options(max_bytes),
                ("grpc.so_reuseport", 0),
            ]
        )
        handler = grpc.method_handlers_generic_handler(
            _rpc.SERVICE,
            {
                "StreamPipeline": grpc.stream_stream_rpc_method_handler(self._stream),
                "CallStream": grpc.stream_stream_rpc_method_handler(self._calls),
            },
        )
        server.add_generic_rpc_handlers((handler,))
        target = f"{self.options.host}:0"
        tls = self._tls_pem()
        if tls is not None:
            cert, key = tls
            credentials = grpc.ssl_server_credentials([(key, cert)])
            self.port = server.add_secure_port(target, credentials)
        else:
            self.port = server.add_insecure_port(target)
        await server.start()
        self._server = server
        return self.port

    @property
    def transport(self) -> str:
        """What serves the endpoint: "native" or "grpcio"."""
        return "native" if self._native is not None else "grpcio"

    def _tls_pem(self) -> tuple[bytes, bytes] | None:
        """(certificate, private key) PEM when TLS is configured."""
        if self.options.tls_cert and self.options.tls_key:
            return (
                Path(self.options.tls_cert).read_bytes(),
                Path(self.options.tls_key).read_bytes(),
            )
        return None

    def _authorized(self, context: grpc.aio.ServicerContext) -> bool:
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                given = value if isinstance(value, bytes) else value.encode()
                return hmac.compare_digest(given, self._expected)
        return False

    def _check_token(self, context: grpc.aio.ServicerContext) -> None:
        if not self._authorized(context):
            raise RemoteError(
                "missing or invalid session token for this worker endpoint "
                "(it comes with the session: OpenSession or SessionEndpoint)",
                code="UNAUTHENTICATED",
            )

    def _check_session(self, session_id: str) -> None:
        if session_id != self.host.session_id:
            raise RemoteError(
                f"this worker serves session '{self.host.session_id}', "
                f"not '{session_id}'",
                code="NOT_FOUND",
            )

    async def _calls(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> None:
        try:
            self._check_token(context)
            await calls.serve_call_stream(
                requests, context, self._call_raw, self._execute_events
            )
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported with its status
            failure = exc
        await abort_with(context, failure)

    async def _call_raw(self, session_id: str, raw: bytes, timeout_s: float) -> bytes:
        self._check_session(session_id)
        kind: str = "err"
        result: Any = None
        requests = self.host.local_request(
            "call_raw", raw, self.host.call_timeout(timeout_s)
        )
        async for kind, result in requests:
            pass
        if kind == "err":
            raise error_from_record(result)
        return bytes(result)

    async def _execute_events(
        self, session_id: str, code: str, timeout_s: float
    ) -> AsyncGenerator[bytes, None]:
        self._check_session(session_id)
        requests = self.host.local_request(
            "execute", {"code": code}, self.host.call_timeout(timeout_s)
        )
        try:
            async for kind, item in requests:
                if kind == "event":
                    yield item
                elif kind == "err":
                    raise error_from_record(item)
        finally:
            await requests.aclose()  # a cancelled cell stops now

    async def _stream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        try:
            self._check_token(context)
            iterator = requests.__aiter__()
            try:
                raw = await iterator.__anext__()
            except StopAsyncIteration:
                return
            first = codec.parse(epb.StreamRequest, raw, "StreamRequest")
            if first.WhichOneof("kind") != "open":
                raise codec.CodecError(
                    "the first StreamPipeline message must be 'open'"
                )
            self._check_session(first.open.session_id)
            spec = protocol.pipeline_spec(first.open.pipeline)

            async with self.host.stream_run(spec, direct=True) as run:
                serve_inline = getattr(context, "serve_inline", None)
                if serve_inline is not None:
                    # The native endpoint: frames of synchronous nodes are
                    # handled on its thread as they arrive, with no loop hop.
                    serve_inline(run.step)
                async for raw in iterator:
                    response, ended = await run.handle([raw])
                    if response is not None:
                        yield response
                    if ended:
                        break
                yield await run.finish()
            return
        except asyncio.CancelledError:
            raise
        except RemoteError as exc:
            failure: BaseException = exc
        except Exception as exc:  # noqa: BLE001 - reported with its status
            failure = error_from_record(self.host.error_payload(exc))
        await abort_with(context, failure)
