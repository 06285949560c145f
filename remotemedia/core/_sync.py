"""Runs coroutines from synchronous code, also inside a running Jupyter loop.

All sync entry points share one background event loop thread, so that loop-bound
resources (gRPC channels, executors) created by one call serve the next ones.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """Returns the shared background event loop, starting it on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="remotemedia-loop", daemon=True
            )
            thread.start()
            atexit.register(_stop, loop)
            _loop = loop
        return _loop


def _stop(loop: asyncio.AbstractEventLoop) -> None:
    if loop.is_running():
        loop.call_soon_threadsafe(loop.stop)


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Runs ``coro`` on the background loop and waits for its result.

    A KeyboardInterrupt while waiting cancels the coroutine before re-raising, so
    that interrupting a notebook cell stops the work.

    Raises:
        RuntimeError: If called from the background loop itself (would deadlock).
    """
    loop = background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("run_sync called from the remotemedia loop; await instead")
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result(timeout)
    except BaseException:
        future.cancel()
        raise
