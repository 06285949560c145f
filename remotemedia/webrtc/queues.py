"""A bounded queue that drops its oldest item instead of blocking the producer.

Live media must never wait for a slow consumer (the sender keeps sending) nor grow
without bound: when full, the oldest item goes and ``dropped`` counts it.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

__all__ = ["DropOldestQueue"]

T = TypeVar("T")


class DropOldestQueue(asyncio.Queue, Generic[T]):  # type: ignore[type-arg]
    """An ``asyncio.Queue`` whose :meth:`offer` drops the oldest item when full.

    Args:
        maxsize: Capacity, > 0.

    Raises:
        ValueError: If ``maxsize`` is not positive.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize <= 0:
            raise ValueError(f"queue size must be > 0, got {maxsize!r}")
        super().__init__(maxsize)
        self.dropped = 0

    def offer(self, item: T, count: bool = True) -> None:
        """Puts ``item`` without waiting, dropping the oldest item when full.

        Args:
            item: The item.
            count: Whether a drop counts in ``dropped`` (not for end markers).
        """
        while self.full():
            self.get_nowait()
            if count:
                self.dropped += 1
        self.put_nowait(item)
