"""Client side of remote execution: :func:`connect` and :class:`Session`.

gRPC channels belong to an event loop, so every session's channel lives on the
shared background loop of :mod:`remotemedia.core._sync`. Sync methods run there and
wait (also inside Jupyter, whose loop runs in the main thread); ``a``-prefixed async
methods hop to that loop from whatever loop awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import platform
import queue
import sys
import sysconfig
import threading
import time
import types
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from pathlib import Path
from typing import Any, TypeVar

import cloudpickle
import grpc

from remotemedia.core._sync import background_loop, run_sync
from remotemedia.core.errors import RemoteError
from remotemedia.core.node import Node
from remotemedia.remote import _rpc, codec
from remotemedia.remote._proto import execution_pb2 as epb
from remotemedia.remote.sources import code_files, with_sources
from remotemedia.remote.status import error_from_record, error_from_rpc

__all__ = [
    "Session",
    "ExecuteResult",
    "connect",
    "current_session",
    "default_session",
    "set_current_session",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_MESSAGE = 256 * 2**20
# Seconds to reach a session worker's own endpoint before using the front end.
_DIRECT_CONNECT_S = 3.0
# Direct-stream failures that may mean the worker went away (the front end knows).
_LOST_CODES = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
)


@dataclasses.dataclass
class _DirectChannel:
    """A channel to a session worker's own endpoint (StreamPipeline, CallStream)."""

    channel: grpc.aio.Channel
    stream: Any
    calls: Any
    metadata: tuple[tuple[str, str], ...]
    # What the front end said when calls on this channel failed (asked once).
    failure: asyncio.Future[RemoteError] | None = None


# The current session: what every ``session=None`` API and the magics use.
_current: Session | None = None
_current_lock = threading.RLock()


async def hop(coro: Coroutine[Any, Any, T]) -> T:
    """Awaits ``coro`` on the background loop from any event loop."""
    loop = background_loop()
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


# -- pickling helpers ----------------------------------------------------------------
_INSTALLED_PREFIXES = tuple(
    {
        p
        for p in (
            sysconfig.get_paths().get("stdlib"),
            sysconfig.get_paths().get("purelib"),
            sysconfig.get_paths().get("platlib"),
        )
        if p
    }
)


def _by_value(module_name: str) -> bool:
    """Whether code of ``module_name`` travels by value (registering it if so)."""
    # Classes from scripts, notebooks and test modules are not importable on the
    # server: send their code along (cloudpickle does this for __main__ already).
    top = module_name.split(".")[0]
    if module_name == "__main__":
        return True
    if top in ("remotemedia", "remotemedia_server", "builtins"):
        return False
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None)
    if module is None or not filename:
        return False
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    if filename.startswith(_INSTALLED_PREFIXES):
        return False
    try:
        cloudpickle.register_pickle_by_value(module)
    except ValueError:
        pass
    return True


def _register_classes(obj: Any) -> set[str]:
    """Registers the modules of ``obj``'s local classes to travel by value;
    returns the files their code (and that of local functions) comes from."""
    files: set[str] = set()
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    for item in items:
        classes = item.__mro__ if isinstance(item, type) else type(item).__mro__
        for cls in classes:
            if _by_value(cls.__module__):
                files |= code_files(cls)
        if isinstance(item, types.FunctionType) and _by_value(item.__module__ or ""):
            files |= code_files(item)
        if isinstance(item, Node):
            for value in item.__dict__.values():
                if (
                    callable(value)
                    and hasattr(value, "__module__")
                    and value.__module__
                    and _by_value(value.__module__)
                ):
                    files |= code_files(value)
    return files


def dumps_for_remote(obj: Any, what: str, sent: set[Any] | None = None) -> bytes:
    """cloudpickles ``obj`` for a server (local classes travel by value, with the
    source lines of their notebook cells or files, once per ``sent`` set)."""
    files = _register_classes(obj)
    if files:
        obj = with_sources(obj, files, sent)
    return codec.dumps(obj, what)


# -- results ---------------------------------------------------------------------------
@dataclasses.dataclass
class ExecuteResult:
    """What a remote cell produced.

    Attributes:
        value_bundle: Mime bundle of the last expression's value (None when the cell
            ends with a statement or the value is None).
        stdout: Everything the cell printed to stdout.
        stderr: Everything the cell printed to stderr.
        displays: Mime bundles of ``display()`` calls and figures, in order.
    """

    value_bundle: dict[str, Any] | None = None
    stdout: str = ""
    stderr: str = ""
    displays: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        return self.value_bundle


def _apply_event(
    result: ExecuteResult,
    event: epb.ExecuteCodeEvent,
    on_stream: Callable[[str, str], None] | None,
    on_display: Callable[[dict[str, Any]], None] | None,
) -> RemoteError | None:
    kind = event.WhichOneof("kind")
    if kind == "stream":
        name, text = event.stream.name, event.stream.text
        if name == "stderr":
            result.stderr += text
        else:
            result.stdout += text
        if on_stream is not None:
            on_stream(name, text)
    elif kind == "display_json":
        bundle = json.loads(event.display_json)
        result.displays.append(bundle)
        if on_display is not None:
            on_display(bundle)
    elif kind == "result_json":
        result.value_bundle = json.loads(event.result_json)
    elif kind == "error":
        error = event.error
        return RemoteError(
            f"{error.error_type}: {error.message}",
            code="",
            remote_traceback=error.traceback,
            error_type=error.error_type,
        )
    return None


class Session:
    """A session on a remotemedia server: a namespace, objects and node instances
    that live in one worker process on the server.

    Use :func:`connect` to open one. Sessions are context managers.

    Attributes:
        address: ``host:port`` of the server.
        token: The bearer token used.
        id: Session id given by the server.
        limits: The server's per-session limits.
    """

    def __init__(
        self,
        address: str,
        token: str | None = None,
        *,
        tls: bool | str = False,
        timeout: float = 30.0,
        server: Any = None,
        direct: bool = True,
    ) -> None:
        self.address = address
        self.token = token
        self.id = ""
        self.limits: dict[str, Any] = {}
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._server = server
        self._channel: grpc.aio.Channel | None = None
        self._stubs: dict[str, Any] = {}
        self._raw_stream: Any = None
        self._calls: _CallStream | None = None
        self._closed = False
        self._credentials: grpc.ChannelCredentials | None = None
        self._use_direct = direct
        # (port, token) of the worker's own endpoint, and its channel once open.
        self._direct_endpoint: tuple[int, str] | None = None
        self._direct: _DirectChannel | None = None
        self._sync_calls: _SyncCalls | None = None
        self._sync_lock = threading.Lock()
        # Source files already sent to the worker (see remotemedia.remote.sources).
        self._sources_sent: set[Any] = set()
        run_sync(self._aopen(tls, timeout))

    # -- plumbing ------------------------------------------------------------------
    async def _aopen(self, tls: bool | str, timeout: float) -> None:
        options = _rpc.channel_options(_MAX_MESSAGE)
        if tls:
            root = Path(tls).read_bytes() if isinstance(tls, str) else None
            credentials = grpc.ssl_channel_credentials(root_certificates=root)
            self._credentials = credentials
            channel = grpc.aio.secure_channel(self.address, credentials, options)
        else:
            channel = grpc.aio.insecure_channel(self.address, options)
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except asyncio.TimeoutError:
            await channel.close()
            raise RemoteError(
                f"cannot reach a remotemedia server at {self.address} within "
                f"{timeout:g} s",
                code="UNAVAILABLE",
            ) from None
        self._channel = channel
        for name, (kind, request_type, response_type) in _rpc.METHODS.items():
            factory = getattr(channel, kind)
            self._stubs[name] = factory(
                _rpc.path(name),
                request_serializer=request_type.SerializeToString,
                response_deserializer=response_type.FromString,
            )
        # Streams send pre-serialized requests (frames are encoded once).
        self._raw_stream = channel.stream_stream(
            _rpc.path("StreamPipeline"),
            request_serializer=None,
            response_deserializer=epb.StreamResponse.FromString,
        )
        client = f"python {platform.python_version()} pid {os.getpid()}"
        try:
            info = await self._unary(
                "OpenSession", epb.OpenSessionRequest(client=client)
            )
        except BaseException:
            await channel.close()
            raise
        self.id = info.session_id
        self.limits = json.loads(info.limits_json or "{}")
        self._set_direct_endpoint(info.direct)

    # -- the worker's direct endpoint ------------------------------------------------
    def _set_direct_endpoint(self, endpoint: epb.DirectEndpoint) -> None:
        self._drop_sync_calls()
        if self._direct is not None:
            # Streams still on it finish or fail on their own; new ones reopen.
            old, self._direct = self._direct, None
            asyncio.get_running_loop().create_task(old.channel.close())
        self._direct_endpoint = (
            (endpoint.port, endpoint.token)
            if self._use_direct and endpoint.port
            else None
        )

    async def _direct_channel(self) -> _DirectChannel | None:
        """The open channel to the session worker's own endpoint, or None when
        the server offers none or it cannot be reached (then streams go through
        the front end)."""
        if self._direct is not None or self._direct_endpoint is None:
            return self._direct
        port, token = self._direct_endpoint
        host = self.address.rsplit(":", 1)[0]
        target = f"{host}:{port}"
        options = _rpc.channel_options(_MAX_MESSAGE)
        if self._credentials is not None:
            channel = grpc.aio.secure_channel(target, self._credentials, options)
        else:
            channel = grpc.aio.insecure_channel(target, options)
        try:
            await asyncio.wait_for(channel.channel_ready(), _DIRECT_CONNECT_S)
        except asyncio.TimeoutError:
            await channel.close()
            logger.info(
                "session worker endpoint %s not reachable; streaming through %s",
                target,
                self.address,
            )
            self._direct_endpoint = None
            return None
        stream = channel.stream_stream(
            _rpc.path("StreamPipeline"),
            request_serializer=None,
            response_deserializer=epb.StreamResponse.FromString,
        )
        calls = channel.stream_stream(
            _rpc.path("CallStream"),
            request_serializer=epb.CallStreamRequest.SerializeToString,
            response_deserializer=epb.CallStreamResponse.FromString,
        )
        self._direct = _DirectChannel(
            channel, stream, calls, (("authorization", f"Bearer {token}"),)
        )
        return self._direct

    async def _direct_failure(
        self, exc: grpc.aio.AioRpcError, channel: _DirectChannel
    ) -> RemoteError:
        """The error to report for a failed call on the worker's own endpoint.

        A worker that crashed or was killed cannot say why over its own endpoint;
        the front end can, and hands over the replacement worker's endpoint. It
        is asked once per channel: every call that failed with it gets the answer.
        """
        error = error_from_rpc(exc, self.address)
        if exc.code() not in _LOST_CODES:
            return error  # reported by the worker itself
        if channel.failure is None:
            channel.failure = asyncio.get_running_loop().create_future()
            report = error
            try:
                info = await self._unary("SessionEndpoint", self._ref(), timeout=30)
            except RemoteError:
                pass
            else:
                if channel is self._direct or self._direct is None:
                    self._set_direct_endpoint(info.direct)
                if info.worker_failure_json:
                    report = error_from_record(json.loads(info.worker_failure_json))
            channel.failure.set_result(report)
        return await asyncio.shield(channel.failure)

    async def _unary(
        self, name: str, request: Any, timeout: float | None = None
    ) -> Any:
        if self._closed and name != "CloseSession":
            raise RemoteError(
                f"session {self.id} is closed", code="FAILED_PRECONDITION"
            )
        try:
            return await self._stubs[name](
                request, metadata=self._metadata, timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc, self.address) from None

    def _ref(self) -> epb.SessionRef:
        return epb.SessionRef(session_id=self.id)

    # -- info ------------------------------------------------------------------------
    async def _ainfo(self) -> dict[str, Any]:
        info = await self._unary("ServerInfo", epb.ServerInfoRequest())
        return {
            "address": self.address,
            "version": info.version,
            "capabilities": list(info.capabilities),
            "python_version": info.python_version,
            "rust_runtime": info.rust_runtime,
            "gpu": json.loads(info.gpu_json or "[]"),
            "limits": json.loads(info.limits_json or "{}"),
        }

    def info(self) -> dict[str, Any]:
        """Server version, capabilities, GPUs, limits, Python version, Rust runtime."""
        return run_sync(self._ainfo())

    async def ainfo(self) -> dict[str, Any]:
        """Async :meth:`info`."""
        return await hop(self._ainfo())

    async def _astatus(self) -> dict[str, Any]:
        reply = await self._unary("SessionStatus", self._ref())
        status: dict[str, Any] = json.loads(reply.json)
        status["server"] = self.address
        return status

    def status(self) -> dict[str, Any]:
        """Server, session id, uptime, worker memory (RSS), objects, variables, GPUs."""
        return run_sync(self._astatus())

    async def astatus(self) -> dict[str, Any]:
        """Async :meth:`status`."""
        return await hop(self._astatus())

    async def _alist_nodes(self) -> list[dict[str, Any]]:
        reply = await self._unary("ListNodes", epb.ListNodesRequest())
        return [
            {
                "name": n.name,
                "summary": n.summary,
                "module": n.module,
                "parameters": json.loads(n.parameters_json or "[]"),
            }
            for n in reply.nodes
        ]

    def list_nodes(self) -> list[dict[str, Any]]:
        """The node types the server offers (name, summary, module, parameters)."""
        return run_sync(self._alist_nodes())

    # -- lifecycle --------------------------------------------------------------------
    async def _aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        _forget_current(self)
        if self._calls is not None:
            self._calls.close()
        try:
            await self._unary("CloseSession", self._ref(), timeout=10)
        except RemoteError as exc:
            logger.debug("closing session %s: %s", self.id, exc)
        self._drop_sync_calls()
        if self._direct is not None:
            await self._direct.channel.close()
            self._direct = None
        if self._channel is not None:
            await self._channel.close()

    def close(self) -> None:
        """Closes the session: its worker, namespace and objects go away."""
        if not self._closed:
            run_sync(self._aclose())

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        await hop(self._aclose())

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"Session({self.address}, id={self.id[:8]}, {state})"

    # -- code ---------------------------------------------------------------------------
    async def _execute_events(
        self, code: str, timeout: float | None, sink: Callable[[Any], None]
    ) -> None:
        if self._closed:
            raise RemoteError(
                f"session {self.id} is closed", code="FAILED_PRECONDITION"
            )
        # Over the session's CallStream: a message on an open stream costs much
        # less than a new call (the ExecuteCode RPC stays for other clients).
        request = epb.CallStreamRequest()
        execute = request.execute
        execute.session_id = self.id
        execute.code = code
        execute.timeout_s = float(timeout or 0)
        calls = await self._open_calls()
        await calls.execute(request, sink)

    def execute(
        self,
        code: str,
        *,
        timeout: float | None = None,
        on_stream: Callable[[str, str], None] | None = None,
        on_display: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExecuteResult:
        """Runs a code cell in the session namespace.

        Statements run in order; when the last one is an expression its value comes
        back as a mime bundle (like IPython). Output streams back live: the callbacks
        run in the calling thread as the remote cell writes.

        Args:
            code: Python source.
            timeout: Wall-time limit in seconds (the server's limit applies too).
            on_stream: Called with ("stdout" | "stderr", text) for each write.
            on_display: Called with each display's mime bundle (Jupyter format).

        Returns:
            The cell's value bundle, captured output and displays.

        Raises:
            RemoteError: When the cell raised (``.error_type``, ``.remote_traceback``)
                or a limit was hit (``.code`` such as "DEADLINE_EXCEEDED").
            KeyboardInterrupt: Interrupting the wait cancels the remote execution.
        """
        loop = background_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError(
                "Session.execute called from the remotemedia loop; "
                "use 'await session.aexecute(...)'"
            )
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        done = object()

        async def pump() -> None:
            try:
                await self._execute_events(code, timeout, events.put)
            finally:
                events.put(done)

        future = asyncio.run_coroutine_threadsafe(pump(), loop)
        result = ExecuteResult()
        error: RemoteError | None = None
        finished = False
        try:
            while True:
                event = events.get()
                if event is done:
                    finished = True
                    break
                error = _apply_event(result, event, on_stream, on_display) or error
            future.result()
        except BaseException:
            future.cancel()
            if not finished:
                # Return once the cancel is on its way to the server (bounded), so
                # that the interrupted cell stops before the caller goes on.
                deadline = time.monotonic() + 2.0
                with contextlib.suppress(queue.Empty):
                    while (
                        events.get(timeout=max(0.0, deadline - time.monotonic()))
                        is not done
                    ):
                        pass
            raise
        if error is not None:
            raise error
        return result

    async def aexecute(
        self,
        code: str,
        *,
        timeout: float | None = None,
        on_stream: Callable[[str, str], None] | None = None,
        on_display: Callable[[dict[str, Any]], None] | None = None,
    ) -> ExecuteResult:
        """Async :meth:`execute`; cancelling the awaiting task cancels the cell."""
        caller = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()
        result = ExecuteResult()
        error: RemoteError | None = None

        def sink(event: Any) -> None:
            caller.call_soon_threadsafe(events.put_nowait, event)

        task = asyncio.ensure_future(hop(self._execute_events(code, timeout, sink)))
        try:
            while True:
                getter = asyncio.ensure_future(events.get())
                finished, _ = await asyncio.wait(
                    {getter, task}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in finished:
                    error = (
                        _apply_event(result, getter.result(), on_stream, on_display)
                        or error
                    )
                    continue
                getter.cancel()
                while not events.empty():
                    event = events.get_nowait()
                    error = _apply_event(result, event, on_stream, on_display) or error
                task.result()
                break
        except BaseException:
            task.cancel()
            raise
        if error is not None:
            raise error
        return result

    # -- variables ------------------------------------------------------------------------
    async def _apush(self, variables: dict[str, Any]) -> None:
        request = epb.PushVariablesRequest(session_id=self.id)
        for name, value in variables.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"variable names must be identifiers, got {name!r}")
            request.variables[name] = dumps_for_remote(
                value, f"variable '{name}'", self._sources_sent
            )
        await self._unary("PushVariables", request)

    def push(self, **variables: Any) -> None:
        """Sends variables into the session namespace (cloudpickled).

        Raises:
            TypeError: Naming the variable that cannot be pickled, and why.
        """
        run_sync(self._apush(variables))

    def push_dict(self, variables: dict[str, Any]) -> None:
        """Like :meth:`push`, from a dict."""
        run_sync(self._apush(dict(variables)))

    async def apush_dict(self, variables: dict[str, Any]) -> None:
        """Async :meth:`push_dict`."""
        await hop(self._apush(dict(variables)))

    async def _apull(self, names: tuple[str, ...]) -> dict[str, Any]:
        request = epb.PullVariablesRequest(session_id=self.id, names=list(names))
        reply = await self._unary("PullVariables", request)
        return {
            name: codec.loads(reply.variables[name], f"variable '{name}'")
            for name in names
        }

    def pull(self, *names: str) -> dict[str, Any]:
        """Fetches variables from the session namespace.

        Raises:
            RemoteError: Naming a missing variable (code NOT_FOUND) or one that
                cannot be pickled (FAILED_PRECONDITION).
        """
        return run_sync(self._apull(names))

    async def apull(self, *names: str) -> dict[str, Any]:
        """Async :meth:`pull`."""
        return await hop(self._apull(names))

    def reset(self) -> None:
        """Clears the session namespace, remote objects and remote node instances."""
        run_sync(self._unary("ResetSession", self._ref()))

    # -- objects ---------------------------------------------------------------------------
    async def _acreate_object(self, obj: Any) -> tuple[str, str]:
        data = dumps_for_remote(obj, "remote object", self._sources_sent)
        request = epb.CreateObjectRequest(
            session_id=self.id,
            object=codec.pb.PickledObject(data=data, type_name=type(obj).__qualname__),
        )
        ref = await self._unary("CreateObject", request)
        return ref.object_id, ref.type_name

    def _drop_sync_calls(self) -> None:
        with self._sync_lock:
            sync, self._sync_calls = self._sync_calls, None
        if sync is not None:
            sync.close()

    def _sync_stream(self) -> _SyncCalls | None:
        """The blocking call stream to the worker's endpoint, once the asyncio
        one reached it (else None: calls take the asyncio path)."""
        direct = self._direct
        if direct is None or self._closed or self._direct_endpoint is None:
            return None
        with self._sync_lock:
            sync = self._sync_calls
            if sync is None or sync.broken or sync.direct is not direct:
                if sync is not None:
                    sync.close()
                port, token = self._direct_endpoint
                host = self.address.rsplit(":", 1)[0]
                sync = _SyncCalls(
                    f"{host}:{port}",
                    self._credentials,
                    (("authorization", f"Bearer {token}"),),
                    direct,
                )
                self._sync_calls = sync
            return sync

    def _method_request(
        self,
        object_id: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None,
        timeout: float | None,
    ) -> epb.CallStreamRequest:
        # Built in place (a nested message assigned later would be copied).
        request = epb.CallStreamRequest()
        call = request.call
        call.session_id = self.id
        call.object_id = object_id
        call.method = method
        call.pickled_args = dumps_for_remote(
            (tuple(args), dict(kwargs or {})), "arguments", self._sources_sent
        )
        call.timeout_s = float(timeout or 0)
        return request

    def call_method(
        self,
        object_id: str,
        method: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Calls a method of a remote object from synchronous code.

        Over the worker's own endpoint when it is reachable and not busy with
        another synchronous call (the caller waits in gRPC itself); otherwise
        like :meth:`_acall_method`.
        """
        sync = None if _on_background_loop() else self._sync_stream()
        if sync is not None:
            request = self._method_request(object_id, method, args, kwargs, timeout)
            try:
                reply = sync.try_call(request)
            except grpc.RpcError as exc:
                raise run_sync(self._direct_failure(exc, sync.direct)) from None
            if reply is not None:
                return _call_result(reply, method)
        return run_sync(self._acall_method(object_id, method, args, kwargs, timeout))

    async def _acall_method(
        self,
        object_id: str,
        method: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        request = self._method_request(object_id, method, args, kwargs, timeout)
        reply = await self._call_stream(request)
        return codec.decode(reply.result, f"result of {method}()")

    async def _call_stream(self, request: epb.CallStreamRequest) -> Any:
        """Runs one CallMethod through the session's long-lived CallStream.

        The stream opens on first use and again after it fails; a failure fails
        only the calls waiting on it. Cancelling the caller cancels the call on
        the server.
        """
        if self._closed:
            raise RemoteError(
                f"session {self.id} is closed", code="FAILED_PRECONDITION"
            )
        calls = await self._open_calls()
        return await calls.call(request)

    async def _open_calls(self) -> _CallStream:
        """The session's CallStream, opened on first use (to the worker's own
        endpoint when it can be reached) and again after it failed."""
        if self._calls is None:
            direct = await self._direct_channel()
            if self._calls is None:  # (another caller may have opened it meanwhile)
                self._calls = _CallStream(self, direct)
        return self._calls

    async def _aget_attribute(self, object_id: str, name: str) -> tuple[bool, Any]:
        callable_, value, _ = await self._aget_attribute_info(object_id, name)
        return callable_, value

    async def _aget_attribute_info(
        self, object_id: str, name: str
    ) -> tuple[bool, Any, bool]:
        """(callable, value, a plain method of the object's class)."""
        request = epb.GetAttributeRequest(
            session_id=self.id, object_id=object_id, name=name
        )
        reply = await self._unary("GetAttribute", request)
        if reply.callable:
            return True, None, reply.method
        return False, codec.decode(reply.value, name), False

    async def _adelete_object(self, object_id: str) -> None:
        await self._unary(
            "DeleteObject", epb.ObjectRef(session_id=self.id, object_id=object_id)
        )

    def put(self, obj: Any) -> Any:
        """Moves ``obj`` into the session and returns a :class:`RemoteObject` proxy."""
        from remotemedia.remote.objects import RemoteObject

        return RemoteObject(obj, session=self)

    async def _alist_objects(self) -> list[dict[str, str]]:
        reply = await self._unary("ListObjects", self._ref())
        return list(json.loads(reply.json))

    def objects(self) -> list[dict[str, str]]:
        """The session's remote objects and node instances: ``[{id, type}, ...]``."""
        return run_sync(self._alist_objects())

    # -- pipelines ---------------------------------------------------------------------------
    def _pipeline_spec(self, pipeline: Any) -> epb.PipelineSpec:
        from remotemedia.core.errors import ManifestError
        from remotemedia.core.pipeline import Pipeline

        if isinstance(pipeline, (dict, str)):
            text = pipeline if isinstance(pipeline, str) else json.dumps(pipeline)
            return epb.PipelineSpec(manifest_json=text)
        if isinstance(pipeline, Pipeline):
            try:
                return epb.PipelineSpec(
                    manifest_json=json.dumps(pipeline.to_manifest())
                )
            except ManifestError:
                pass  # non-JSON config (e.g. a lambda): send the nodes themselves
            nodes = list(pipeline.nodes)
        else:
            nodes = list(pipeline)
        return epb.PipelineSpec(
            pickled_nodes=dumps_for_remote(nodes, "pipeline nodes", self._sources_sent)
        )

    async def _arun_pipeline(
        self, spec: epb.PipelineSpec, data: Any, timeout: float | None
    ) -> list[Any]:
        request = epb.ExecutePipelineRequest(
            session_id=self.id, pipeline=spec, timeout_s=float(timeout or 0)
        )
        request.input.CopyFrom(codec.encode(data, "pipeline input"))
        reply = await self._unary("ExecutePipeline", request)
        return [codec.decode(v, "pipeline output") for v in reply.outputs]

    def run_pipeline(
        self, pipeline: Any, data: Any, *, timeout: float | None = None
    ) -> list[Any]:
        """Runs one input through a pipeline on the server (nodes built fresh).

        Args:
            pipeline: A Pipeline, a list of nodes (sent cloudpickled) or a manifest.
            data: The input.
            timeout: Wall-time limit in seconds.

        Returns:
            All outputs, including those emitted at end of stream, and
            :class:`~remotemedia.NodeError` records of failures.
        """
        return run_sync(
            self._arun_pipeline(self._pipeline_spec(pipeline), data, timeout)
        )

    async def stream(
        self,
        pipeline: Any,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        window: int = 8,
    ) -> AsyncIterator[Any]:
        """Streams ``inputs`` through a pipeline on the server; yields outputs in order.

        Args:
            pipeline: A Pipeline, a list of nodes or a manifest.
            inputs: Sync or async iterable of frames.
            window: Frames in flight before waiting for the server (backpressure).
        """
        async for item in self._stream_spec(
            self._pipeline_spec(pipeline), inputs, window
        ):
            yield item

    async def _stream_spec(
        self,
        spec: epb.PipelineSpec,
        inputs: Any,
        window: int = 8,
        on_stats: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> AsyncIterator[Any]:
        """Streams through one bidi StreamPipeline call (see :meth:`stream`).

        The call lives on the background loop. Called there (sync pipelines,
        ``run_sync``), everything runs in place; from another loop, inputs are
        pulled on the caller's loop and outputs handed back to it.
        """
        loop = background_loop()
        caller = asyncio.get_running_loop()
        window = max(1, window)
        if caller is loop:
            credits = asyncio.Semaphore(window)
            local_pull = _puller(inputs)
            async for values, acked in self._stream_core(
                spec, local_pull, credits, window, on_stats
            ):
                for value in values:
                    yield value
                for _ in range(acked):
                    credits.release()
            return

        outbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        state: dict[str, asyncio.Semaphore] = {}

        def deliver(kind: str, payload: Any) -> None:
            caller.call_soon_threadsafe(outbox.put_nowait, (kind, payload))

        caller_pull = _puller(inputs)

        async def pull() -> Any:
            # The inputs belong to the caller's loop: iterate them there. The
            # coroutine is made there too, only if still wanted (a stream that
            # ended meanwhile must not leave one behind, never awaited).
            result: asyncio.Future[Any] = loop.create_future()
            started: list[asyncio.Task[Any]] = []

            def settle(task: asyncio.Task[Any]) -> None:
                if result.done():
                    return
                if task.cancelled():
                    result.cancel()
                elif task.exception() is not None:
                    result.set_exception(task.exception())  # type: ignore[arg-type]
                else:
                    result.set_result(task.result())

            def start() -> None:
                if result.done():  # given up before it began
                    return
                task = caller.create_task(caller_pull())
                task.add_done_callback(lambda t: loop.call_soon_threadsafe(settle, t))
                started.append(task)

            caller.call_soon_threadsafe(start)
            try:
                return await result
            except asyncio.CancelledError:
                caller.call_soon_threadsafe(lambda: [task.cancel() for task in started])
                raise

        async def run() -> None:
            state["credits"] = credits = asyncio.Semaphore(window)
            try:
                async for item in self._stream_core(
                    spec, pull, credits, window, on_stats
                ):
                    deliver("resp", item)
                deliver("done", None)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - re-raised by the consumer
                deliver("error", exc)

        def release(n: int) -> None:
            for _ in range(n):
                state["credits"].release()

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        try:
            while True:
                kind, payload = await outbox.get()
                if kind == "resp":
                    values, acked = payload
                    for value in values:
                        yield value
                    if acked:
                        loop.call_soon_threadsafe(release, acked)
                elif kind == "done":
                    break
                else:
                    raise payload
        finally:
            if not future.done():
                future.cancel()

    async def _stream_core(
        self,
        spec: epb.PipelineSpec,
        pull: Callable[[], Coroutine[Any, Any, Any]],
        credits: asyncio.Semaphore,
        window: int,
        on_stats: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> AsyncIterator[tuple[list[Any], int]]:
        """Yields (outputs, inputs newly acknowledged) per response, in order.

        ``on_stats`` gets what the segment's nodes measured (from the last
        response).

        Runs on the background loop. With one frame in flight, this task writes
        each input and reads its answer. Otherwise a feeder pulls inputs while
        ``credits`` allow (the consumer releases one per acknowledged input) and a
        sender writes what is queued: one frame alone, several as one batch.
        """
        if self._closed:
            raise RemoteError(
                f"session {self.id} is closed", code="FAILED_PRECONDITION"
            )
        direct = await self._direct_channel()
        if direct is not None:
            call = direct.stream(metadata=direct.metadata)
        else:
            call = self._raw_stream(metadata=self._metadata)
        queued: list[bytes] = []
        ready = asyncio.Event()
        finished = False
        problem: list[BaseException] = []

        async def feed() -> None:
            nonlocal finished
            try:
                while True:
                    await credits.acquire()
                    try:
                        item = await pull()
                    except StopAsyncIteration:
                        break
                    queued.append(codec.encode_bytes(item, "stream frame"))
                    ready.set()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                problem.append(exc)
                call.cancel()  # wakes the reader, which raises it
            finished = True
            ready.set()

        async def send_open() -> None:
            await call.write(
                epb.StreamRequest(
                    open=epb.StreamOpen(session_id=self.id, pipeline=spec)
                ).SerializeToString()
            )

        async def send() -> None:
            await send_open()
            while True:
                await ready.wait()
                ready.clear()
                if queued:
                    batch = queued[:]
                    queued.clear()
                    await call.write(_stream_message(batch))
                if finished and not queued:
                    if not problem:
                        await call.write(_END_REQUEST)
                        await call.done_writing()
                    return

        async def quietly(coro: Coroutine[Any, Any, None]) -> None:
            # A failed write means a failed call: the reader reports its status.
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                logger.debug("stream write failed", exc_info=True)

        acked = 0

        def unpack(response: Any) -> tuple[list[Any], int]:
            nonlocal acked
            values = [codec.decode(v, "stream output") for v in response.values]
            if response.stats_json and on_stats is not None:
                on_stats(json.loads(response.stats_json))
            ack = int(response.ack)
            delta, acked = max(0, ack - acked), max(acked, ack)
            return values, delta

        async def write(data: bytes) -> None:
            try:
                await call.write(data)
            except asyncio.InvalidStateError:
                await call.read()  # the call is over: this raises its status
                raise RemoteError(
                    "the server ended the stream early", code="INTERNAL"
                ) from None

        tasks: list[asyncio.Task[None]] = []
        try:
            if window == 1:
                # One frame in flight: write it, then read its answer, all in
                # this generator (no writer task, no nested generator per frame).
                await send_open()
                sent = 0
                while True:
                    try:
                        item = await pull()
                    except StopAsyncIteration:
                        break
                    await write(
                        _stream_message([codec.encode_bytes(item, "stream frame")])
                    )
                    sent += 1
                    while acked < sent:
                        response = await call.read()
                        if response is grpc.aio.EOF:
                            return  # (a failed call raises from read())
                        values, delta = unpack(response)
                        if values or delta:
                            yield values, delta
                        if response.end:
                            return
                await write(_END_REQUEST)
                await call.done_writing()
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        return
                    values, delta = unpack(response)
                    if values or delta:
                        yield values, delta
                    if response.end:
                        return
            create_task = asyncio.get_running_loop().create_task
            tasks += [create_task(feed()), create_task(quietly(send()))]
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    break  # (a failed call raises from read())
                if problem:
                    raise problem[0]
                values, delta = unpack(response)
                if values or delta:
                    yield values, delta
                if response.end:
                    break
            if problem:
                raise problem[0]
        except grpc.aio.AioRpcError as exc:
            if problem:
                raise problem[0] from None
            if direct is not None:
                raise await self._direct_failure(exc, direct) from None
            raise error_from_rpc(exc, self.address) from None
        except asyncio.CancelledError:
            if problem:  # the call was cancelled because the inputs failed
                raise problem[0] from None
            raise
        finally:
            for task in tasks:
                task.cancel()
            if not call.done():
                call.cancel()


@dataclasses.dataclass
class _Execution:
    """A running ``execute`` request on a :class:`_CallStream`."""

    sink: Callable[[Any], None]
    done: asyncio.Future[Any]


class _SyncCalls:
    """Method calls from synchronous code over a blocking gRPC stream to the
    session worker's own endpoint.

    The calling thread writes the request and waits for the answer itself, in
    gRPC's C core, with no hop to the background event loop and back (about 20%
    less time per call). One call at a time: a caller that finds it busy uses the
    asyncio stream instead, which multiplexes. A stream that failed or was
    interrupted is dropped; the next call opens a new one.
    """

    def __init__(
        self,
        target: str,
        credentials: grpc.ChannelCredentials | None,
        metadata: tuple[tuple[str, str], ...],
        direct: _DirectChannel,
    ) -> None:
        options = _rpc.channel_options(_MAX_MESSAGE)
        if credentials is not None:
            self._channel = grpc.secure_channel(target, credentials, options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self.direct = direct  # the asyncio channel to the same endpoint
        self._requests: queue.SimpleQueue[epb.CallStreamRequest | None] = (
            queue.SimpleQueue()
        )
        stream = self._channel.stream_stream(
            _rpc.path("CallStream"),
            request_serializer=epb.CallStreamRequest.SerializeToString,
            response_deserializer=epb.CallStreamResponse.FromString,
        )
        self._responses = stream(self._pending(), metadata=metadata)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.broken = False

    def _pending(self) -> Iterator[epb.CallStreamRequest]:
        while True:
            request = self._requests.get()
            if request is None:
                return
            yield request

    def try_call(self, request: epb.CallStreamRequest) -> Any:
        """The call's response, or None when another call holds the stream.

        Raises:
            grpc.RpcError: If the stream failed (it is then broken).
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self.broken:
                raise RemoteError("the call stream is closed", code="UNAVAILABLE")
            request.id = next(self._ids)
            self._requests.put(request)
            try:
                return next(self._responses)
            except StopIteration:
                self.close()
                raise RemoteError(
                    "the session worker ended the call stream", code="UNAVAILABLE"
                ) from None
            except BaseException:
                # Interrupted (Ctrl-C) or failed: ending the stream cancels the
                # call on the worker too.
                self.close()
                raise
        finally:
            self._lock.release()

    def close(self) -> None:
        self.broken = True
        self._requests.put(None)
        self._responses.cancel()
        self._channel.close()


class _CallStream:
    """A session's CallStream: method calls and code cells multiplexed over one
    bidi call."""

    def __init__(self, session: Session, direct: _DirectChannel | None = None) -> None:
        self._session = session
        self._direct = direct
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any] | _Execution] = {}
        if direct is not None:
            self._call = direct.calls(metadata=direct.metadata)
        else:
            self._call = session._stubs["CallStream"](metadata=session._metadata)
        self._write_lock = asyncio.Lock()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self._failed = False

    async def _read(self) -> None:
        failure: RemoteError | None = None
        try:
            while True:
                response = await self._call.read()
                if response is grpc.aio.EOF:
                    break
                target = self._pending.get(response.id)
                if target is None:
                    continue
                if isinstance(target, _Execution):
                    if not response.end:
                        target.sink(response.event)
                        continue
                    target = target.done
                del self._pending[response.id]
                if not target.done():
                    target.set_result(response)
        except grpc.aio.AioRpcError as exc:
            if self._direct is not None and not self._failed:
                failure = await self._session._direct_failure(exc, self._direct)
            else:
                failure = error_from_rpc(exc, self._session.address)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - fails the waiting calls
            failure = RemoteError(f"call stream failed: {exc}", code="UNAVAILABLE")
        self._fail(
            failure
            or RemoteError(
                f"session {self._session.id} call stream ended", code="UNAVAILABLE"
            )
        )

    def _fail(self, failure: RemoteError) -> None:
        self._failed = True
        if self._session._calls is self:
            self._session._calls = None  # the next call opens a new stream
        for target in self._pending.values():
            future = target.done if isinstance(target, _Execution) else target
            if not future.done():
                future.set_exception(failure)
        self._pending.clear()

    async def _write(self, request: epb.CallStreamRequest) -> None:
        try:
            async with self._write_lock:  # one write at a time on a call
                await self._call.write(request)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, RuntimeError) as exc:
            if isinstance(exc, grpc.aio.AioRpcError):
                error = error_from_rpc(exc, self._session.address)
            else:
                error = RemoteError(f"call stream failed: {exc}", code="UNAVAILABLE")
            self._fail(error)
            raise error from None

    async def call(self, request: epb.CallStreamRequest) -> Any:
        if self._failed:
            raise RemoteError("the call stream failed", code="UNAVAILABLE")
        call_id = next(self._ids)
        request.id = call_id
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            await self._write(request)
            response = await future
        except asyncio.CancelledError:
            if self._pending.pop(call_id, None) is not None and not self._failed:
                asyncio.get_running_loop().create_task(self._cancel(call_id))
            raise
        _raise_for_reply(response)
        return response.result

    async def execute(
        self, request: epb.CallStreamRequest, sink: Callable[[Any], None]
    ) -> None:
        """Runs an ``execute`` request; its events go to ``sink`` as they come."""
        if self._failed:
            raise RemoteError("the call stream failed", code="UNAVAILABLE")
        call_id = next(self._ids)
        request.id = call_id
        execution = _Execution(sink, asyncio.get_running_loop().create_future())
        self._pending[call_id] = execution
        try:
            await self._write(request)
            response = await execution.done
        except asyncio.CancelledError:
            if self._pending.pop(call_id, None) is not None and not self._failed:
                # Sent before the cancellation completes: the cell stops promptly.
                await self._cancel(call_id)
            raise
        _raise_for_reply(response)

    async def _cancel(self, call_id: int) -> None:
        with contextlib.suppress(RemoteError):
            await self._write(epb.CallStreamRequest(id=call_id, cancel=True))

    def close(self) -> None:
        self._failed = True
        self._call.cancel()


_END_REQUEST = epb.StreamRequest(end=epb.StreamEnd()).SerializeToString()
# StreamRequest field numbers (execution.proto): frame = 2, batch = 4; Value is
# length-delimited (wire type 2).
_FRAME_TAG = bytes([(2 << 3) | 2])
_BATCH_TAG = bytes([(4 << 3) | 2])
_BATCH_FRAME_TAG = bytes([(1 << 3) | 2])


def _raise_for_reply(reply: Any) -> None:
    """Raises the error a CallStream reply carries, if any."""
    if reply.code:
        error = reply.error
        raise RemoteError(
            error.message,
            code=reply.code,
            remote_traceback=error.traceback,
            error_type=error.error_type,
        )


def _call_result(reply: Any, method: str) -> Any:
    """The decoded result of a CallStream reply (raises its error)."""
    _raise_for_reply(reply)
    return codec.decode(reply.result.result, f"result of {method}()")


def _on_background_loop() -> bool:
    """Whether this code runs on the background loop (which must never block)."""
    try:
        return asyncio.get_running_loop() is background_loop()
    except RuntimeError:
        return False


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _stream_message(frames: list[bytes]) -> bytes:
    """A serialized StreamRequest carrying already-serialized Value ``frames``.

    Built from the bytes directly (no re-encoding of the frames).
    """
    if len(frames) == 1:
        return b"".join((_FRAME_TAG, _varint(len(frames[0])), frames[0]))
    parts: list[bytes] = []
    for frame in frames:
        parts += (_BATCH_FRAME_TAG, _varint(len(frame)), frame)
    body = b"".join(parts)
    return b"".join((_BATCH_TAG, _varint(len(body)), body))


def _puller(inputs: Any) -> Callable[[], Coroutine[Any, Any, Any]]:
    """An async ``next()`` over a sync or async iterable (StopAsyncIteration at end)."""
    if isinstance(inputs, AsyncIterable):
        iterator = inputs.__aiter__()

        async def pull_async() -> Any:
            return await iterator.__anext__()

        return pull_async
    sync_iterator = iter(inputs)

    async def pull_sync() -> Any:
        try:
            return next(sync_iterator)
        except StopIteration:
            raise StopAsyncIteration from None

    return pull_sync


def connect(
    address: str | None = None,
    token: str | None = None,
    *,
    tls: bool | str = False,
    timeout: float = 30.0,
    direct: bool = True,
    make_current: bool = True,
) -> Session:
    """Opens a session on a remotemedia server, or returns the current one.

    The session opened last (by ``connect(ADDRESS)``, ``%remote connect`` or
    ``%remote start``) is the *current* session: ``rm.remote(node)``,
    ``rm.RemoteObject(obj)``, ``%%remote`` and the pipeline editor use it when no
    session is given. Closing it leaves no current session.

    Args:
        address: ``host:port``; None returns the current session, or starts (once
            per process) an embedded local server on 127.0.0.1 with a random
            token, opens a session there, makes it current and says so.
        token: Bearer token (default: ``$REMOTEMEDIA_TOKEN``).
        tls: True for TLS with the system roots, or a path to a PEM CA file.
        timeout: Seconds to wait for the server.
        direct: Stream to the session worker's own port when the server offers
            one and it is reachable (one hop less per frame); False always
            streams through ``address``. ``$REMOTEMEDIA_DIRECT=0`` also turns it off.
        make_current: Make the new session the current one (with an address).

    Returns:
        The open :class:`Session` (a context manager).

    Raises:
        RemoteError: If the server cannot be reached (UNAVAILABLE) or refuses the
            token (UNAUTHENTICATED).
    """
    if address is None:
        return current_session()
    session = _open(
        address, token, tls=tls, timeout=timeout, direct=direct, server=None
    )
    if make_current:
        set_current_session(session)
    return session


def _open(
    address: str,
    token: str | None,
    *,
    tls: bool | str = False,
    timeout: float = 30.0,
    direct: bool = True,
    server: Any = None,
) -> Session:
    if token is None:
        token = os.environ.get("REMOTEMEDIA_TOKEN")
    for prefix in ("grpc://", "grpcs://"):
        if address.startswith(prefix):
            tls = tls or prefix == "grpcs://"
            address = address[len(prefix) :]
    if os.environ.get("REMOTEMEDIA_DIRECT", "1").strip().lower() in (
        "0",
        "false",
        "no",
    ):
        direct = False
    return Session(
        address, token, tls=tls, timeout=timeout, server=server, direct=direct
    )


def open_embedded_session() -> Session:
    """Opens a new session on the process-wide embedded server (started on first
    use, on 127.0.0.1) and makes it the current session."""
    from remotemedia.remote.launcher import default_server

    with _current_lock:
        server = default_server()
        session = _open(server.address, server.token, server=server)
        set_current_session(session)
        return session


def is_embedded(session: Session) -> bool:
    """Whether ``session`` is on the process-wide embedded server."""
    return session._server is not None


def current_session(*, start: bool = True) -> Session:
    """The current session (see :func:`connect`).

    With none open, starts the embedded server, opens a session there, makes it
    current and prints which server it started (once per start, on stderr).

    Args:
        start: False raises instead of starting the embedded server.

    Raises:
        RemoteError: If there is no current session and ``start`` is False
            (code FAILED_PRECONDITION), or the embedded server cannot start.
    """
    with _current_lock:
        session = _current
        if session is not None and not session.closed:
            return session
        if not start:
            raise RemoteError(
                "no remotemedia session: connect with rm.connect(ADDRESS, TOKEN) or "
                "'%remote connect HOST:PORT --token TOKEN'",
                code="FAILED_PRECONDITION",
            )
        session = open_embedded_session()
    message = (
        f"remotemedia: no server connected: started an embedded server at "
        f"{session.address} (session {session.id[:8]}); connect elsewhere with "
        "rm.connect(ADDRESS, TOKEN) or '%remote connect HOST:PORT --token TOKEN'"
    )
    logger.info(message)
    print(message, file=sys.stderr)
    return session


def set_current_session(session: Session | None) -> None:
    """Makes ``session`` the current session (None: no current session)."""
    global _current
    with _current_lock:
        _current = session


def _forget_current(session: Session) -> None:
    # No lock: this runs on the background loop, which a lock holder may be
    # waiting on (opening a session); a plain compare-and-clear is enough here.
    global _current
    if _current is session:
        _current = None


def default_session() -> Session:
    """The current session, started on the embedded server when there is none
    (same as :func:`current_session`)."""
    return current_session()
