"""Grouping the inputs that are already waiting, so a model can take them at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["queued_batches"]


class _End:
    pass


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def queued_batches(
    inputs: AsyncIterator[Any], size: int
) -> AsyncIterator[list[Any]]:
    """Yields lists of up to ``size`` inputs, never waiting to fill one.

    A batch is yielded as soon as one input is there, together with the inputs that
    arrived while the previous batch was being processed. Inputs are read ahead by
    at most ``size`` items (a bounded queue), so upstream backpressure still holds.
    An exception raised by ``inputs`` is re-raised after the inputs before it.

    Args:
        inputs: The node's input stream.
        size: Largest batch, >= 1.
    """
    if size <= 1:
        async for item in inputs:
            yield [item]
        return
    queue: asyncio.Queue[Any] = asyncio.Queue(size)

    async def pump() -> None:
        try:
            async for item in inputs:
                await queue.put(item)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - re-raised by the consumer
            await queue.put(_Failed(exc))
            return
        await queue.put(_End())

    task = asyncio.create_task(pump())
    try:
        pending: Any = None
        while True:
            item = pending if pending is not None else await queue.get()
            pending = None
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.exc
            batch = [item]
            while len(batch) < size and not queue.empty():
                nxt = queue.get_nowait()
                if isinstance(nxt, (_End, _Failed)):
                    pending = nxt
                    break
                batch.append(nxt)
            yield batch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
