"""Worker placement: where a session's worker runs.

The servicer only uses the small :class:`WorkerBackend`/:class:`WorkerHandle`
interface (create, call, stream, close, health). :class:`LocalProcessBackend` runs
each worker as a local subprocess from a warm pool; a cluster backend (Ray) can
implement the same interface without touching the servicer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from remotemedia.core.errors import RemoteError
from remotemedia.remote.status import error_from_record
from remotemedia_server import protocol
from remotemedia_server.direct import DirectOptions

logger = logging.getLogger(__name__)

__all__ = ["WorkerBackend", "WorkerHandle", "WorkerStream", "LocalProcessBackend"]


class WorkerStream(Protocol):
    """One streaming call on a worker: send inputs, iterate events."""

    async def send(self, data: bytes) -> None: ...

    async def end(self) -> None: ...

    def fail(self, exc: BaseException) -> None: ...

    def events(self, timeout: float | None = None) -> AsyncIterator[bytes]: ...


class WorkerHandle(Protocol):
    """A running session worker."""

    @property
    def alive(self) -> bool: ...

    @property
    def death(self) -> str: ...

    @property
    def direct(self) -> tuple[int, str] | None:
        """(port, token) of the worker's own StreamPipeline endpoint, if any."""
        ...

    async def failure(self, timeout: float = 2.0) -> dict[str, str] | None:
        """The error record of the worker's end, waiting up to ``timeout`` for a
        worker that stops answering; None while it is alive."""
        ...

    async def call(
        self, op: str, payload: Any, timeout: float | None = None
    ) -> Any: ...

    def stream(self, op: str, payload: Any) -> WorkerStream: ...

    async def health(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class WorkerBackend(Protocol):
    """Creates session workers."""

    async def start(self) -> None: ...

    async def create(self, config: dict[str, Any]) -> WorkerHandle: ...

    async def close(self) -> None: ...


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "worker connection lost"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"worker killed by signal {name}"
    return f"worker exited with code {code}"


class LocalWorker:
    """A session worker running as a local subprocess."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        connection: protocol.FrameProtocol,
        kill_grace_s: float,
        hello: dict[str, Any] | None = None,
    ) -> None:
        self.process = process
        self.pid = process.pid
        hello = hello or {}
        self._direct = (
            (int(hello["direct_port"]), str(hello["direct_token"]))
            if hello.get("direct_port")
            else None
        )
        self._failure: dict[str, str] | None = None
        self._last_words: dict[str, str] | None = None
        self._connection = connection
        self._ids = itertools.count(1)
        self._pending: dict[int, Any] = {}
        self._alive = True
        self._death = ""
        self._expected_exit = False
        self._death_code = "UNAVAILABLE"
        self._watchdog: asyncio.Task[None] | None = None
        self._kill_grace_s = kill_grace_s
        self._reader_task: asyncio.Task[None] | None = None
        # From now on the connection dispatches straight into this worker.
        connection.on_message = self._on_message
        connection.on_lost = self._on_lost
        if connection.transport is None or connection.transport.is_closing():
            self._on_lost(None)

    @classmethod
    async def spawn(
        cls,
        kill_grace_s: float = 2.0,
        timeout: float = 120.0,
        direct: DirectOptions | None = None,
    ) -> LocalWorker:
        """Starts a worker and waits until it is ready.

        Args:
            kill_grace_s: Seconds an interrupted call gets before a kill.
            timeout: Seconds the worker gets to start.
            direct: Serve the worker's own StreamPipeline endpoint with these
                settings (None: streams go through the front end only).
        """
        parent, child = socket.socketpair()
        extra = direct.to_args() if direct is not None else []
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "remotemedia_server.worker",
                "--fd",
                str(child.fileno()),
                *extra,
                pass_fds=(child.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )
        finally:
            child.close()
        loop = asyncio.get_running_loop()
        hello: asyncio.Future[Any] = loop.create_future()

        def first(message: Any) -> None:
            if not hello.done():
                hello.set_result(message)

        def lost(exc: BaseException | None) -> None:
            if not hello.done():
                hello.set_result(None)

        _, connection = await loop.create_unix_connection(
            lambda: protocol.FrameProtocol(first, lost), sock=parent
        )
        try:
            message = await asyncio.wait_for(hello, timeout)
        except asyncio.TimeoutError:
            message = None
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        if message is None:
            code = await process.wait()
            raise RemoteError(
                f"session worker failed to start ({_describe_exit(code)})",
                code="UNAVAILABLE",
            )
        _, _, hello_payload = message
        return cls(process, connection, kill_grace_s, hello_payload)

    # -- state ------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def death(self) -> str:
        return self._death

    @property
    def direct(self) -> tuple[int, str] | None:
        return self._direct

    async def failure(self, timeout: float = 2.0) -> dict[str, str] | None:
        if self._alive:
            try:
                await self.call("status", None, timeout=timeout)
                return None
            except RemoteError:
                pass  # no answer: it died (or hangs; then it is killed below)
            if self._alive:
                self._death = (
                    f"worker did not answer within {timeout:g} s and was killed"
                )
                self._kill()
        if self._reader_task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self._reader_task), timeout)
        return self._failure or {
            "code": self._death_code,
            "message": f"session worker is gone ({self._death})",
            "error_type": "WorkerCrashed",
        }

    def _on_message(self, message: Any) -> None:
        try:
            rid, kind, payload = message
        except (TypeError, ValueError):
            logger.warning("bad message from worker %s", self.pid)
            self._death = "worker sent a malformed message and was killed"
            self._kill()
            return
        if kind == "dying":  # the worker ends itself and says why (a record)
            self._last_words = payload
            self._expected_exit = False
            return
        target = self._pending.get(rid)
        if target is None:
            return  # a reply to a call that was given up
        if isinstance(target, asyncio.Queue):
            target.put_nowait((kind, payload))
        elif not target.done():
            target.set_result((kind, payload))

    def _on_lost(self, exc: BaseException | None) -> None:
        if exc is not None and self._alive and not self._expected_exit:
            # A garbled frame (or a broken socket): the worker is unusable.
            logger.warning("bad message from worker %s: %s", self.pid, exc)
            self._death = "worker sent a malformed message and was killed"
            self._kill()
        if self._reader_task is None:
            self._alive = False
            self._reader_task = asyncio.get_running_loop().create_task(
                self._after_exit()
            )

    async def _after_exit(self) -> None:
        code = await self.process.wait()
        if not self._death:
            self._death = _describe_exit(code)
        record = {
            "code": self._death_code,
            "message": f"session worker crashed ({self._death}); "
            "the session's state is lost and the next call starts a fresh worker",
            "error_type": "WorkerCrashed",
        }
        if self._expected_exit:
            record["message"] = f"session worker stopped ({self._death})"
        if self._last_words:
            record = dict(self._last_words)
        self._failure = record
        for target in list(self._pending.values()):
            if isinstance(target, asyncio.Queue):
                target.put_nowait(("err", record))
            elif not target.done():
                target.set_result(("err", record))

    async def _send(self, message: Any) -> None:
        if not self._alive:
            raise RemoteError(
                f"session worker is gone ({self._death})", code="UNAVAILABLE"
            )
        try:
            await self._connection.send(message)
        except (ConnectionError, OSError) as exc:
            raise RemoteError(
                f"session worker is gone ({self._death or exc})", code="UNAVAILABLE"
            ) from exc

    async def _interrupt(self, rid: int, done: Any) -> bool:
        """Asks the worker to stop call ``rid``; kills it if it does not. True if killed."""
        with contextlib.suppress(RemoteError):
            await self._send((0, "cancel", rid))
        try:
            await asyncio.wait_for(done(), self._kill_grace_s)
            return False
        except (asyncio.TimeoutError, RemoteError):
            pass
        if self._alive:
            self._death = (
                f"worker did not stop within {self._kill_grace_s:g} s and was killed"
            )
            self._kill()
        return True

    def _kill(self) -> None:
        self._alive = False  # at once: the next call must not pick this worker
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    def watch_memory(self, memory_mb: int, period_s: float = 0.5) -> None:
        """Kills the worker when its RSS grows past baseline + ``memory_mb``.

        A backstop for memory the worker's RLIMIT_DATA does not count (shared
        mappings, native allocators); the worker's own limit usually fires first
        with a MemoryError that leaves the session intact.
        """
        try:
            import psutil
        except ImportError:
            return
        process = psutil.Process(self.pid)
        baseline = process.memory_info().rss
        # Headroom above the hard limit: the in-worker limit should act first.
        limit = baseline + int(memory_mb * 1.25) * 2**20

        async def watch() -> None:
            while self._alive:
                await asyncio.sleep(period_s)
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    return
                if rss > limit and self._alive:
                    self._death = (
                        f"memory limit {memory_mb} MB exceeded "
                        f"(worker RSS {rss / 2**20:.0f} MB); the worker was killed"
                    )
                    self._death_code = "RESOURCE_EXHAUSTED"
                    self._kill()
                    return

        self._watchdog = asyncio.get_running_loop().create_task(watch())

    # -- calls ----------------------------------------------------------------------
    async def call(self, op: str, payload: Any, timeout: float | None = None) -> Any:
        """Runs one request; raises RemoteError with the mapped status code."""
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            try:
                await self._send((rid, op, payload))
            except BaseException:
                future.cancel()  # never sent: nothing to wait for
                raise
            try:
                kind, result = await wait_result(future, timeout)
            except asyncio.TimeoutError:
                killed = await self._interrupt(rid, lambda: asyncio.shield(future))
                raise RemoteError(
                    deadline_message(timeout, killed), code="DEADLINE_EXCEEDED"
                ) from None
            except asyncio.CancelledError:
                asyncio.get_running_loop().create_task(
                    self._interrupt(rid, lambda: asyncio.shield(future))
                )
                raise
        finally:
            # Keep the entry until the worker answers a cancelled call.
            if future.done():
                self._pending.pop(rid, None)
            else:
                future.add_done_callback(lambda _: self._pending.pop(rid, None))
        if kind == "err":
            raise error_from_record(result)
        return result

    def stream(self, op: str, payload: Any) -> _LocalStream:
        """Starts a streaming request (``execute`` or ``stream_open``)."""
        return _LocalStream(self, op, payload)

    async def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {"alive": self._alive, "pid": self.pid}
        if not self._alive:
            info["death"] = self._death
            return info
        try:
            import psutil

            info["rss_mb"] = round(
                psutil.Process(self.pid).memory_info().rss / 2**20, 1
            )
        except Exception:  # noqa: BLE001 - psutil is optional
            pass
        return info

    async def close(self) -> None:
        """Stops the worker (it exits when its socket closes)."""
        self._expected_exit = True
        if self._alive:
            self._death = "session closed"
        with contextlib.suppress(Exception):
            if self._connection.transport is not None:
                self._connection.transport.close()
        try:
            await asyncio.wait_for(self.process.wait(), 3.0)
        except asyncio.TimeoutError:
            self._kill()
            await self.process.wait()
        if self._reader_task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._reader_task, 1.0)


async def wait_result(future: asyncio.Future[Any], timeout: float | None) -> Any:
    """``future``'s result within ``timeout``; cancelling the wait leaves it running.

    Cheaper than ``wait_for(shield(...))``: no task, one timer.
    """
    if future.done():
        return future.result()
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: Any = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    handle = None if timeout is None else loop.call_later(timeout, wake)
    try:
        await waiter
    finally:
        future.remove_done_callback(wake)
        if handle is not None:
            handle.cancel()
    if not future.done():
        raise asyncio.TimeoutError
    return future.result()


# asyncio.timeout (Python 3.11+); None before.
_timeout_after: Any = getattr(asyncio, "timeout", None)


def deadline_message(timeout: float | None, killed: bool) -> str:
    """What a call past its wall-time limit reports."""
    text = f"call exceeded the {timeout:g} s time limit and was interrupted"
    if killed:
        text += (
            "; the worker did not stop and was restarted, so the session's state "
            "(variables, objects, remote nodes) was lost"
        )
    return text


class _LocalStream:
    """A streaming request on a :class:`LocalWorker`."""

    def __init__(self, worker: LocalWorker, op: str, payload: Any) -> None:
        self._worker = worker
        self._op = op
        self._payload = payload
        self._rid = next(worker._ids)
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._started = False
        self._finished = False
        # StreamResponse events merge when concatenated: several ready ones go out
        # as one message (ExecuteCodeEvent ones must not: they are oneofs).
        self._coalesce = op == "stream_open"
        self._held: Any = None

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            self._worker._pending[self._rid] = self._queue
            await self._worker._send((self._rid, self._op, self._payload))

    async def send(self, data: bytes) -> None:
        await self._start()
        await self._worker._send((self._rid, "stream_push", data))

    async def end(self) -> None:
        await self._start()
        await self._worker._send((self._rid, "stream_end", None))

    def fail(self, exc: BaseException) -> None:
        self._queue.put_nowait(("fail", exc))

    async def _wait_done(self) -> None:
        while True:
            kind, _ = await self._queue.get()
            if kind in ("ok", "err"):
                return

    async def events(self, timeout: float | None = None) -> AsyncIterator[bytes]:
        """Yields the worker's events until it finishes; raises its error."""
        await self._start()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                try:
                    if remaining is not None and remaining <= 0:
                        raise asyncio.TimeoutError
                    if self._held is not None:
                        (kind, payload), self._held = self._held, None
                    elif not self._queue.empty():
                        kind, payload = self._queue.get_nowait()
                    elif remaining is None:
                        kind, payload = await self._queue.get()
                    elif _timeout_after is not None:
                        # A timer, not wait_for's extra task per event.
                        async with _timeout_after(remaining):
                            kind, payload = await self._queue.get()
                    else:
                        kind, payload = await asyncio.wait_for(
                            self._queue.get(), remaining
                        )
                except asyncio.TimeoutError:
                    killed = await self._worker._interrupt(self._rid, self._wait_done)
                    self._finished = True
                    raise RemoteError(
                        deadline_message(timeout, killed), code="DEADLINE_EXCEEDED"
                    ) from None
                if kind == "event":
                    if self._coalesce and not self._queue.empty():
                        parts = [payload]
                        while not self._queue.empty():
                            item = self._queue.get_nowait()
                            if item[0] != "event":
                                self._held = item
                                break
                            parts.append(item[1])
                        payload = b"".join(parts)
                    yield payload
                elif kind == "ok":
                    self._finished = True
                    return
                elif kind == "fail":
                    raise payload
                else:
                    self._finished = True
                    raise error_from_record(payload)
        finally:
            if self._finished:
                self._worker._pending.pop(self._rid, None)
            else:
                # Cancelled or abandoned: stop the worker side too.
                asyncio.get_running_loop().create_task(self._abandon())

    async def _abandon(self) -> None:
        try:
            await self._worker._interrupt(self._rid, self._wait_done)
        finally:
            self._worker._pending.pop(self._rid, None)


class LocalProcessBackend:
    """Runs each session worker as a local subprocess, from a warm pool.

    Args:
        warm: Number of idle workers kept started, so that opening a session is fast.
        kill_grace_s: Seconds a worker gets to stop an interrupted call before it
            is killed.
        direct: Settings of each worker's own StreamPipeline endpoint (None: no
            such endpoint; clients stream through the front end).
    """

    def __init__(
        self,
        warm: int = 1,
        kill_grace_s: float = 2.0,
        direct: DirectOptions | None = None,
    ) -> None:
        self.warm = max(0, warm)
        self.kill_grace_s = kill_grace_s
        self.direct = direct
        self._pool: list[LocalWorker] = []
        self._spawning = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def start(self) -> None:
        self._refill()

    def _refill(self) -> None:
        while not self._closed and len(self._pool) + self._spawning < self.warm:
            self._spawning += 1
            task = asyncio.get_running_loop().create_task(self._spawn_into_pool())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _spawn_into_pool(self) -> None:
        try:
            worker = await LocalWorker.spawn(self.kill_grace_s, direct=self.direct)
        except Exception:  # noqa: BLE001 - the next create() spawns directly
            logger.warning("warm worker failed to start", exc_info=True)
            return
        finally:
            self._spawning -= 1
        if self._closed:
            await worker.close()
        else:
            self._pool.append(worker)

    async def create(self, config: dict[str, Any]) -> LocalWorker:
        """Returns a configured worker (from the warm pool when one is ready)."""
        worker = None
        while self._pool:
            candidate = self._pool.pop(0)
            if candidate.alive:
                worker = candidate
                break
        self._refill()
        if worker is None:
            worker = await LocalWorker.spawn(self.kill_grace_s, direct=self.direct)
        await worker.call("configure", config, timeout=60)
        memory_mb = config.get("limits", {}).get("memory_mb")
        if memory_mb:
            worker.watch_memory(int(memory_mb))
        return worker

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for worker in self._pool:
            await worker.close()
        self._pool.clear()
