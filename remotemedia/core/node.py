"""The Node base class and the output convention shared by all nodes.

Output convention: ``process`` (or ``aprocess``/``flush``) returns

* ``None`` for no output (a streaming node that is still collecting input),
* any other value for exactly one output, or
* :class:`Outputs` (a ``list`` subclass) for zero, one or several outputs.

A plain ``list`` is one output (a list value); only :class:`Outputs` means "several".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, ClassVar

from remotemedia.core.control import Control, Interrupt
from remotemedia.core.errors import NodeError
from remotemedia.core.stats import NodeStats

__all__ = ["Node", "Source", "Outputs", "iter_outputs", "NodeStats"]

logger = logging.getLogger(__name__)

# A sync ``process`` slower than this (running average) moves to the node's own
# thread so that it no longer blocks the event loop and the other nodes.
_AUTO_THREAD_AFTER_S = 0.002


class Outputs(list):  # type: ignore[type-arg]
    """Several outputs from one ``process``/``flush`` call (see module docs)."""


def iter_outputs(result: Any) -> list[Any]:
    """Normalises a node's return value to a list of outputs."""
    if result is None:
        return []
    if isinstance(result, Outputs):
        return list(result)
    return [result]


class Node:
    """Base class of every processing node.

    Subclasses take their parameters as constructor arguments; those arguments are
    captured automatically as :attr:`config` so that the node can be rebuilt from a
    manifest. Override :meth:`process` (or ``async`` :meth:`aprocess`), and
    optionally :meth:`initialize`, :meth:`flush` and :meth:`cleanup`.

    Class attributes:
        blocking: ``True`` runs ``process`` in the node's own thread, ``False`` on the
            event loop, ``None`` (default) decides from measured call times.
        input_kind: What ``process`` takes: ``"audio"``, ``"video"``, ``"text"``,
            ``"spectrogram"`` or ``"any"`` (default; the type hint of ``process``
            is used then). The pipeline editor refuses a node after one whose
            output it cannot take.
        output_kind: What it emits (the same names, or ``"same"``: its input).
        emits: ``"stream"`` (default) when the outputs for one input and the
            flushed tail continue one signal (``run()`` and a direct call join
            them into one frame); ``"items"`` when each output is a separate item
            (speech segments, fixed-size chunks).
        passes_control: ``True`` when :meth:`astream` receives control items and
            yields them back in order (remote segments); by default the pipeline
            keeps them away from the node (see :mod:`remotemedia.core.control`).

    Args:
        name: Name of this node in a pipeline (defaults to the class name).
    """

    blocking: ClassVar[bool | None] = None
    input_kind: ClassVar[str] = "any"
    output_kind: ClassVar[str] = "any"
    emits: ClassVar[str] = "stream"
    passes_control: ClassVar[bool] = False
    _config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_captures_config", False):
            cls.__init__ = _capture_config(init)  # type: ignore[method-assign]

    def __init__(self, name: str | None = None) -> None:
        self.__dict__.setdefault("_config", {})
        self.name: str = name or type(self).__name__
        self._initialized = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._mean_s = 0.0
        self._interrupted = False
        self.stats = NodeStats()

    # -- metadata -------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (without ``name``), as given or defaulted."""
        return dict(self._config)

    @classmethod
    def registry_name(cls) -> str:
        """The name this node type is registered under (the class name by default)."""
        return str(getattr(cls, "_registry_name", cls.__name__))

    def fusion_key(self) -> object | None:
        """Key shared by consecutive nodes that run better as one stage.

        The pipeline replaces each run of consecutive nodes with equal non-None keys
        by ``type(first).fuse(run)``: remote nodes on one session become one remote
        segment, so frames cross the network once per segment.
        """
        return None

    @classmethod
    def fuse(cls, nodes: list[Node]) -> Node:
        """Builds one stage from consecutive nodes with equal :meth:`fusion_key`."""
        raise TypeError(f"{cls.__name__} defines fusion_key() but not fuse()")

    # -- lifecycle ------------------------------------------------------------
    def initialize(self) -> None:
        """Loads resources (models, files). Called once before the first input."""

    async def ainitialize(self) -> None:
        """Async hook for :meth:`initialize`; the default runs it in a thread."""
        await asyncio.to_thread(self.initialize)

    def process(self, data: Any) -> Any:
        """Processes one input. Returns None, one value, or :class:`Outputs`."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement process() or aprocess()"
        )

    async def aprocess(self, data: Any) -> Any:
        """Async variant of :meth:`process`; override for I/O-bound nodes."""
        return self.process(data)

    def flush(self) -> Any:
        """Emits what is still held at the end of a stream and resets state."""
        return None

    def cleanup(self) -> None:
        """Releases resources. Called once when the pipeline closes, even on error."""

    # -- interruption (barge-in) ------------------------------------------------
    @property
    def interrupted(self) -> bool:
        """True from an interruption until the node is given its next input.

        Long ``process`` calls (token generation, synthesis) check it between steps
        and return early; what they still return then is dropped by the pipeline.
        """
        return self.__dict__.get("_interrupted", False)

    def interrupt(self, interrupt: Interrupt | None = None) -> None:
        """Interrupts the node now: sets :attr:`interrupted`, calls :meth:`on_interrupt`.

        Pipelines call it on each downstream stage as soon as an upstream node emits
        an :class:`~remotemedia.core.control.Interrupt`, possibly from another thread
        than the one running ``process``.
        """
        self._interrupted = True
        self.on_interrupt(interrupt if interrupt is not None else Interrupt())

    def _clear_interrupt(self) -> None:
        self._interrupted = False

    def on_interrupt(self, interrupt: Interrupt) -> None:
        """Hook: stop the work in flight (default: nothing beyond the flag).

        Runs out of band, maybe while ``process`` runs in the node's thread: keep it
        short and thread-safe (set a flag or an event; do not touch the model).
        """

    # -- engine helpers ---------------------------------------------------------
    async def _ensure_initialized(self) -> None:
        if not self._initialized:
            await self.ainitialize()
            self._initialized = True

    async def _ensure_cleaned_up(self) -> None:
        if self._initialized:
            self._initialized = False
            try:
                await asyncio.to_thread(self.cleanup)
            finally:
                if self._executor is not None:
                    self._executor.shutdown(wait=False)
                    self._executor = None

    def _is_async(self) -> bool:
        return type(self).aprocess is not Node.aprocess

    def _threaded(self) -> bool:
        """Whether the next sync call goes to the node's thread (see ``blocking``)."""
        if self.blocking is None:
            return self._mean_s > _AUTO_THREAD_AFTER_S
        return bool(self.blocking)

    def _completes_inline(self) -> bool:
        """Whether :meth:`process_one` now finishes without awaiting anything (a
        sync ``process`` that stays on the caller's thread)."""
        return not self._is_async() and not self._threaded()

    async def _call(self, fn: Any, data: Any) -> Any:
        """Runs a sync callable inline or on the node's thread (see ``blocking``)."""
        # A coroutine driven without a loop (the worker's inline steps, already off
        # the loop's thread) keeps its calls on the calling thread.
        if self._threaded() and asyncio._get_running_loop() is not None:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix=f"rm-{self.name}"
                )
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, fn, data)
        start = time.perf_counter()
        result = fn(data)
        self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - start)
        return result

    async def process_one(self, data: Any) -> list[Any]:
        """Processes one input on the event loop and returns its outputs as a list."""
        start = time.perf_counter()
        self._clear_interrupt()  # a fresh input: earlier interruptions are done
        if self._is_async():
            result = await self.aprocess(data)
        else:
            result = await self._call(self.process, data)
        outputs = iter_outputs(result)
        self.stats.calls += 1
        self.stats.outputs += len(outputs)
        self.stats.total_s += time.perf_counter() - start
        return outputs

    async def flush_outputs(self) -> list[Any]:
        """Runs :meth:`flush` and returns its outputs as a list."""
        start = time.perf_counter()
        outputs = iter_outputs(await self._call(lambda _: self.flush(), None))
        self.stats.outputs += len(outputs)
        self.stats.total_s += time.perf_counter() - start
        return outputs

    async def astream(self, inputs: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Processes a whole stream; yields outputs in order.

        Failures become :class:`NodeError` records in the output; records that
        arrive from upstream pass through untouched. Nodes that handle a whole stream
        at once (remote segments) override this.
        """
        async for item in inputs:
            if isinstance(item, (NodeError, Control)):
                yield item
                continue
            try:
                outputs = await self.process_one(item)
            except Exception as exc:  # noqa: BLE001 - becomes an error record
                logger.debug("node %s failed", self.name, exc_info=True)
                yield NodeError.from_exception(self.name, exc, item)
                continue
            for out in outputs:
                yield out
        try:
            outputs = await self.flush_outputs()
        except Exception as exc:  # noqa: BLE001
            yield NodeError.from_exception(self.name, exc, "<end of stream>")
            return
        for out in outputs:
            yield out

    def __call__(self, data: Any) -> Any:
        """Processes one whole input directly: ``process`` then ``flush``.

        The call treats ``data`` as a complete clip (initialising the node first if
        needed), so what the node holds back comes out too, and the outputs follow
        ``Pipeline.run``'s rule: a node that emits a stream returns one frame
        (its output and the flushed tail joined). To feed a stream frame by frame,
        call :meth:`process` and finally :meth:`flush`, or use a pipeline.

        Returns:
            None when nothing came out, the single output, or :class:`Outputs`.

        Example:
            >>> import numpy as np, remotemedia as rm
            >>> clip = rm.AudioFrame(np.zeros(48000, dtype=np.float32), 48000)
            >>> rm.nodes.Resample(16000)(clip).num_samples
            16000
        """
        from remotemedia.core.kinds import join_stream

        if not self._initialized:
            self.initialize()
            self._initialized = True
        outputs = iter_outputs(self.process(data)) + iter_outputs(self.flush())
        outputs = join_stream(outputs, [self])
        if not outputs:
            return None
        return outputs[0] if len(outputs) == 1 else Outputs(outputs)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        name = "" if self.name == type(self).__name__ else f", name={self.name!r}"
        return f"{type(self).__name__}({args}{name})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_executor"] = None  # threads do not travel
        return state


class Source(Node):
    """A node that produces frames by itself (files, microphones, generators).

    A source stands first in a pipeline; ``Pipeline.stream()``/``run()`` called with
    no input iterate it. Sources are also plain iterables.
    """

    def frames(self) -> Iterable[Any] | AsyncIterator[Any]:
        """Yields the source's frames (sync or async generator)."""
        raise NotImplementedError(f"{type(self).__name__} must implement frames()")

    def process(self, data: Any) -> Any:
        # A source placed mid-pipeline passes data through unchanged.
        return data

    def __iter__(self) -> Iterator[Any]:
        frames = self.frames()
        if not isinstance(frames, Iterable):
            raise TypeError(f"{type(self).__name__} is async; use 'async for'")
        return iter(frames)


def _capture_config(init: Any) -> Any:
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: Node, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        # Only the outermost __init__ (the concrete class) records the config.
        if "_config" not in self.__dict__:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            config: dict[str, Any] = {}
            for key, value in list(bound.arguments.items())[1:]:
                kind = signature.parameters[key].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    config.update(value)
                elif kind is not inspect.Parameter.VAR_POSITIONAL and key != "name":
                    config[key] = value
            self.__dict__["_config"] = config
        init(self, *args, **kwargs)

    __init__._captures_config = True  # type: ignore[attr-defined]
    return __init__
