"""Sync nodes move to their own thread only when an event loop drives them."""

from __future__ import annotations

import threading
import time
from typing import Any

import remotemedia as rm


class _Slow(rm.Node):
    """Takes over the auto-threading threshold on every call."""

    def process(self, data: Any) -> Any:
        time.sleep(0.004)
        return threading.get_ident()


def _drive(coro: Any) -> Any:
    """Runs a coroutine that awaits nothing to its end without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("the call waited on an event loop")


def test_a_slow_sync_node_stays_inline_without_a_loop() -> None:
    node = _Slow()
    here = threading.get_ident()
    # Enough calls to push the running mean past the threshold: without a loop the
    # node must still finish inline instead of failing on get_running_loop().
    results = [_drive(node.process_one(i)) for i in range(6)]
    assert results == [[here]] * 6
    assert node._threaded()


async def test_a_slow_sync_node_moves_to_its_thread_on_a_loop() -> None:
    node = _Slow()
    for i in range(6):
        (ident,) = await node.process_one(i)
    assert ident != threading.get_ident()
