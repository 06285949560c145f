"""Builds, starts and runs the gRPC front end (``remotemedia serve``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from remotemedia.remote import _rpc
from remotemedia_server.backend import LocalProcessBackend, WorkerBackend
from remotemedia_server.config import ServerConfig
from remotemedia_server.direct import TRANSPORTS
from remotemedia_server.servicer import (
    RemoteExecutionServicer,
    generic_handler,
    import_node_modules,
)

logger = logging.getLogger(__name__)

__all__ = [
    "RunningServer",
    "create_server",
    "serve",
    "add_serve_arguments",
    "bearer_ok",
    "main",
]

_UNAUTHENTICATED = (
    "missing or invalid token: send the metadata 'authorization: Bearer <token>' "
    "(the token is printed by 'remotemedia serve')"
)


def bearer_ok(given: str, token: str) -> bool:
    """Whether an ``authorization`` value is ``Bearer <token>`` (constant time).

    The one token check, used by the gRPC interceptor and the WebRTC app.
    """
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


class _AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without ``authorization: Bearer <token>`` (health is open)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        if details.method.startswith("/grpc.health.v1.Health/"):
            return await continuation(details)
        given = ""
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                given = value if isinstance(value, str) else value.decode()
        if bearer_ok(given, self._token):
            return await continuation(details)
        return _deny_handler(details.method)


def _deny_handler(method: str) -> Any:
    kind = _rpc.METHODS.get(method.rsplit("/", 1)[-1], ("unary_unary",))[0]

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED)

    async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED)
        yield b""  # pragma: no cover - makes this an async generator

    if kind == "unary_stream":
        return grpc.unary_stream_rpc_method_handler(deny_stream)
    if kind == "stream_stream":
        return grpc.stream_stream_rpc_method_handler(deny_stream)
    return grpc.unary_unary_rpc_method_handler(deny)


class RunningServer:
    """A started server.

    Attributes:
        server: The grpc.aio server.
        port: The bound TCP port.
        address: ``host:port``.
        token: The bearer token (None when authentication is off).
        servicer: The RemoteExecution servicer.
    """

    def __init__(
        self,
        server: grpc.aio.Server,
        port: int,
        config: ServerConfig,
        servicer: RemoteExecutionServicer,
    ) -> None:
        self.server = server
        self.port = port
        self.address = f"{config.host}:{port}"
        self.token = config.token
        self.config = config
        self.servicer = servicer

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stops accepting calls, ends the sessions and their workers."""
        await self.server.stop(grace)
        await self.servicer.stop()


async def create_server(
    config: ServerConfig | None = None, backend: WorkerBackend | None = None
) -> RunningServer:
    """Builds and starts a server on the running event loop.

    Args:
        config: Options (defaults: loopback, free port, no token).
        backend: Worker placement (default: local subprocesses, warm pool).

    Returns:
        The running server, with its bound port.
    """
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    config = config or ServerConfig()
    import_node_modules(config.node_modules)
    backend = backend or LocalProcessBackend(
        config.workers, config.kill_grace_s, config.direct_options()
    )
    max_bytes = int(config.max_message_mb) * 2**20
    interceptors = [_AuthInterceptor(config.token)] if config.token else []
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            *_rpc.channel_options(max_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    servicer = RemoteExecutionServicer(config, backend)
    server.add_generic_rpc_handlers((generic_handler(servicer),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    target = f"{config.host}:{config.port}"
    if config.tls_cert and config.tls_key:
        credentials = grpc.ssl_server_credentials(
            [(Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())]
        )
        port = server.add_secure_port(target, credentials)
    elif config.tls_cert or config.tls_key:
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    else:
        port = server.add_insecure_port(target)
    await servicer.start()
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    await health_servicer.set("", serving)
    await health_servicer.set(_rpc.SERVICE, serving)
    return RunningServer(server, port, config, servicer)


async def serve(config: ServerConfig, parent_pid: int | None = None) -> None:
    """Runs a server until SIGINT/SIGTERM (or until ``parent_pid`` exits)."""
    running = await create_server(config)
    token = config.token or "none"
    print(
        f"remotemedia server listening on {running.address} token={token}", flush=True
    )
    webrtc = await _start_webrtc(config) if config.webrtc else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    watcher = None
    if parent_pid:
        watcher = loop.create_task(_watch_parent(parent_pid, stop))
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    if webrtc is not None:
        await webrtc.stop()
    await running.stop()


async def _start_webrtc(config: ServerConfig) -> Any:
    """Starts the standalone WebRTC page and ``/offer`` (``serve --webrtc``)."""
    from remotemedia.webrtc.app import create_app, pipeline_factory, start_site

    token = config.token
    app = create_app(
        pipeline_factory(config.webrtc_pipeline),
        authorize=(lambda given: bearer_ok(given, token)) if token else None,
    )
    site = await start_site(app, config.host, config.webrtc_port)
    query = f"?token={token}" if token else ""
    print(f"remotemedia webrtc page on {site.url}{query}", flush=True)
    return site


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    # An embedded server must not outlive the notebook or test that started it.
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != pid:
            stop.set()
            return


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``serve`` options to ``parser``."""
    parser.add_argument("--host", default=None, help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (0: any free)")
    parser.add_argument(
        "--token", default=None, help="bearer token (default: random, printed)"
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="accept calls without a token"
    )
    parser.add_argument("--tls-cert", default=None, help="PEM certificate for TLS")
    parser.add_argument("--tls-key", default=None, help="PEM private key for TLS")
    parser.add_argument("--max-message-mb", type=int, default=None)
    parser.add_argument("--config", default=None, help="server.yaml")
    parser.add_argument("--workers", type=int, default=None, help="warm workers")
    parser.add_argument("--memory-mb", type=int, default=None, help="per session")
    parser.add_argument("--call-timeout", type=float, default=None, help="seconds")
    parser.add_argument("--idle-timeout", type=float, default=None, help="seconds")
    parser.add_argument("--max-objects", type=int, default=None)
    parser.add_argument("--kill-grace", type=float, default=None, help="seconds")
    parser.add_argument(
        "--no-direct",
        action="store_true",
        help="stream through this port only (no per-session worker ports)",
    )
    parser.add_argument(
        "--direct-transport",
        choices=TRANSPORTS,
        default=None,
        help="what serves the worker ports: native (Rust), grpcio, or auto",
    )
    parser.add_argument(
        "--webrtc",
        action="store_true",
        help="also serve the WebRTC demo page and POST /offer (needs the webrtc extra)",
    )
    parser.add_argument(
        "--webrtc-port", type=int, default=None, help="WebRTC page port (default 8080)"
    )
    parser.add_argument(
        "--webrtc-pipeline",
        default=None,
        help="manifest.json run on each WebRTC connection (default: pass-through)",
    )
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--exit-with-parent", type=int, default=None, help=argparse.SUPPRESS
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Merges ``server.yaml`` and command-line options (the command line wins)."""
    config = ServerConfig.from_yaml(args.config) if args.config else ServerConfig()
    options = {
        "host": args.host,
        "port": args.port,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "max_message_mb": args.max_message_mb,
        "workers": args.workers,
        "kill_grace_s": args.kill_grace,
        "direct_transport": args.direct_transport,
        "webrtc_port": args.webrtc_port,
        "webrtc_pipeline": args.webrtc_pipeline,
    }
    config.update({k: v for k, v in options.items() if v is not None}, "command line")
    limits = {
        "memory_mb": args.memory_mb,
        "call_timeout_s": args.call_timeout,
        "idle_timeout_s": args.idle_timeout,
        "max_objects": args.max_objects,
    }
    limits = {k: v for k, v in limits.items() if v is not None}
    if limits:
        config.update({"limits": limits}, "command line")
    if args.no_direct:
        config.direct_streams = False
    if args.webrtc:
        config.webrtc = True
    if args.no_auth:
        config.token = None
    else:
        config.token = (
            args.token
            or os.environ.get("REMOTEMEDIA_TOKEN")
            or (config.token or secrets.token_hex(24))
        )
    return config


def run_from_args(args: argparse.Namespace) -> int:
    """Runs ``serve`` with parsed arguments."""
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        config = config_from_args(args)
        if config.webrtc:  # a bad manifest or a missing extra fails here, briefly
            from remotemedia.webrtc.app import pipeline_factory

            pipeline_factory(config.webrtc_pipeline)
    except (ValueError, OSError, ImportError) as exc:
        print(f"remotemedia serve: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config, args.exit_with_parent))
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m remotemedia_server``: same options as ``remotemedia serve``."""
    parser = argparse.ArgumentParser(
        prog="remotemedia_server", description="remotemedia remote execution server"
    )
    add_serve_arguments(parser)
    return run_from_args(parser.parse_args(argv))
