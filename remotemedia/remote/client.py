"""Client side of remote execution: :func:`connect` and :class:`Session`.

gRPC channels belong to an event loop, so every session's channel lives on the
shared background loop of :mod:`remotemedia.core._sync`. Sync methods run there and
wait (also inside Jupyter, whose loop runs in the main thread); ``a``-prefixed async
methods hop to that loop from whatever loop awaits them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import platform
import queue
import sys
import sysconfig
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

import cloudpickle
import grpc

from remotemedia.core._sync import background_loop, run_sync
from remotemedia.core.errors import RemoteError
from remotemedia.core.node import Node
from remotemedia.remote import _rpc, codec
from remotemedia.remote._proto import execution_pb2 as epb
from remotemedia.remote.status import error_from_rpc

__all__ = ["Session", "ExecuteResult", "connect", "default_session"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_MESSAGE = 256 * 2**20
_default_session: Session | None = None
_default_lock = threading.Lock()


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


def _by_value(module_name: str) -> None:
    # Classes from scripts, notebooks and test modules are not importable on the
    # server: send their code along (cloudpickle does this for __main__ already).
    top = module_name.split(".")[0]
    if module_name == "__main__" or top in (
        "remotemedia",
        "remotemedia_server",
        "builtins",
    ):
        return
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None)
    if module is None or not filename:
        return
    if "site-packages" in filename or "dist-packages" in filename:
        return
    if filename.startswith(_INSTALLED_PREFIXES):
        return
    try:
        cloudpickle.register_pickle_by_value(module)
    except ValueError:
        pass


def _register_classes(obj: Any) -> None:
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    for item in items:
        for cls in type(item).__mro__:
            _by_value(cls.__module__)
        if isinstance(item, Node):
            for value in item.__dict__.values():
                if (
                    callable(value)
                    and hasattr(value, "__module__")
                    and value.__module__
                ):
                    _by_value(value.__module__)


def dumps_for_remote(obj: Any, what: str) -> bytes:
    """cloudpickles ``obj`` for a server (local classes travel by value)."""
    _register_classes(obj)
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
        self._closed = False
        run_sync(self._aopen(tls, timeout))

    # -- plumbing ------------------------------------------------------------------
    async def _aopen(self, tls: bool | str, timeout: float) -> None:
        options = [
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
        ]
        if tls:
            root = Path(tls).read_bytes() if isinstance(tls, str) else None
            credentials = grpc.ssl_channel_credentials(root_certificates=root)
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
        try:
            await self._unary("CloseSession", self._ref(), timeout=10)
        except RemoteError as exc:
            logger.debug("closing session %s: %s", self.id, exc)
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
        request = epb.ExecuteCodeRequest(
            session_id=self.id, code=code, timeout_s=float(timeout or 0)
        )
        call = self._stubs["ExecuteCode"](request, metadata=self._metadata)
        try:
            async for event in call:
                sink(event)
        except asyncio.CancelledError:
            call.cancel()
            raise
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc, self.address) from None

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
        events: queue.Queue[Any] = queue.Queue()
        done = object()

        async def pump() -> None:
            try:
                await self._execute_events(code, timeout, events.put)
            finally:
                events.put(done)

        future = asyncio.run_coroutine_threadsafe(pump(), loop)
        result = ExecuteResult()
        error: RemoteError | None = None
        try:
            while True:
                event = events.get()
                if event is done:
                    break
                error = _apply_event(result, event, on_stream, on_display) or error
            future.result()
        except BaseException:
            future.cancel()
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
            request.variables[name] = dumps_for_remote(value, f"variable '{name}'")
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
        data = dumps_for_remote(obj, "remote object")
        request = epb.CreateObjectRequest(
            session_id=self.id,
            object=codec.pb.PickledObject(data=data, type_name=type(obj).__qualname__),
        )
        ref = await self._unary("CreateObject", request)
        return ref.object_id, ref.type_name

    async def _acall_method(
        self,
        object_id: str,
        method: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        request = epb.CallMethodRequest(
            session_id=self.id,
            object_id=object_id,
            method=method,
            pickled_args=dumps_for_remote(
                (tuple(args), dict(kwargs or {})), "arguments"
            ),
            timeout_s=float(timeout or 0),
        )
        reply = await self._unary("CallMethod", request)
        return codec.decode(reply.result, f"result of {method}()")

    async def _aget_attribute(self, object_id: str, name: str) -> tuple[bool, Any]:
        request = epb.GetAttributeRequest(
            session_id=self.id, object_id=object_id, name=name
        )
        reply = await self._unary("GetAttribute", request)
        if reply.callable:
            return True, None
        return False, codec.decode(reply.value, name)

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
        return epb.PipelineSpec(pickled_nodes=dumps_for_remote(nodes, "pipeline nodes"))

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
        self, spec: epb.PipelineSpec, inputs: Any, window: int = 8
    ) -> AsyncIterator[Any]:
        """Streams through one bidi StreamPipeline call (see :meth:`stream`)."""
        caller = asyncio.get_running_loop()
        loop = background_loop()
        outbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        inbox: asyncio.Queue[Any] = asyncio.Queue()  # used on the background loop only
        credits = asyncio.Semaphore(max(1, window))

        def deliver(kind: str, payload: Any) -> None:
            caller.call_soon_threadsafe(outbox.put_nowait, (kind, payload))

        async def feed() -> None:
            try:
                if isinstance(inputs, AsyncIterable):
                    async for item in inputs:
                        await credits.acquire()
                        msg = epb.StreamRequest(
                            frame=codec.encode(item, "stream frame")
                        )
                        loop.call_soon_threadsafe(inbox.put_nowait, msg)
                else:
                    for item in inputs:
                        await credits.acquire()
                        msg = epb.StreamRequest(
                            frame=codec.encode(item, "stream frame")
                        )
                        loop.call_soon_threadsafe(inbox.put_nowait, msg)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - re-raised by the consumer
                deliver("input_error", exc)
                return
            loop.call_soon_threadsafe(
                inbox.put_nowait, epb.StreamRequest(end=epb.StreamEnd())
            )

        future = asyncio.run_coroutine_threadsafe(
            self._bidi(spec, inbox, deliver), loop
        )
        feeder = caller.create_task(feed())
        acked = 0
        try:
            while True:
                kind, payload = await outbox.get()
                if kind == "resp":
                    for value in payload.values:
                        yield codec.decode(value, "stream output")
                    for _ in range(int(payload.ack) - acked):
                        credits.release()
                    acked = max(acked, int(payload.ack))
                elif kind == "done":
                    break
                else:
                    raise payload
        finally:
            feeder.cancel()
            if not future.done():
                future.cancel()

    async def _bidi(
        self,
        spec: epb.PipelineSpec,
        inbox: asyncio.Queue[Any],
        deliver: Callable[[str, Any], None],
    ) -> None:
        async def requests() -> AsyncIterator[Any]:
            yield epb.StreamRequest(
                open=epb.StreamOpen(session_id=self.id, pipeline=spec)
            )
            while True:
                message = await inbox.get()
                yield message
                if message.WhichOneof("kind") == "end":
                    return

        call = self._stubs["StreamPipeline"](requests(), metadata=self._metadata)
        try:
            async for response in call:
                deliver("resp", response)
            deliver("done", None)
        except asyncio.CancelledError:
            call.cancel()
            raise
        except grpc.aio.AioRpcError as exc:
            deliver("error", error_from_rpc(exc, self.address))
        except BaseException as exc:  # noqa: BLE001
            deliver("error", exc)


def connect(
    address: str | None = None,
    token: str | None = None,
    *,
    tls: bool | str = False,
    timeout: float = 30.0,
) -> Session:
    """Opens a session on a remotemedia server.

    Args:
        address: ``host:port``; None starts (once per process) an embedded local
            server on 127.0.0.1 with a random token, stopped at exit.
        token: Bearer token (default: ``$REMOTEMEDIA_TOKEN``).
        tls: True for TLS with the system roots, or a path to a PEM CA file.
        timeout: Seconds to wait for the server.

    Returns:
        The open :class:`Session` (a context manager).

    Raises:
        RemoteError: If the server cannot be reached (UNAVAILABLE) or refuses the
            token (UNAUTHENTICATED).
    """
    server = None
    if address is None:
        from remotemedia.remote.launcher import default_server

        server = default_server()
        address, token = server.address, server.token
    if token is None:
        token = os.environ.get("REMOTEMEDIA_TOKEN")
    for prefix in ("grpc://", "grpcs://"):
        if address.startswith(prefix):
            tls = tls or prefix == "grpcs://"
            address = address[len(prefix) :]
    return Session(address, token, tls=tls, timeout=timeout, server=server)


def default_session() -> Session:
    """The process-wide session on the embedded server (opened on first use)."""
    global _default_session
    with _default_lock:
        if _default_session is None or _default_session.closed:
            _default_session = connect()
        return _default_session
