"""A subscriber's async iterator over a peer's frames or outputs.

Each ``Peer.frames()`` / ``Peer.outputs()`` call gets its own bounded queue on the
peer's loop; the iterator may run on any loop and fetches everything queued in one
hop, so a consumer that stalled (a notebook cell running) catches up at once.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from remotemedia.webrtc.queues import DropOldestQueue

__all__ = ["END", "End", "SubscriberStream"]


class End:
    """Marks the end of a frame or output stream."""


END = End()


class SubscriberStream:
    """One subscriber's view of a peer's frames or outputs (an async iterator).

    Args:
        queue: The subscriber's queue (filled on the peer's loop).
        run: Runs a coroutine on the peer's loop from any loop.
        leave: Called with ``queue`` when the subscriber is done.
    """

    def __init__(
        self,
        queue: DropOldestQueue[Any],
        run: Callable[[Coroutine[Any, Any, Any]], Awaitable[Any]],
        leave: Callable[[DropOldestQueue[Any]], None],
    ) -> None:
        self._run = run
        self._leave = leave
        self._queue = queue
        self._ready: collections.deque[Any] = collections.deque()
        self._end: BaseException | End | None = None

    def __aiter__(self) -> SubscriberStream:
        return self

    async def __anext__(self) -> Any:
        while self._end is None:
            if not self._ready:
                # One hop to the peer's loop fetches everything queued, so a
                # consumer on another loop catches up at once after a stall.
                self._ready.extend(await self._run(self._batch()))
            item = self._ready.popleft()
            if not isinstance(item, (End, BaseException)):
                return item
            self._end = item  # stays ended on later calls
            self._ready.clear()
            self._leave(self._queue)
        if isinstance(self._end, BaseException):
            raise self._end
        raise StopAsyncIteration

    async def _batch(self) -> list[Any]:
        items = [await self._queue.get()]
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    async def aclose(self) -> None:
        """Stops receiving (the peer keeps running)."""
        self._leave(self._queue)
