"""Control items: values that steer a pipeline instead of being processed.

A control item travels through a pipeline like a frame, but nodes never receive it in
``process``: the pipeline acts on it and hands it on. The one control item today is
:class:`Interrupt` (barge-in): when a node emits one,

* every stage downstream is told at once, out of band, through
  :meth:`Node.interrupt <remotemedia.core.node.Node.interrupt>` (its
  :meth:`~remotemedia.core.node.Node.on_interrupt` hook runs and its
  :attr:`~remotemedia.core.node.Node.interrupted` flag is set), even while it is busy,
  so that generation or synthesis in flight can stop;
* the data items queued downstream of the emitting node are dropped, and so are the
  outputs a downstream stage still produces for input it took before the interruption;
* the Interrupt itself reaches the pipeline's output at once, so that a player can
  drop the audio it has buffered.

See docs/ml.md for how a custom node reacts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remotemedia.core.node import Node

__all__ = ["Control", "Interrupt", "InterruptRouter", "is_control"]

logger = logging.getLogger(__name__)


class Control:
    """Base class of control items (see the module docs)."""


@dataclass(frozen=True)
class Interrupt(Control):
    """Stop what is in flight downstream: the user barged in.

    Args:
        reason: Why, for logs and displays (``"speech"`` from a VAD).
        timestamp: Stream time of the interruption in seconds, if known.

    Attributes:
        id: Random 63-bit number, so that a pipeline delivers each interruption once
            (it survives the trip to a server and back).
        created: ``time.monotonic()`` when it was made (to measure reaction times).

    Example:
        >>> import remotemedia as rm
        >>> item = rm.Interrupt("speech", timestamp=3.2)
    """

    reason: str = ""
    timestamp: float | None = None
    id: int = field(default_factory=lambda: secrets.randbits(63), compare=False)
    created: float = field(default_factory=time.monotonic, compare=False, repr=False)


def is_control(item: object) -> bool:
    """Whether ``item`` is a control item (never given to ``process``)."""
    return isinstance(item, Control)


class InterruptRouter:
    """What one running pipeline does with interruptions (see the module docs).

    Stage ``k`` reads ``queues[k]`` and writes ``queues[k + 1]``; the input feeds
    ``queues[0]``. Counters per stage say how many interruptions it has been told of
    but not yet received in order: while ``drop_input[k]`` is positive the data items
    it takes are stale (queued before the interruption) and dropped; while
    ``drop_output[k]`` is positive so are the data items it emits.

    Args:
        stages: The running stages, in order.
        queues: The queues joining them (one more than there are stages).
        is_data: Whether a queued item is data that an interruption makes stale
            (not a control item, an error record or an end marker).
    """

    def __init__(
        self,
        stages: Sequence[Node],
        queues: Sequence[asyncio.Queue[Any]],
        is_data: Callable[[Any], bool],
    ) -> None:
        self.stages = list(stages)
        self.queues = list(queues)
        self.is_data = is_data
        self.drop_input = [0] * len(self.stages)
        self.drop_output = [0] * len(self.stages)
        #: Interruptions told to each stage so far (a put that waited across one
        #: put a stale item).
        self.epochs = [0] * len(self.stages)
        self._seen: dict[int, None] = {}  # ordered: the oldest are forgotten first
        self._delivered: dict[int, None] = {}

    def is_new(self, item: Control) -> bool:
        """Whether ``item`` is an Interrupt this pipeline has not routed yet."""
        return isinstance(item, Interrupt) and item.id not in self._seen

    def raise_(self, interrupt: Interrupt, first_queue: int) -> None:
        """Routes a new ``interrupt`` put into ``queues[first_queue]``: purges that
        queue and those after it, tells the stages that read them, and delivers the
        interrupt to the output at once."""
        _remember(self._seen, interrupt.id)
        for queue in self.queues[first_queue:]:
            self._purge(queue)
        for index in range(first_queue, len(self.stages)):
            self.drop_input[index] += 1
            self.drop_output[index] += 1
            self.epochs[index] += 1
            try:
                self.stages[index].interrupt(interrupt)
            except Exception:  # noqa: BLE001 - one faulty hook must not stop the rest
                logger.warning(
                    "on_interrupt of '%s' failed",
                    self.stages[index].name,
                    exc_info=True,
                )
        logger.debug("interrupt %s routed from queue %d", interrupt.id, first_queue)
        with contextlib.suppress(asyncio.QueueFull):
            self.queues[-1].put_nowait(interrupt)

    def received(self, index: int, passes_on: bool) -> None:
        """Stage ``index`` took an interruption in order (``passes_on``: and the
        pipeline hands it on for the stage, so its outputs are fresh again)."""
        self.drop_input[index] = max(0, self.drop_input[index] - 1)
        if passes_on:
            self.passed(index)

    def passed(self, index: int) -> None:
        """Stage ``index`` emitted an interruption it had received."""
        self.drop_output[index] = max(0, self.drop_output[index] - 1)

    def first_delivery(self, item: Control) -> bool:
        """Whether the pipeline's output should yield ``item`` (each Interrupt once)."""
        if not isinstance(item, Interrupt):
            return True
        if item.id in self._delivered:
            return False
        _remember(self._delivered, item.id)
        return True

    async def put(self, index: int, queue: asyncio.Queue[Any], item: Any) -> None:
        """Stage ``index`` puts ``item``; if an interruption came while the put
        waited for room, the item is stale and taken out again."""
        epoch = self.epochs[index]
        await queue.put(item)
        if self.epochs[index] != epoch and self.is_data(item):
            self._purge(queue, only=item)

    def _purge(self, queue: asyncio.Queue[Any], only: Any = None) -> None:
        kept = []
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            stale = item is only if only is not None else self.is_data(item)
            if not stale:
                kept.append(item)
        for item in kept:
            queue.put_nowait(item)


def _remember(ids: dict[int, None], key: int, limit: int = 256) -> None:
    ids[key] = None
    if len(ids) > limit:
        del ids[next(iter(ids))]
