"""Session worker process: holds one session's namespace, objects and node instances.

Started by the front end with one end of a socketpair (``--fd``). The main thread
runs user code (so that SIGINT interrupts it like Ctrl-C in a terminal), a reader
thread receives requests and cancellations, and an asyncio loop thread runs
streaming pipeline segments. Unless the server runs with ``--no-direct``, that loop
also serves the worker's own StreamPipeline endpoint (:mod:`remotemedia_server.direct`),
so that clients stream to it without the front-end hop.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import builtins
import collections
import contextlib
import inspect
import io
import itertools
import json
import linecache
import logging
import os
import queue
import resource
import signal
import socket
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

# Before anything imports matplotlib: figures go to the client like Jupyter inline.
os.environ["MPLBACKEND"] = "module://remotemedia_server.mpl_backend"

import numpy as np  # noqa: E402

import remotemedia as rm  # noqa: E402
from remotemedia.core.control import Control, Interrupt  # noqa: E402
from remotemedia.core.errors import (  # noqa: E402
    NodeError,
    RemoteError,
    hide_library_frames,
    user_traceback,
)
from remotemedia.core.node import Node, Outputs  # noqa: E402
from remotemedia.core.stats import NodeStats  # noqa: E402
from remotemedia.remote import codec  # noqa: E402
from remotemedia.remote._proto import execution_pb2 as epb  # noqa: E402
from remotemedia.remote.status import error_record  # noqa: E402
from remotemedia_server import compute, protocol  # noqa: E402
from remotemedia_server.backend import (  # noqa: E402
    deadline_message as _deadline_message,
)
from remotemedia_server.backend import wait_result  # noqa: E402
from remotemedia_server.direct import DirectOptions, DirectServer  # noqa: E402
from remotemedia_server.native_endpoint import InlineStepError  # noqa: E402
from remotemedia_server.proxy import protocol_call  # noqa: E402

logger = logging.getLogger(__name__)

_END = object()
# Types the codec encodes natively (never as a list): see __rm_process__ results.
_NATIVE = (
    rm.AudioFrame,
    rm.VideoFrame,
    str,
    bytes,
    bool,
    float,
    type(None),
    np.ndarray,
)
_AWAIT_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_WORKER: Worker | None = None


def _vm_data_bytes() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def mime_bundle(obj: Any) -> dict[str, Any]:
    """Jupyter-style mime bundle of ``obj`` (binary types base64-encoded)."""
    data: dict[str, Any] = {}
    repr_bundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(repr_bundle) and not isinstance(obj, type):
        try:
            result = repr_bundle()
            if isinstance(result, tuple):
                result = result[0]
            if isinstance(result, dict):
                data.update(result)
        except Exception:  # noqa: BLE001 - a failing repr must not fail the cell
            logger.debug("_repr_mimebundle_ failed", exc_info=True)
    if "matplotlib.figure" in sys.modules:
        from matplotlib.figure import Figure

        if isinstance(obj, Figure):
            data.setdefault("image/png", _figure_png(obj))
    for method, mime in (
        ("_repr_png_", "image/png"),
        ("_repr_jpeg_", "image/jpeg"),
        ("_repr_svg_", "image/svg+xml"),
        ("_repr_html_", "text/html"),
        ("_repr_markdown_", "text/markdown"),
        ("_repr_latex_", "text/latex"),
        ("_repr_json_", "application/json"),
    ):
        func = getattr(obj, method, None)
        if mime in data or not callable(func) or isinstance(obj, type):
            continue
        try:
            value = func()
        except Exception:  # noqa: BLE001
            logger.debug("%s failed", method, exc_info=True)
            continue
        if isinstance(value, tuple):
            value = value[0]
        if value is not None:
            data[mime] = value
    if "text/plain" not in data:
        try:
            data["text/plain"] = repr(obj)
        except Exception as exc:  # noqa: BLE001
            data["text/plain"] = f"<repr failed: {type(exc).__name__}: {exc}>"
    return codec.to_jsonable_bundle(data)


def _figure_png(figure: Any) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def flush_figures() -> None:
    """Sends the open pyplot figures as PNG displays and closes them."""
    if "matplotlib.pyplot" not in sys.modules or _WORKER is None:
        return
    import matplotlib.pyplot as plt

    for number in plt.get_fignums():
        figure = plt.figure(number)
        _WORKER.display_bundle(
            codec.to_jsonable_bundle(
                {
                    "image/png": _figure_png(figure),
                    "text/plain": repr(figure),
                }
            )
        )
    plt.close("all")


def _user_code(func: Any, *args: Any) -> Any:
    """Calls user code; its exceptions become remote errors with their own type."""
    try:
        return func(*args)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - reported with type and traceback
        raise RemoteError(
            f"{type(exc).__name__}: {exc}",
            code="UNKNOWN",
            # From the user's code on: the worker's own frames are hidden.
            remote_traceback=user_traceback(exc),
            error_type=type(exc).__name__,
        ) from exc


class _LiveStream(io.TextIOBase):
    """sys.stdout/sys.stderr replacement: sends each write to the running cell."""

    def __init__(self, worker: Worker, name: str, fallback: Any) -> None:
        super().__init__()
        self._worker = worker
        self._name = name
        self._fallback = fallback

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text and not self._worker.emit_stream(self._name, text):
            self._fallback.write(text)
            self._fallback.flush()
        return len(text)

    def flush(self) -> None:
        pass


class _Stream:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None


class _StreamRun:
    """One stream's nodes and running count: serialized requests in, serialized
    responses out. Its transport (the front end's socket or the worker's own
    endpoint) feeds it; per frame there is no task or generator in between."""

    def __init__(self, worker: Worker, spec: dict[str, Any], direct: bool) -> None:
        self._worker = worker
        self._spec = spec
        self._direct = direct
        self._nodes: list[Node] = []
        self._owned = False
        self._count = 0
        self._stats_before: list[NodeStats] = []

    async def __aenter__(self) -> _StreamRun:
        worker = self._worker
        worker.stream_counts["direct" if self._direct else "front_end"] += 1
        worker.active_streams += 1
        worker.direct_active += self._direct
        try:
            self._nodes, self._owned = worker._build_nodes(self._spec)
            for node in self._nodes:
                await node._ensure_initialized()
        except BaseException:
            await self.__aexit__()
            raise
        # Node instances outlive a stream: this stream's numbers are the change.
        self._stats_before = [node.stats.copy() for node in self._nodes]
        return self

    async def handle(self, requests: list[bytes]) -> tuple[bytes | None, bool]:
        """The response to ``requests`` (None if they held no frame), and
        whether the client ended its input."""
        worker, nodes = self._worker, self._nodes
        outputs: list[Any] = []
        consumed = 0
        ended = False
        arrived = time.perf_counter()
        for raw in requests:
            values, ended = worker._stream_values(raw)
            for value in values:
                outputs.extend(await worker._chain(nodes, 0, [value], arrived))
                consumed += 1
            if ended:
                break
        if not consumed:
            return None, ended
        self._count += consumed
        return worker._stream_response(outputs, self._count, nodes), ended

    def step(self, raw: bytes) -> tuple[bytes | None, bool] | None:
        """:meth:`handle` of one request run to the end on the calling thread, when
        every node can (sync ``process``, not moved to its thread); else None."""
        if not all(node._completes_inline() for node in self._nodes):
            return None
        before = self._count
        running = self.handle([raw])
        try:
            running.send(None)
        except StopIteration as done:
            self._worker.frames_inline += self._count - before
            result: tuple[bytes | None, bool] = done.value
            return result
        running.close()
        raise InlineStepError(
            "a stream step waited on the event loop although its nodes are "
            "synchronous; the stream was stopped"
        )

    async def finish(self) -> bytes:
        """The last response: what the nodes emit at the end of the stream."""
        worker = self._worker
        flushed = await worker._flush_chain(self._nodes)
        stats = [
            node.stats.minus(before)
            for node, before in zip(self._nodes, self._stats_before)
        ]
        return worker._stream_response(flushed, self._count, self._nodes, stats)

    async def __aexit__(self, *exc: object) -> None:
        worker = self._worker
        worker.active_streams -= 1
        if self._direct:
            worker.direct_active -= 1
            worker.last_direct = time.monotonic()
        if self._owned:
            self._owned = False
            for node in self._nodes:
                try:
                    await node._ensure_cleaned_up()
                except Exception:  # noqa: BLE001
                    logger.warning("cleanup of %s failed", node.name, exc_info=True)


class _Replies:
    """Replies to one direct request, handed from the main thread to the loop.

    A deque and one future at a time: no task and no queue per reply (this is
    on every method call's path).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: collections.deque[tuple[str, Any]] = collections.deque()
        self._arrived: asyncio.Future[None] = loop.create_future()

    def put_threadsafe(self, item: tuple[str, Any]) -> None:
        self._loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: tuple[str, Any]) -> None:
        self._items.append(item)
        if not self._arrived.done():
            self._arrived.set_result(None)

    async def get(self, deadline: float) -> tuple[str, Any]:
        """The next reply; TimeoutError past ``deadline`` (time.monotonic)."""
        while not self._items:
            await wait_result(self._arrived, max(0.0, deadline - time.monotonic()))
            self._arrived = self._loop.create_future()
        return self._items.popleft()


class Worker:
    """The state and request loop of one session worker."""

    def __init__(
        self, sock: socket.socket, direct: DirectOptions | None = None
    ) -> None:
        self.sock = sock
        self.session_id: str | None = None
        self.send_lock = threading.Lock()
        # Re-entrant: the SIGINT handler takes it on the main thread, which may
        # hold it already.
        self.state_lock = threading.RLock()
        self.main_sending = False
        self.interrupt_pending = False
        self.ops: queue.Queue[Any] = queue.Queue()
        self.current: int | None = None
        self.exec_rid: int | None = None
        self.cancel_target: int | None = None
        self.cancelled_rids: set[int] = set()
        self.namespace: dict[str, Any] = {}
        self.objects: dict[str, Any] = {}
        self.limits: dict[str, Any] = {}
        self.allowed_nodes: set[str] | None = None
        self.cells = 0
        self.cancelled = 0
        self.frames_inline = 0
        self.started = time.time()
        self.streams: dict[int, _Stream] = {}
        self.stream_counts = {"direct": 0, "front_end": 0}
        self.active_streams = 0
        # Requests that came through the direct endpoint: their replies go to
        # these sinks, not to the front end. Negative ids never clash with the
        # front end's.
        self.local_sinks: dict[int, Callable[[str, Any], None]] = {}
        self._local_ids = itertools.count(-1, -1)
        self.direct_active = 0
        self.direct_calls = 0
        self.last_direct = time.monotonic()
        self.kill_grace_s = 2.0
        self.loop = asyncio.new_event_loop()
        threading.Thread(
            target=self.loop.run_forever, name="rm-worker-loop", daemon=True
        ).start()
        self.direct: DirectServer | None = None
        if direct is not None:
            # Started before any session is assigned (warm pool), so that opening
            # a session does not wait for it.
            self.direct = DirectServer(self, direct)
            asyncio.run_coroutine_threadsafe(self.direct.start(), self.loop).result()
        self.reset_namespace()

    # -- messaging --------------------------------------------------------------
    def send(self, rid: int, kind: str, payload: Any) -> None:
        main = threading.current_thread() is threading.main_thread()
        if main:
            self.main_sending = True
        try:
            sink = self.local_sinks.get(rid)
            if sink is not None:
                sink(kind, payload)  # a request from the direct endpoint
            else:
                protocol.send_blocking(self.sock, (rid, kind, payload), self.send_lock)
        except OSError:
            os._exit(0)  # the front end is gone
        finally:
            if main:
                self.main_sending = False
        if main and self.interrupt_pending:
            self.interrupt_pending = False
            raise KeyboardInterrupt

    def error_payload(self, exc: BaseException) -> dict[str, str]:
        message = None
        if isinstance(exc, MemoryError) and self.limits.get("memory_mb"):
            message = (
                f"memory limit {self.limits['memory_mb']} MB exceeded "
                f"({type(exc).__name__}: {exc})"
            )
        return error_record(exc, message)

    def reply_error(self, rid: int, exc: BaseException) -> None:
        self.send(rid, "err", self.error_payload(exc))

    def emit_stream(self, name: str, text: str) -> bool:
        rid = self.exec_rid
        if rid is None:
            return False
        event = epb.ExecuteCodeEvent(stream=epb.StreamChunk(name=name, text=text))
        self.send(rid, "event", event.SerializeToString())
        return True

    def display_bundle(self, bundle: dict[str, Any]) -> None:
        rid = self.exec_rid
        if rid is None:
            logger.info("display outside a cell dropped: %s", list(bundle))
            return
        event = epb.ExecuteCodeEvent(display_json=json.dumps(bundle))
        self.send(rid, "event", event.SerializeToString())

    def display(self, *objs: Any, raw: bool = False, **_: Any) -> None:
        """``display()`` of the session namespace (and of IPython, when present)."""
        for obj in objs:
            if raw and isinstance(obj, dict):
                self.display_bundle(codec.to_jsonable_bundle(obj))
            else:
                self.display_bundle(mime_bundle(obj))

    # -- main loops ---------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGINT, self._on_sigint)
        sys.stdout = _LiveStream(self, "stdout", sys.__stdout__)
        sys.stderr = _LiveStream(self, "stderr", sys.__stderr__)
        self._hook_ipython()
        threading.Thread(
            target=self._read_loop, name="rm-worker-read", daemon=True
        ).start()
        hello: dict[str, Any] = {"pid": os.getpid()}
        if self.direct is not None:
            hello.update(direct_port=self.direct.port, direct_token=self.direct.token)
        self.send(0, "hello", hello)
        while True:
            message = self.ops.get()
            if message is None:
                return
            rid = message[0]
            try:
                kind, result = self._run_op(*message)
            except KeyboardInterrupt:
                # An interrupt that lands just after the op finished still means
                # "cancelled" to the client that asked for it.
                kind, result = "err", self._cancelled_record()
            with self.state_lock:
                self.current = None
                self.cancel_target = None
            self.send(rid, kind, result)

    def _cancelled_record(self) -> dict[str, str]:
        self.cancelled += 1
        return error_record(RemoteError("the call was cancelled", code="CANCELLED"))

    def _run_op(self, rid: int, op: str, payload: Any) -> tuple[str, Any]:
        try:
            with self.state_lock:
                self.current = rid
                skip = rid in self.cancelled_rids
                self.cancelled_rids.discard(rid)
            if skip:
                raise KeyboardInterrupt
            return "ok", getattr(self, f"op_{op}")(rid, payload)
        except KeyboardInterrupt:
            return "err", self._cancelled_record()
        except BaseException as exc:  # noqa: BLE001 - reported to the client
            return "err", self.error_payload(exc)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        with self.state_lock:
            hit = self.cancel_target is not None and self.cancel_target == self.current
            if hit:
                self.cancel_target = None
                if self.main_sending:
                    # Never break a half-sent frame: interrupt once it is out.
                    self.interrupt_pending = True
                    hit = False
        if hit:
            raise KeyboardInterrupt

    def _read_loop(self) -> None:
        reader = protocol.BlockingReader(self.sock)
        while True:
            try:
                message = reader.recv()
            except (OSError, ValueError):
                message = None
            if message is None:
                os._exit(0)  # the front end closed the session or died
            rid, op, payload = message
            if op == "cancel":
                self._cancel(payload)
            elif op == "status":
                self.send(rid, "ok", self.status())
            elif op == "stream_open":
                self.loop.call_soon_threadsafe(self._open_stream, rid, payload)
            elif op == "stream_push":
                self.loop.call_soon_threadsafe(self._push_stream, rid, payload)
            elif op == "stream_end":
                self.loop.call_soon_threadsafe(self._push_stream, rid, _END)
            elif op == "shutdown":
                os._exit(0)
            else:
                self.ops.put(message)

    # -- requests from the direct endpoint (asyncio loop) ------------------------------
    def call_timeout(self, requested: float) -> float:
        """The wall-time limit of one call (the session's, or less if asked)."""
        limit = float(self.limits.get("call_timeout_s", 300.0))
        return min(limit, requested) if requested > 0 else limit

    async def local_request(
        self, op: str, payload: Any, timeout: float
    ) -> AsyncGenerator[tuple[str, Any], None]:
        """Runs an op on the main thread like a front-end request; yields its
        ``("event", bytes)`` items, then its final ``("ok"|"err", payload)``.

        The call-time limit is enforced here as the front end would: interrupt,
        and if the op ignores that for ``kill_grace_s``, end the worker (the
        front end learns why and reports it).
        """
        replies = _Replies(asyncio.get_running_loop())
        rid = next(self._local_ids)

        def sink(kind: str, item: Any) -> None:
            if kind != "event":
                self.local_sinks.pop(rid, None)
            replies.put_threadsafe((kind, item))

        self.local_sinks[rid] = sink
        self.direct_active += 1
        self.direct_calls += 1
        self.ops.put((rid, op, payload))
        deadline = time.monotonic() + timeout
        finished = False
        try:
            while True:
                try:
                    kind, item = await replies.get(deadline)
                except asyncio.TimeoutError:
                    self._cancel(rid)
                    grace = time.monotonic() + self.kill_grace_s
                    try:
                        while (await replies.get(grace))[0] == "event":
                            pass
                    except asyncio.TimeoutError:
                        self._die(
                            RemoteError(
                                _deadline_message(timeout, killed=True),
                                code="DEADLINE_EXCEEDED",
                            )
                        )
                    finished = True
                    raise RemoteError(
                        _deadline_message(timeout, killed=False),
                        code="DEADLINE_EXCEEDED",
                    ) from None
                if kind != "event":
                    finished = True
                yield kind, item
                if finished:
                    return
        finally:
            self.direct_active -= 1
            self.last_direct = time.monotonic()
            if not finished:
                self._cancel(rid)  # the client gave up: stop the op too

    def _die(self, error: RemoteError) -> None:
        """Ends this worker, telling the front end why first (it reports that to
        the client and starts a fresh worker for the session)."""
        logger.warning("ending the worker: %s", error)
        with contextlib.suppress(OSError):
            protocol.send_blocking(
                self.sock, (0, "dying", error_record(error)), self.send_lock
            )
        os._exit(70)

    def _cancel(self, target: int) -> None:
        if target in self.streams:
            stream = self.streams[target]
            if stream.task is not None:
                self.loop.call_soon_threadsafe(stream.task.cancel)
            return
        with self.state_lock:
            if self.current == target:
                self.cancel_target = target
                interrupt = True
            else:
                self.cancelled_rids.add(target)
                interrupt = False
        if interrupt:
            os.kill(os.getpid(), signal.SIGINT)

    def _hook_ipython(self) -> None:
        # IPython's display() prints a repr when no shell runs; route it to the cell.
        try:
            import IPython.core.display_functions as display_functions
            import IPython.display as ipython_display
        except ImportError:
            return
        display_functions.display = self.display  # type: ignore[assignment]
        ipython_display.display = self.display  # type: ignore[assignment]
        try:
            from remotemedia.notebook import display as rm_display
        except ImportError:
            return
        # rm.show() displays only inside IPython; a running cell counts as one here.
        rm_display._in_ipython = lambda: (  # type: ignore[attr-defined]
            self if self.exec_rid is not None else None
        )

    # -- state ------------------------------------------------------------------
    def reset_namespace(self) -> None:
        self.namespace.clear()
        self.namespace.update(
            {"__name__": "__main__", "__builtins__": builtins, "display": self.display}
        )

    def status(self) -> dict[str, Any]:
        variables = sorted(
            k for k in list(self.namespace) if not k.startswith("_") and k != "display"
        )
        return {
            "pid": os.getpid(),
            "worker_uptime_s": round(time.time() - self.started, 3),
            "rss_mb": round(_rss_bytes() / 2**20, 1),
            "n_objects": len(self.objects),
            "variables": variables,
            "cells": self.cells,
            "cancelled": self.cancelled,
            "streams": self.active_streams,
            "streams_direct": self.stream_counts["direct"],
            "streams_via_front_end": self.stream_counts["front_end"],
            "calls_direct": self.direct_calls,
            "direct_transport": self.direct.transport if self.direct else None,
            # Frames a direct stream handled on the endpoint's own thread.
            "frames_inline": self.frames_inline,
            # What only the worker knows: how long its direct endpoint was idle.
            "direct_idle_s": (
                0.0
                if self.direct_active
                else round(time.monotonic() - self.last_direct, 3)
            ),
            # Placement: where this session's models run and what is loaded.
            **compute.device_report(),
            "models": compute.loaded_models(list(self.objects.values())),
        }

    def _object(self, object_id: str) -> Any:
        try:
            return self.objects[object_id]
        except KeyError:
            # Said plainly, with no traceback of this lookup: it is not user code.
            raise RemoteError(
                f"no remote object '{object_id}' in this session (it was released, "
                "or the session was reset)",
                code="NOT_FOUND",
                error_type="KeyError",
            ) from None

    def _check_node_type(self, node: Any) -> None:
        if self.allowed_nodes is None or not isinstance(node, Node):
            return
        if node.registry_name() not in self.allowed_nodes:
            raise PermissionError(
                f"node type '{node.registry_name()}' is not allowed on this server"
            )

    # -- ops (main thread) --------------------------------------------------------
    def op_configure(self, rid: int, payload: dict[str, Any]) -> dict[str, Any]:
        self.session_id = payload.get("session_id")
        self.kill_grace_s = float(payload.get("kill_grace_s", self.kill_grace_s))
        self.limits = dict(payload.get("limits", {}))
        allowed = payload.get("allowed_nodes")
        self.allowed_nodes = set(allowed) if allowed is not None else None
        for module in payload.get("node_modules", ()):
            __import__(module)
        memory_mb = self.limits.get("memory_mb")
        base = _vm_data_bytes()
        if memory_mb and base is not None:
            # Allocations beyond the worker's baseline fail with MemoryError.
            limit = base + int(memory_mb) * 2**20
            resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.RLIM_INFINITY))
        return {"pid": os.getpid()}

    def op_execute(self, rid: int, payload: dict[str, Any]) -> None:
        self.cells += 1
        filename = f"<remote-cell-{self.cells}>"
        code = payload["code"]
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        self.exec_rid = rid
        try:
            try:
                tree = ast.parse(code, filename, "exec")
                last = None
                if tree.body and isinstance(tree.body[-1], ast.Expr):
                    last = ast.Expression(tree.body.pop().value)
                self._run_code(compile(tree, filename, "exec", flags=_AWAIT_FLAGS))
                value = None
                if last is not None:
                    value = self._run_code(
                        compile(last, filename, "eval", flags=_AWAIT_FLAGS)
                    )
                flush_figures()
            except (KeyboardInterrupt, MemoryError):
                raise
            except BaseException as exc:  # noqa: BLE001 - the cell's own error
                flush_figures()
                self._send_cell_error(rid, exc, filename)
                return
            if value is not None:
                self.namespace["_"] = value
                event = epb.ExecuteCodeEvent(result_json=json.dumps(mime_bundle(value)))
                self.send(rid, "event", event.SerializeToString())
        finally:
            self.exec_rid = None
        return None

    def _run_code(self, code: Any) -> Any:
        # Top-level `await` (as in IPython) compiles to a coroutine: it runs on the
        # worker's event loop while this thread waits (and stays interruptible).
        result = eval(code, self.namespace)
        if code.co_flags & inspect.CO_COROUTINE:
            result = self._run_on_loop(result)
        return result

    def _send_cell_error(self, rid: int, exc: BaseException, filename: str) -> None:
        tb = exc.__traceback__
        # Drop the worker's own frames: the traceback starts in the cell.
        while tb is not None and tb.tb_frame.f_code.co_filename != filename:
            tb = tb.tb_next
        if isinstance(exc, SyntaxError):
            tb = None
        text = hide_library_frames(
            "".join(traceback.format_exception(type(exc), exc, tb))
        )
        error = epb.RemoteException(
            error_type=type(exc).__name__, message=str(exc), traceback=text
        )
        self.send(rid, "event", epb.ExecuteCodeEvent(error=error).SerializeToString())

    def op_push(self, rid: int, payload: dict[str, bytes]) -> None:
        values = {
            name: codec.loads(data, f"variable '{name}'")
            for name, data in payload.items()
        }
        self.namespace.update(values)

    def op_pull(self, rid: int, names: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for name in names:
            if name not in self.namespace:
                raise KeyError(f"variable '{name}' is not defined in the session")
            try:
                out[name] = codec.dumps(self.namespace[name], f"variable '{name}'")
            except TypeError as exc:
                raise RemoteError(
                    str(exc), code="FAILED_PRECONDITION", error_type="PicklingError"
                ) from exc
        return out

    def op_reset(self, rid: int, payload: Any) -> dict[str, Any]:
        self.reset_namespace()
        self.objects.clear()
        return {"reset": True}

    def op_create(self, rid: int, data: bytes) -> dict[str, str]:
        limit = self.limits.get("max_objects")
        if limit and len(self.objects) >= limit:
            raise RemoteError(
                f"object limit {limit} reached; delete objects or reset the session",
                code="RESOURCE_EXHAUSTED",
            )
        obj = codec.loads(data, "remote object")
        self._check_node_type(obj)
        object_id = uuid.uuid4().hex[:16]
        self.objects[object_id] = obj
        kind = type(obj)
        return {
            "object_id": object_id,
            "type_name": f"{kind.__module__}.{kind.__qualname__}",
        }

    def op_delete(self, rid: int, object_id: str) -> None:
        self.objects.pop(object_id, None)

    def op_objects(self, rid: int, payload: Any) -> list[dict[str, str]]:
        return [
            {"id": oid, "type": f"{type(o).__module__}.{type(o).__qualname__}"}
            for oid, o in self.objects.items()
        ]

    def op_getattr(self, rid: int, payload: dict[str, str]) -> dict[str, Any]:
        obj = self._object(payload["object_id"])
        value = _user_code(getattr, obj, payload["name"])
        if callable(value) and not isinstance(value, type):
            name = payload["name"]
            static = inspect.getattr_static(type(obj), name, None)
            method = isinstance(static, types.FunctionType) and name not in getattr(
                obj, "__dict__", {}
            )
            return {"callable": True, "value": None, "method": method}
        return {"callable": False, "value": codec.encode_bytes(value, payload["name"])}

    def op_call_raw(self, rid: int, data: bytes) -> bytes:
        """A method call forwarded as the client's serialized CallStreamRequest."""
        call = codec.parse(epb.CallStreamRequest, data, "CallStreamRequest").call
        payload = {
            "object_id": call.object_id,
            "method": call.method,
            "args": call.pickled_args,
        }
        return self.op_call(rid, payload)

    def op_call(self, rid: int, payload: dict[str, Any]) -> bytes:
        obj = self._object(payload["object_id"])
        args, kwargs = codec.loads(payload["args"], "method arguments")
        method = payload["method"]
        if method == "__rm_process__":
            coro = self._process(obj, args[0])
            result: Any = Outputs(_user_code(self._run_on_loop, coro))
        elif method == "__rm_flush__":
            result = Outputs(_user_code(self._run_on_loop, self._flush(obj)))
        else:
            handled, result = _user_code(protocol_call, self.objects, obj, method, args)
            if not handled:
                result = _user_code(lambda: getattr(obj, method)(*args, **kwargs))
        if method in ("__rm_process__", "__rm_flush__") and len(result) == 1:
            if type(result[0]) in _NATIVE:
                # One frame/array/scalar: its own Value, not a pickled list (no
                # pickling of large buffers); the client wraps it back into a list.
                return codec.encode_bytes(result[0], f"result of {method}()")
        return codec.encode_bytes(result, f"result of {method}()")

    def op_run_pipeline(self, rid: int, payload: dict[str, Any]) -> list[bytes]:
        nodes, owned = self._build_nodes(payload["spec"])
        data = codec.decode_bytes(payload["input"], "pipeline input")
        outputs = self._run_on_loop(self._run_once(nodes, owned, data))
        return [self._encode_output(o, nodes) for o in outputs]

    def _run_on_loop(self, coro: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    # -- nodes and streams (asyncio loop) ------------------------------------------
    def _build_nodes(self, spec: dict[str, Any]) -> tuple[list[Node], bool]:
        if "manifest" in spec:
            manifest = spec["manifest"]
            if isinstance(manifest, str):
                # Parsed here: client text is never taken for a path on the server.
                try:
                    manifest = json.loads(manifest)
                except ValueError as exc:
                    raise rm.ManifestError(
                        f"manifest is not valid JSON: {exc}"
                    ) from None
            # Entries the client marked remote run here, in this worker.
            pipeline = rm.Pipeline.from_manifest(manifest, placement="local")
            nodes = list(pipeline.nodes)
            owned = True
        elif "pickled" in spec:
            nodes = codec.loads(spec["pickled"], "pickled nodes")
            owned = True
        else:
            nodes = [self._object(oid) for oid in spec["ids"]]
            owned = False
        if not isinstance(nodes, list) or not all(isinstance(n, Node) for n in nodes):
            raise codec.CodecError("a pipeline segment must be a list of nodes")
        for node in nodes:
            self._check_node_type(node)
        return nodes, owned

    @staticmethod
    async def _process(node: Node, data: Any) -> list[Any]:
        await node._ensure_initialized()
        return await node.process_one(data)

    @staticmethod
    async def _flush(node: Node) -> list[Any]:
        await node._ensure_initialized()
        return await node.flush_outputs()

    @staticmethod
    async def _chain(
        nodes: list[Node], start: int, items: list[Any], ready: float | None = None
    ) -> list[Any]:
        """``items`` through ``nodes[start:]``; each node's queue wait counts from
        ``ready`` (when the items arrived) or the previous node's output."""
        clock = time.perf_counter
        ready = clock() if ready is None else ready
        for node in nodes[start:]:
            produced: list[Any] = []
            stats = node.stats
            for item in items:
                if isinstance(item, (NodeError, Control)):
                    if isinstance(item, Interrupt):
                        node.interrupt(item)  # in order; the client also calls early
                    produced.append(item)
                    continue
                stats.queue_s += clock() - ready
                try:
                    produced.extend(await node.process_one(item))
                except Exception as exc:  # noqa: BLE001 - becomes an error record
                    produced.append(NodeError.from_exception(node.name, exc, item))
            items = produced
            ready = clock()
        return items

    async def _flush_chain(self, nodes: list[Node]) -> list[Any]:
        out: list[Any] = []
        for index, node in enumerate(nodes):
            try:
                items = await node.flush_outputs()
            except Exception as exc:  # noqa: BLE001
                items = [NodeError.from_exception(node.name, exc, "<end of stream>")]
            out.extend(await self._chain(nodes, index + 1, items))
        return out

    async def _run_once(self, nodes: list[Node], owned: bool, data: Any) -> list[Any]:
        try:
            for node in nodes:
                await node._ensure_initialized()
            outputs = await self._chain(nodes, 0, [data])
            outputs.extend(await self._flush_chain(nodes))
            return outputs
        finally:
            if owned:
                for node in nodes:
                    await node._ensure_cleaned_up()

    def _encode_output(self, value: Any, nodes: list[Node]) -> bytes:
        try:
            return codec.encode_bytes(value, "node output")
        except TypeError as exc:
            name = nodes[-1].name if nodes else "pipeline"
            return codec.encode_bytes(NodeError.from_exception(name, exc, value))

    def _open_stream(self, rid: int, spec: dict[str, Any]) -> None:
        stream = _Stream()
        self.streams[rid] = stream
        stream.task = self.loop.create_task(self._stream_main(rid, spec, stream))

    def _push_stream(self, rid: int, item: Any) -> None:
        stream = self.streams.get(rid)
        if stream is not None:
            stream.queue.put_nowait(item)

    async def _stream_main(
        self, rid: int, spec: dict[str, Any], stream: _Stream
    ) -> None:
        """A stream relayed by the front end: requests arrive through the socket."""
        queue = stream.queue
        try:
            async with self.stream_run(spec, direct=False) as run:
                ended = False
                while not ended:
                    # Everything already queued is answered with one response.
                    items = [await queue.get()]
                    while not queue.empty():
                        items.append(queue.get_nowait())
                    closing = _END in items
                    if closing:
                        items = items[: items.index(_END)]
                    response, ended = await run.handle(items)
                    if response is not None:
                        self.send(rid, "event", response)
                    ended = ended or closing
                self.send(rid, "event", await run.finish())
            self.send(rid, "ok", None)
        except asyncio.CancelledError:
            self.cancelled += 1
            self.send(
                rid,
                "err",
                error_record(RemoteError("the stream was cancelled", code="CANCELLED")),
            )
        except BaseException as exc:  # noqa: BLE001
            self.reply_error(rid, exc)
        finally:
            self.streams.pop(rid, None)

    def stream_run(self, spec: dict[str, Any], direct: bool) -> _StreamRun:
        """One stream over the segment ``spec`` (an async context manager).

        Args:
            spec: The pipeline segment (see :meth:`_build_nodes`).
            direct: Whether the client streams to this worker's own endpoint
                (counted apart in the status).
        """
        return _StreamRun(self, spec, direct)

    @staticmethod
    def _stream_values(data: bytes) -> tuple[list[Any], bool]:
        """The frames of one serialized ``StreamRequest``, and whether it ends."""
        request = codec.parse(epb.StreamRequest, data, "StreamRequest")
        kind = request.WhichOneof("kind")
        if kind == "frame":
            return [codec.decode(request.frame, "stream frame")], False
        if kind == "batch":
            frames = request.batch.frames
            return [codec.decode(v, "stream frame") for v in frames], False
        if kind == "end":
            return [], True
        raise codec.CodecError(f"unexpected '{kind}' mid-stream")

    @staticmethod
    def _stream_response(
        outputs: list[Any],
        count: int,
        nodes: list[Node],
        stats: list[dict[str, Any]] | None = None,
    ) -> bytes:
        response = epb.StreamResponse(ack=count)
        if stats is not None:
            response.stats_json = json.dumps(stats)
        for value in outputs:
            slot = response.values.add()
            try:
                codec.encode(value, "node output", slot)
            except TypeError as exc:
                name = nodes[-1].name if nodes else "pipeline"
                slot.Clear()
                codec.encode(NodeError.from_exception(name, exc, value), msg=slot)
        return response.SerializeToString()


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m remotemedia_server.worker --fd N``."""
    global _WORKER
    parser = argparse.ArgumentParser(description="remotemedia session worker")
    parser.add_argument("--fd", type=int, required=True)
    DirectOptions.add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="worker %(levelname)s %(message)s"
    )
    sock = socket.socket(fileno=args.fd)
    sock.setblocking(True)
    _WORKER = Worker(sock, DirectOptions.from_args(args))
    _WORKER.run()


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy, so that the matplotlib
    # backend and display hooks see the same worker globals.
    from remotemedia_server.worker import main as _main

    _main()
