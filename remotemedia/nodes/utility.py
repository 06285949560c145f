"""Utility nodes: wrap a function, watch a stream, batch inputs, pass data on."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from remotemedia.core.node import Node
from remotemedia.core.registry import register_node

__all__ = ["Lambda", "Tee", "Buffer", "Passthrough"]

logger = logging.getLogger(__name__)


def _callable_name(fn: Callable[..., Any]) -> str | None:
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) and name != "<lambda>" else None


@register_node
class Lambda(Node):
    """Turns any function into a node: each input ``x`` becomes ``fn(x)``.

    The result follows the node output convention: ``None`` emits nothing, a value
    is one output and ``rm.Outputs([...])`` several. ``async def`` functions are
    awaited. A function is not JSON, so a pipeline with a Lambda has no manifest;
    it still runs locally and on a server (the function travels with cloudpickle).

    Args:
        fn: The function to apply to each input.

    Raises:
        ValueError: If ``fn`` is not callable.
    """

    def __init__(self, fn: Callable[[Any], Any], name: str | None = None) -> None:
        if not callable(fn):
            raise ValueError(f"Lambda: fn must be callable, got {fn!r}")
        # A named function names the node, which reads better in diagrams and errors.
        super().__init__(name=name or _callable_name(fn))
        self.fn = fn
        self._coroutine = inspect.iscoroutinefunction(fn)

    def process(self, data: Any) -> Any:
        return self.fn(data)

    async def aprocess(self, data: Any) -> Any:
        if self._coroutine:
            return await self.fn(data)
        # Sync functions keep the base class's inline-or-thread scheduling.
        result = await self._call(self.fn, data)
        if inspect.isawaitable(result):  # e.g. a partial of an async function
            result = await result
        return result


@register_node
class Tee(Node):
    """Passes every input on unchanged and also hands it to a side channel.

    With ``fn`` each input is passed to ``fn`` (a logger, a plot, a queue); without
    it the inputs are appended to :attr:`items`, which holds the inputs of the
    latest run (it is emptied when the pipeline starts).

    Args:
        fn: Called with each input; its result is ignored. None collects into
            ``items``.

    Raises:
        ValueError: If ``fn`` is given and not callable.
    """

    output_kind = "same"

    def __init__(
        self, fn: Callable[[Any], Any] | None = None, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        if fn is not None and not callable(fn):
            raise ValueError(f"Tee: fn must be callable or None, got {fn!r}")
        self.fn = fn
        self.items: list[Any] = []

    def initialize(self) -> None:
        self.items = []

    def process(self, data: Any) -> Any:
        if self.fn is None:
            self.items.append(data)
        else:
            self.fn(data)
        return data


@register_node
class Buffer(Node):
    """Groups consecutive inputs into lists of ``size`` items.

    Each full group is emitted as one output (a list); at the end of the stream the
    remaining inputs, if any, are emitted as a shorter list.

    Args:
        size: Number of inputs per emitted list.

    Raises:
        ValueError: If ``size`` is not a positive integer.
    """

    emits = "items"

    def __init__(self, size: int, name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"Buffer: size must be a positive integer, got {size!r}")
        self.size = size
        self._held: list[Any] = []

    def process(self, data: Any) -> list[Any] | None:
        self._held.append(data)
        if len(self._held) < self.size:
            return None
        group, self._held = self._held, []
        return group

    def flush(self) -> list[Any] | None:
        group, self._held = self._held, []
        return group or None


@register_node
class Passthrough(Node):
    """Emits every input unchanged (a no-op stage for tests and benchmarks)."""

    output_kind = "same"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)

    def process(self, data: Any) -> Any:
        return data
