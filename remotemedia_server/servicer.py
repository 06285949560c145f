"""The RemoteExecution servicer: authenticates nothing, decodes little, delegates.

It finds the session, hands the request to the session's worker through the
placement interface (:mod:`remotemedia_server.backend`) and relays the answer.
Every failure is reported through :mod:`remotemedia.remote.status`.
"""

# ruff: noqa: N802 - method names are the gRPC method names

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import platform
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import grpc

import remotemedia as rm
from remotemedia.core.errors import RemoteError
from remotemedia.remote import _rpc, codec
from remotemedia.remote._proto import execution_pb2 as epb
from remotemedia.remote.status import abort_with
from remotemedia_server import calls, protocol
from remotemedia_server.backend import WorkerBackend, WorkerHandle
from remotemedia_server.config import ServerConfig

logger = logging.getLogger(__name__)

CAPABILITIES = [
    "execute_code",
    "execute_pipeline",
    "stream_pipeline",
    "pickled_nodes",
    "objects",
    "call_stream",
    "call_stream_execute",
    "variables",
]


class _Session:
    def __init__(self, session_id: str, worker: WorkerHandle) -> None:
        self.id = session_id
        self.worker = worker
        self.created = time.time()
        self.last_used = time.monotonic()
        self.active = 0
        self.restarts = 0
        self.lock = asyncio.Lock()


class RemoteExecutionServicer:
    """Implements every RemoteExecution method (see execution.proto)."""

    def __init__(self, config: ServerConfig, backend: WorkerBackend) -> None:
        self.config = config
        self.backend = backend
        self.sessions: dict[str, _Session] = {}
        self.started = time.time()
        self._gpu: list[dict[str, Any]] | None = None
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.backend.start()
        self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for session in list(self.sessions.values()):
            await self._close_session(session)
        await self.backend.close()

    # -- sessions ---------------------------------------------------------------
    async def _reap_idle(self) -> None:
        idle = float(self.config.limits.idle_timeout_s)
        period = max(0.2, min(5.0, idle / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if session.active == 0 and now - session.last_used > idle:
                    if await self._streaming_directly(session, idle):
                        continue
                    logger.info("closing idle session %s", session.id)
                    await self._close_session(session)

    @staticmethod
    async def _streaming_directly(session: _Session, idle: float) -> bool:
        """Whether the session's client used the worker's own endpoint lately
        (those streams and calls bypass this front end; only the worker knows)."""
        if session.worker.direct is None or not session.worker.alive:
            return False
        try:
            status = await session.worker.call("status", None, timeout=5)
        except RemoteError:
            return False
        quiet = float(status.get("direct_idle_s", idle + 1))
        if quiet > idle:
            return False
        session.last_used = time.monotonic() - quiet
        return True

    async def _close_session(self, session: _Session) -> None:
        self.sessions.pop(session.id, None)
        with contextlib.suppress(Exception):
            await session.worker.close()

    def _session(self, session_id: str) -> _Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise RemoteError(
                f"unknown session '{session_id}' (closed, expired after "
                f"{self.config.limits.idle_timeout_s:g} s idle, or never opened)",
                code="NOT_FOUND",
            )
        return session

    @contextlib.asynccontextmanager
    async def _use(
        self, session_id: str
    ) -> AsyncIterator[tuple[_Session, WorkerHandle]]:
        session = self._session(session_id)
        session.active += 1
        try:
            async with session.lock:
                if not session.worker.alive:
                    # The previous worker crashed or was killed; that call already
                    # reported the loss. Carry on with a fresh worker.
                    session.worker = await self.backend.create(
                        self._worker_config(session.id)
                    )
                    session.restarts += 1
            yield session, session.worker
        finally:
            session.active -= 1
            session.last_used = time.monotonic()

    def _worker_config(self, session_id: str) -> dict[str, Any]:
        return {**self.config.worker_config(), "session_id": session_id}

    @staticmethod
    def _direct_endpoint(worker: WorkerHandle) -> epb.DirectEndpoint:
        direct = worker.direct
        if direct is None:
            return epb.DirectEndpoint()
        return epb.DirectEndpoint(port=direct[0], token=direct[1])

    def _timeout(self, requested: float) -> float:
        limit = float(self.config.limits.call_timeout_s)
        return min(limit, requested) if requested > 0 else limit

    async def _call(
        self, session_id: str, op: str, payload: Any, timeout: float = 0
    ) -> Any:
        async with self._use(session_id) as (_, worker):
            return await worker.call(op, payload, timeout=self._timeout(timeout))

    # -- info ---------------------------------------------------------------------
    async def ServerInfo(self, request: Any, context: Any) -> epb.ServerInfoResponse:
        from remotemedia.core.engine import rust_runtime

        return epb.ServerInfoResponse(
            version=rm.__version__,
            capabilities=CAPABILITIES,
            python_version=platform.python_version(),
            rust_runtime=rust_runtime() is not None,
            gpu_json=json.dumps(await self.gpus()),
            limits_json=json.dumps(self.config.limits.to_dict()),
        )

    async def gpus(self) -> list[dict[str, Any]]:
        """The GPUs of this machine (torch when importable, else nvidia-smi)."""
        if self._gpu is None:
            self._gpu = await asyncio.to_thread(_probe_gpus)
        return self._gpu

    async def ListNodes(self, request: Any, context: Any) -> epb.ListNodesResponse:
        allowed = self.config.allowed_nodes
        nodes = []
        for info in rm.list_nodes():
            if allowed is not None and info.name not in allowed:
                continue
            data = info.to_dict()
            nodes.append(
                epb.NodeInfo(
                    name=data["name"],
                    summary=data["summary"],
                    module=data["module"],
                    parameters_json=json.dumps(data["parameters"], default=repr),
                )
            )
        return epb.ListNodesResponse(nodes=nodes)

    async def OpenSession(self, request: Any, context: Any) -> epb.SessionInfo:
        if len(self.sessions) >= self.config.limits.max_sessions:
            raise RemoteError(
                f"session limit {self.config.limits.max_sessions} reached; "
                "close unused sessions",
                code="RESOURCE_EXHAUSTED",
            )
        session_id = uuid.uuid4().hex
        worker = await self.backend.create(self._worker_config(session_id))
        self.sessions[session_id] = _Session(session_id, worker)
        logger.info("opened session %s (%s)", session_id, request.client or "client")
        return epb.SessionInfo(
            session_id=session_id,
            limits_json=json.dumps(self.config.limits.to_dict()),
            direct=self._direct_endpoint(worker),
        )

    async def SessionEndpoint(
        self, request: Any, context: Any
    ) -> epb.SessionEndpointInfo:
        session = self._session(request.session_id)
        info = epb.SessionEndpointInfo()
        async with session.lock:
            failure = await session.worker.failure()
        if failure is not None:
            info.worker_failure_json = json.dumps(
                {k: failure.get(k, "") for k in ("code", "message", "error_type")}
            )
            logger.info("session %s: worker ended (%s)", session.id, failure["message"])
        # _use replaces a dead worker: the client gets the new endpoint.
        async with self._use(request.session_id) as (_, worker):
            info.direct.CopyFrom(self._direct_endpoint(worker))
        return info

    async def CloseSession(
        self, request: Any, context: Any
    ) -> epb.CloseSessionResponse:
        session = self.sessions.get(request.session_id)
        if session is not None:
            await self._close_session(session)
        return epb.CloseSessionResponse()

    async def SessionStatus(self, request: Any, context: Any) -> epb.JsonResponse:
        async with self._use(request.session_id) as (session, worker):
            status = await worker.call("status", None, timeout=10)
            health = await worker.health()
            # Inside the session's use: the first GPU probe imports torch (seconds),
            # and the session must not look idle meanwhile.
            gpus = await self.gpus()
        status.update(
            {
                "server_version": rm.__version__,
                "session_id": session.id,
                "uptime_s": round(time.time() - session.created, 3),
                "worker_restarts": session.restarts,
                "server_sessions": len(self.sessions),
                "gpu": gpus,
            }
        )
        if "rss_mb" in health:
            status["rss_mb"] = health["rss_mb"]
        return epb.JsonResponse(json=json.dumps(status))

    async def ResetSession(self, request: Any, context: Any) -> epb.JsonResponse:
        return epb.JsonResponse(
            json=json.dumps(await self._call(request.session_id, "reset", None))
        )

    # -- pipelines ------------------------------------------------------------------
    async def ExecutePipeline(
        self, request: Any, context: Any
    ) -> epb.ExecutePipelineResponse:
        payload = {
            "spec": protocol.pipeline_spec(request.pipeline),
            "input": request.input.SerializeToString(),
        }
        outputs = await self._call(
            request.session_id, "run_pipeline", payload, request.timeout_s
        )
        response = epb.ExecutePipelineResponse()
        for data in outputs:
            response.outputs.add().MergeFromString(data)
        return response

    async def StreamPipeline(
        self, requests: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[bytes]:
        iterator = requests.__aiter__()
        try:
            first = codec.parse(
                epb.StreamRequest, await iterator.__anext__(), "StreamRequest"
            )
        except StopAsyncIteration:
            return
        if first.WhichOneof("kind") != "open":
            raise codec.CodecError("the first StreamPipeline message must be 'open'")
        spec = protocol.pipeline_spec(first.open.pipeline)
        async with self._use(first.open.session_id) as (_, worker):
            stream = worker.stream("stream_open", spec)

            async def pump() -> None:
                # Requests go to the worker as they came (serialized): it parses
                # frames, batches and the end marker itself.
                try:
                    async for raw in iterator:
                        await stream.send(raw)
                    await stream.end()
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:  # noqa: BLE001 - ends the stream
                    stream.fail(exc)

            pump_task = asyncio.get_running_loop().create_task(pump())
            try:
                async for event in stream.events():
                    yield event
                yield protocol.END_RESPONSE
            finally:
                pump_task.cancel()

    # -- objects ----------------------------------------------------------------------
    async def CreateObject(self, request: Any, context: Any) -> epb.ObjectRef:
        result = await self._call(request.session_id, "create", request.object.data)
        return epb.ObjectRef(
            session_id=request.session_id,
            object_id=result["object_id"],
            type_name=result["type_name"],
        )

    async def CallMethod(self, request: Any, context: Any) -> epb.CallMethodResponse:
        payload = {
            "object_id": request.object_id,
            "method": request.method,
            "args": request.pickled_args,
        }
        data = await self._call(request.session_id, "call", payload, request.timeout_s)
        response = epb.CallMethodResponse()
        response.result.MergeFromString(data)
        return response

    async def CallStream(self, requests: AsyncIterator[bytes], context: Any) -> None:
        await calls.serve_call_stream(
            requests, context, self._call_raw, self._execute_events
        )

    async def _call_raw(self, session_id: str, raw: bytes, timeout_s: float) -> bytes:
        # The worker gets the request as it came and answers with the encoded
        # result Value: neither is copied into new messages here.
        result: bytes = await self._call(session_id, "call_raw", raw, timeout_s)
        return result

    async def _execute_events(
        self, session_id: str, code: str, timeout_s: float
    ) -> AsyncGenerator[bytes, None]:
        async with self._use(session_id) as (_, worker):
            stream = worker.stream("execute", {"code": code})
            async for event in stream.events(timeout=self._timeout(timeout_s)):
                yield event

    async def GetAttribute(
        self, request: Any, context: Any
    ) -> epb.GetAttributeResponse:
        payload = {"object_id": request.object_id, "name": request.name}
        result = await self._call(request.session_id, "getattr", payload)
        response = epb.GetAttributeResponse(
            callable=result["callable"], method=result.get("method", False)
        )
        if result["value"] is not None:
            response.value.MergeFromString(result["value"])
        return response

    async def DeleteObject(
        self, request: Any, context: Any
    ) -> epb.DeleteObjectResponse:
        await self._call(request.session_id, "delete", request.object_id)
        return epb.DeleteObjectResponse()

    async def ListObjects(self, request: Any, context: Any) -> epb.JsonResponse:
        return epb.JsonResponse(
            json=json.dumps(await self._call(request.session_id, "objects", None))
        )

    # -- code and variables -------------------------------------------------------------
    async def ExecuteCode(self, request: Any, context: Any) -> AsyncIterator[bytes]:
        async with self._use(request.session_id) as (_, worker):
            stream = worker.stream("execute", {"code": request.code})
            async for event in stream.events(timeout=self._timeout(request.timeout_s)):
                yield event

    async def PushVariables(
        self, request: Any, context: Any
    ) -> epb.PushVariablesResponse:
        await self._call(request.session_id, "push", dict(request.variables))
        return epb.PushVariablesResponse()

    async def PullVariables(
        self, request: Any, context: Any
    ) -> epb.PullVariablesResponse:
        values = await self._call(request.session_id, "pull", list(request.names))
        return epb.PullVariablesResponse(variables=values)


def _probe_gpus() -> list[dict[str, Any]]:
    if importlib.util.find_spec("torch") is not None:
        try:
            import torch

            if torch.cuda.is_available():
                return [
                    {
                        "name": torch.cuda.get_device_name(i),
                        "memory_mb": torch.cuda.get_device_properties(i).total_memory
                        // 2**20,
                    }
                    for i in range(torch.cuda.device_count())
                ]
            return []
        except Exception:  # noqa: BLE001 - fall back to nvidia-smi
            logger.debug("torch GPU probe failed", exc_info=True)
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        name, _, memory = line.rpartition(",")
        with contextlib.suppress(ValueError):
            gpus.append({"name": name.strip(), "memory_mb": int(memory.strip())})
    return gpus


def _wrap(
    servicer: RemoteExecutionServicer, name: str
) -> tuple[str, Callable[..., Any], Any]:
    """Builds the raw-bytes handler of one method (parse errors -> INVALID_ARGUMENT)."""
    kind, request_type, _ = _rpc.METHODS[name]
    impl = getattr(servicer, name)

    if kind == "unary_unary":

        async def unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            try:
                request = codec.parse(request_type, raw, name)
                return await impl(request, context)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to a status
                failure = exc
            await abort_with(context, failure)

        return kind, unary, None

    if kind == "unary_stream":

        async def server_stream(
            raw: bytes, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            try:
                request = codec.parse(request_type, raw, name)
                async for item in impl(request, context):
                    yield item
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                failure = exc
            await abort_with(context, failure)

        return kind, server_stream, None

    if name == "CallStream":  # writes through context.write (not a generator)

        async def bidi_writer(requests: Any, context: grpc.aio.ServicerContext) -> None:
            try:
                await impl(requests, context)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                failure = exc
            await abort_with(context, failure)

        return kind, bidi_writer, None

    async def bidi(
        requests: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        try:
            async for item in impl(requests, context):
                yield item
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            failure = exc
        await abort_with(context, failure)

    return kind, bidi, None


def _serialize(message: Any) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


def generic_handler(servicer: RemoteExecutionServicer) -> grpc.GenericRpcHandler:
    """The grpc handler of the whole service (requests arrive as raw bytes)."""
    handlers = {}
    for name in _rpc.METHODS:
        kind, func, _ = _wrap(servicer, name)
        factory = {
            "unary_unary": grpc.unary_unary_rpc_method_handler,
            "unary_stream": grpc.unary_stream_rpc_method_handler,
            "stream_stream": grpc.stream_stream_rpc_method_handler,
        }[kind]
        handlers[name] = factory(func, response_serializer=_serialize)
    return grpc.method_handlers_generic_handler(_rpc.SERVICE, handlers)


def import_node_modules(modules: list[str]) -> None:
    """Imports the configured node modules in the front end (for ListNodes)."""
    for module in modules:
        importlib.import_module(module)
