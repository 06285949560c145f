"""Pipeline: an ordered chain of nodes run in batch or as a stream.

Each stage runs as its own asyncio task; bounded queues join the stages so a slow
stage applies backpressure upstream instead of letting memory grow, and sync nodes
that take long move to their own thread so they never stall the other stages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from remotemedia.core._sync import run_sync
from remotemedia.core.control import Control, Interrupt, InterruptRouter
from remotemedia.core.engine import resolve_engine
from remotemedia.core.errors import (
    ManifestError,
    NodeError,
    PipelineError,
    RemoteMediaError,
)
from remotemedia.core.kinds import join_stream, node_kinds
from remotemedia.core.manifest import (
    MANIFEST_VERSION,
    ManifestSource,
    Placement,
    node_from_entry,
    node_to_entry,
    ordered_entries,
    validate_manifest,
)
from remotemedia.core.node import Node, NodeStats, Source
from remotemedia.core.stats import PipelineStats

__all__ = ["Pipeline"]

logger = logging.getLogger(__name__)

OnError = Literal["raise", "emit"]

_NO_INPUT: Any = object()


class _End:
    """Queue sentinel: the upstream stage finished."""


class _Failure:
    """Queue item carrying an exception that broke a whole stage."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = _End()


class Pipeline:
    """An ordered chain of nodes.

    Args:
        nodes: Initial nodes, in processing order.
        name: Pipeline name (used in manifests and displays).
        on_error: ``"raise"`` (default) raises :class:`PipelineError` on the first
            node failure; ``"emit"`` sends the :class:`NodeError` record to the output
            and keeps going.
        queue_size: Capacity of each queue between stages (backpressure bound).

    Example:
        >>> import numpy as np, remotemedia as rm
        >>> p = rm.Pipeline(name="demo").add_node(rm.nodes.Gain(db=-6))
        >>> out = p.run(rm.AudioFrame(np.ones(160, dtype=np.float32), 16000))
        >>> round(float(out.samples.max()), 3)
        0.501
    """

    def __init__(
        self,
        nodes: Iterable[Node] | None = None,
        name: str | None = None,
        *,
        on_error: OnError = "raise",
        queue_size: int = 8,
    ) -> None:
        if on_error not in ("raise", "emit"):
            raise ValueError(f"on_error must be 'raise' or 'emit', got {on_error!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.name = name or "pipeline"
        self.on_error: OnError = on_error
        self.queue_size = queue_size
        self._nodes: list[Node] = []
        self._entered = 0
        self._running = 0
        for node in nodes or ():
            self.add_node(node)

    # -- building -------------------------------------------------------------
    def add_node(self, node: Node) -> Pipeline:
        """Appends a node and returns the pipeline, for chaining.

        Raises:
            TypeError: If ``node`` is not a Node.
            RuntimeError: If the pipeline is running (pipelines are immutable then).
        """
        if self._entered or self._running:
            raise RuntimeError(
                f"pipeline '{self.name}' is running and cannot change; "
                "build a new Pipeline instead"
            )
        if not isinstance(node, Node):
            raise TypeError(f"add_node expects a Node, got {type(node).__name__}")
        if any(node is existing for existing in self._nodes):
            raise ValueError(f"node '{node.name}' is already in this pipeline")
        taken = {n.name for n in self._nodes}
        if node.name in taken:
            base, index = node.name, 2
            while f"{base}_{index}" in taken:
                index += 1
            node.name = f"{base}_{index}"
        self._nodes.append(node)
        return self

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The nodes, in order (read-only)."""
        return tuple(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Any:
        return iter(self._nodes)

    def __getitem__(self, key: int | str) -> Node:
        if isinstance(key, str):
            for node in self._nodes:
                if node.name == key:
                    return node
            raise KeyError(f"no node named '{key}' in pipeline '{self.name}'")
        return self._nodes[key]

    @property
    def stats(self) -> PipelineStats:
        """Per-node timing of the latest run: node name -> :class:`NodeStats`, shown
        as a table. Remote nodes report what their worker measured."""
        return PipelineStats(
            [
                (
                    node.name,
                    "remote" if getattr(node, "is_remote", False) else "local",
                    node.stats,
                )
                for node in self._nodes
            ]
        )

    def _stages(self) -> list[Node]:
        stages: list[Node] = []
        run: list[Node] = []
        for node in self._nodes + [None]:  # type: ignore[list-item]
            key = node.fusion_key() if node is not None else None
            if run and (key is None or key != run[0].fusion_key()):
                stages.append(run[0] if len(run) == 1 else type(run[0]).fuse(run))
                run = []
            if node is None:
                break
            if key is None:
                stages.append(node)
            else:
                run.append(node)
        return stages

    # -- lifecycle ------------------------------------------------------------
    async def _open(self) -> None:
        opened: list[Node] = []
        try:
            for node in self._nodes:
                node.stats = NodeStats()
                await node._ensure_initialized()
                opened.append(node)
        except BaseException:
            await self._cleanup(opened)
            raise

    async def _close(self) -> None:
        await self._cleanup(self._nodes)

    @staticmethod
    async def _cleanup(nodes: list[Node]) -> None:
        for node in nodes:
            try:
                await node._ensure_cleaned_up()
            except Exception:  # noqa: BLE001 - one failed cleanup must not skip others
                logger.warning("cleanup of node '%s' failed", node.name, exc_info=True)

    async def __aenter__(self) -> Pipeline:
        if not self._entered:
            await self._open()
        self._entered += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._entered -= 1
        if not self._entered:
            await self._close()

    def __enter__(self) -> Pipeline:
        return run_sync(self.__aenter__())

    def __exit__(self, *exc: object) -> None:
        run_sync(self.__aexit__(*exc))

    # -- streaming ------------------------------------------------------------
    def _input(self, source: Any) -> tuple[AsyncIterator[Any], int]:
        """Returns the input iterator and how many leading nodes it replaces."""
        first = self._nodes[0] if self._nodes else None
        if source is None or source is _NO_INPUT:
            if isinstance(first, Source):
                return _aiter(first.frames()), 1
            raise ValueError(
                f"pipeline '{self.name}' has no source node; pass the input frames"
            )
        if isinstance(first, Source):
            raise ValueError(
                f"pipeline '{self.name}' starts with the source '{first.name}'; "
                "call stream()/run() without input"
            )
        if isinstance(source, Source):
            return _aiter(source.frames()), 0
        if isinstance(source, np.ndarray):
            raise TypeError(
                f"stream()/collect() got a numpy array {source.shape}, which would "
                "be iterated sample by sample; wrap it in a frame, e.g. "
                "collect([rm.AudioFrame(samples, sample_rate)]), or use "
                "run(rm.AudioFrame(samples, sample_rate))"
            )
        if isinstance(source, (AsyncIterable, Iterable)) and not isinstance(
            source, (str, bytes, dict)
        ):
            return _aiter(source), 0
        raise TypeError(
            f"stream() expects an iterable or async iterable of frames, got "
            f"{type(source).__name__}; use run() for a single input"
        )

    async def stream(
        self, source: Any = None, *, engine: str = "python"
    ) -> AsyncIterator[Any]:
        """Streams ``source`` through the pipeline, yielding outputs in order.

        Args:
            source: A sync or async iterable of inputs, or None when the first node
                is a :class:`Source`.
            engine: "python" (default), "rust" or "auto" (Rust runtime when built
                and the pipeline has a manifest).

        Yields:
            The last stage's outputs (and :class:`NodeError` records with
            ``on_error="emit"``).

        Raises:
            PipelineError: On a node failure with ``on_error="raise"``.
        """
        if resolve_engine(engine) == "rust" and self._rust_capable(engine):
            from remotemedia.core.rust_engine import stream_pipeline

            async with contextlib.aclosing(stream_pipeline(self, source)) as items:
                async for item in items:
                    yield item
            return
        inputs, skip = self._input(source)
        own_context = not self._entered
        if own_context:
            await self.__aenter__()
        self._running += 1
        tasks: list[asyncio.Task[None]] = []
        try:
            stages = self._stages()[skip:] if skip else self._stages()
            queues: list[asyncio.Queue[Any]] = [
                asyncio.Queue(self.queue_size) for _ in range(len(stages) + 1)
            ]
            router = InterruptRouter(stages, queues, _is_data)
            tasks.append(asyncio.create_task(_feed(inputs, queues[0], router)))
            for index, stage in enumerate(stages):
                tasks.append(
                    asyncio.create_task(
                        _run_stage(stage, queues[index], queues[index + 1], router)
                    )
                )
            out = queues[-1]
            while True:
                item = await out.get()
                if item is _END:
                    break
                if isinstance(item, _Failure):
                    raise item.exc
                if isinstance(item, NodeError) and self.on_error == "raise":
                    raise PipelineError(item)
                if isinstance(item, Control) and not router.first_delivery(item):
                    continue  # already delivered out of band
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._running -= 1
            if own_context:
                await self.__aexit__(None, None, None)

    async def acollect(
        self, source: Any = None, *, engine: str = "python"
    ) -> list[Any]:
        """Streams ``source`` and returns all outputs as a list."""
        return [item async for item in self.stream(source, engine=engine)]

    def collect(self, source: Any = None, *, engine: str = "python") -> list[Any]:
        """Sync :meth:`acollect`; safe inside a running Jupyter event loop."""
        return run_sync(self.acollect(source, engine=engine))

    # -- batch ----------------------------------------------------------------
    async def arun(self, data: Any = _NO_INPUT, *, engine: str = "auto") -> Any:
        """Runs one input (or the source node's frames) through the pipeline.

        ``run``/``arun`` return one output for one input, on every engine and with
        remote segments alike. When every node emits a stream (``Node.emits``, the
        default: resamplers, filters, gains), the audio frames that come out for the
        input, flushed tail included, are joined into one :class:`AudioFrame`.
        Nodes that emit separate items (``EnergyVAD`` segments, ``Rebuffer``
        chunks) or outputs that are not audio (spectrograms, text) make it return
        the list of outputs instead. :meth:`collect` and :meth:`stream` always
        return every output as it was emitted. See docs/pipelines.md.

        Args:
            data: The input; omit it when the first node is a source.
            engine: "auto" (Rust runtime when built and the pipeline has a manifest),
                "python" or "rust".

        Returns:
            The output (one joined frame for a stream of audio), None when nothing
            was emitted, or the list of outputs when separate items came out.

        Example:
            >>> import numpy as np, remotemedia as rm
            >>> second = rm.AudioFrame(np.zeros(48000, dtype=np.float32), 48000)
            >>> rm.Pipeline([rm.nodes.Resample(16000)]).run(second).num_samples
            16000
            >>> chunks = rm.Pipeline([rm.nodes.Rebuffer(250)]).run(second)
            >>> len(chunks)
            4
        """
        outputs = join_stream(await self._arun_outputs(data, engine), self._nodes)
        if not outputs:
            return None
        return outputs[0] if len(outputs) == 1 else outputs

    async def _arun_outputs(self, data: Any, engine: str) -> list[Any]:
        if isinstance(data, np.ndarray) and self._nodes:
            wanted = node_kinds(self._nodes[0])[0]
            if wanted in ("audio", "video"):
                frame = "AudioFrame(samples, sample_rate)"
                if wanted == "video":
                    frame = "VideoFrame(image)"
                raise TypeError(
                    f"run() got a numpy array {data.shape}, but "
                    f"'{self._nodes[0].name}' takes {wanted} frames; wrap it: "
                    f"run(rm.{frame})"
                )
        if resolve_engine(engine) == "rust" and self._rust_capable(engine):
            from remotemedia.core.rust_engine import run_pipeline

            return await run_pipeline(self, data)
        source = _NO_INPUT if data is _NO_INPUT else [data]
        return await self.acollect(source)

    def _rust_capable(self, engine: str) -> bool:
        if any(node.fusion_key() is not None for node in self._nodes):
            # Fused segments (remote nodes) are a Python-engine feature.
            logger.debug("pipeline '%s' has fused stages: Python engine", self.name)
            return False
        try:
            self.to_manifest()
        except RemoteMediaError:
            if engine == "rust":
                raise
            return False
        return True

    def run(self, data: Any = _NO_INPUT, *, engine: str = "auto") -> Any:
        """Sync :meth:`arun`; safe inside a running Jupyter event loop."""
        return run_sync(self.arun(data, engine=engine))

    # -- manifests --------------------------------------------------------------
    def to_manifest(self) -> dict[str, Any]:
        """Returns the pipeline as a version-1 manifest dict (see docs/manifest.md).

        Raises:
            ManifestError: If a node is unregistered or has non-JSON config.
        """
        entries = [node_to_entry(node) for node in self._nodes]
        edges = [{"from": a["id"], "to": b["id"]} for a, b in zip(entries, entries[1:])]
        return {
            "version": MANIFEST_VERSION,
            "name": self.name,
            "nodes": entries,
            "edges": edges,
            "options": {"on_error": self.on_error, "queue_size": self.queue_size},
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Returns :meth:`to_manifest` as JSON text."""
        return json.dumps(self.to_manifest(), indent=indent)

    @classmethod
    def from_manifest(
        cls,
        manifest: ManifestSource,
        *,
        session: Any = None,
        placement: Placement = "as_saved",
    ) -> Pipeline:
        """Builds a pipeline from a manifest: a dict, JSON text or a file path.

        Args:
            manifest: The manifest dict, its JSON text, or the path of a JSON file
                (a ``str`` naming an existing file, or a :class:`pathlib.Path`).
            session: The session that nodes saved as remote run on (None: the
                current session, as :func:`rm.remote <remotemedia.remote>` picks).
            placement: ``"as_saved"`` (default) or ``"local"`` to build every node
                locally, remote ones included.

        Raises:
            ManifestError: Naming the node and field at fault (or the file).
            FileNotFoundError: If a path names no file.
        """
        manifest = validate_manifest(manifest)
        options = manifest.get("options", {})
        nodes = [
            node_from_entry(entry, session=session, placement=placement)
            for entry in ordered_entries(manifest)
        ]
        return cls(
            nodes,
            name=manifest.get("name"),
            on_error=options.get("on_error", "raise"),
            queue_size=options.get("queue_size", 8),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the pipeline's manifest to ``path`` as JSON (see docs/manifest.md).

        Remote nodes are saved as remote segments (the server address, never a
        token); :meth:`load` rebuilds them on the current or a given session.

        Returns:
            The path written.

        Raises:
            ManifestError: If a node has no manifest form, naming the node and
                field (a ``Lambda`` holding a function, an unregistered class).

        Example:
            >>> import remotemedia as rm, tempfile, pathlib
            >>> p = rm.Pipeline([rm.nodes.Resample(16000), rm.nodes.Gain(db=-6)])
            >>> path = p.save(pathlib.Path(tempfile.mkdtemp()) / "p.json")
            >>> rm.Pipeline.load(path)
            Pipeline('pipeline': Resample(target_rate=16000, quality='HQ') -> Gain(db=-6))
        """
        target = Path(path).expanduser()
        try:
            text = self.to_json()
        except ManifestError as exc:
            raise ManifestError(f"cannot save pipeline '{self.name}': {exc}") from None
        target.write_text(text + "\n", encoding="utf-8")
        return target

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        session: Any = None,
        placement: Placement = "as_saved",
    ) -> Pipeline:
        """Reads a pipeline written by :meth:`save` (see :meth:`from_manifest`).

        Raises:
            FileNotFoundError: If there is no file at ``path``.
            ManifestError: If the file is not a valid manifest, naming the file,
                node and field.
        """
        return cls.from_manifest(Path(path), session=session, placement=placement)

    # -- display --------------------------------------------------------------
    def __repr__(self) -> str:
        chain = " -> ".join(repr(node) for node in self._nodes) or "(empty)"
        return f"Pipeline({self.name!r}: {chain})"

    def _repr_html_(self) -> str:
        from remotemedia.notebook.display import pipeline_html

        return pipeline_html(self)

    def _repr_png_(self) -> bytes:
        from remotemedia.notebook.display import pipeline_png

        return pipeline_png(self)


async def _aiter(source: Any) -> AsyncIterator[Any]:
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


def _is_data(item: Any) -> bool:
    """Whether a queued item is data that an interruption makes stale."""
    return not isinstance(item, (_End, _Failure, NodeError, Control))


async def _feed(
    inputs: AsyncIterator[Any], queue: asyncio.Queue[Any], router: InterruptRouter
) -> None:
    try:
        async for item in inputs:
            if isinstance(item, Interrupt) and router.is_new(item):
                router.raise_(item, 0)
            await queue.put(item)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported to the consumer
        await queue.put(_Failure(exc))
        return
    await queue.put(_END)


async def _drain(
    queue: asyncio.Queue[Any],
    stage: Node,
    index: int,
    router: InterruptRouter,
    outbox: asyncio.Queue[Any],
) -> AsyncIterator[Any]:
    while True:
        item = await queue.get()
        if item is _END:
            return
        if isinstance(item, _Failure):
            raise _ForwardedFailure(item)
        if isinstance(item, Control):
            # Control items bypass the node unless it relays them (remote segments).
            router.received(index, passes_on=not stage.passes_control)
            if not stage.passes_control:
                await outbox.put(item)
                continue
        elif router.drop_input[index] and _is_data(item):
            continue  # queued before an interruption: stale
        else:
            stage._clear_interrupt()
        yield item


class _ForwardedFailure(Exception):  # noqa: N818 - a signal, not an error
    """Carries an upstream failure through a stage untouched."""

    def __init__(self, failure: _Failure) -> None:
        super().__init__()
        self.failure = failure


async def _run_stage(
    stage: Node,
    inbox: asyncio.Queue[Any],
    outbox: asyncio.Queue[Any],
    router: InterruptRouter,
) -> None:
    index = router.stages.index(stage)
    try:
        async for item in stage.astream(_drain(inbox, stage, index, router, outbox)):
            if isinstance(item, Interrupt):
                if router.is_new(item):
                    router.raise_(item, index + 1)
                elif stage.passes_control:
                    router.passed(index)
            elif router.drop_output[index] and _is_data(item):
                continue  # produced for input taken before an interruption
            await router.put(index, outbox, item)
    except asyncio.CancelledError:
        raise
    except _ForwardedFailure as forward:
        await outbox.put(forward.failure)
        return
    except BaseException as exc:  # noqa: BLE001 - a broken stage ends the stream
        await outbox.put(_Failure(exc))
        return
    await outbox.put(_END)
