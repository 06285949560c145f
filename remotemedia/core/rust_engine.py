"""Runs pipelines on the Rust runtime (``remotemedia._runtime``).

The runtime executes a pipeline's manifest: nodes with a native implementation
(see :func:`native_nodes`) run in Rust with the GIL released, every other node
runs as Python through the runtime. Results equal the Python engine's within the
tolerances documented in ``runtime/README.md``.

Entry points:

* :func:`run_pipeline` / :func:`stream_pipeline`: used by ``Pipeline.run`` and
  ``Pipeline.stream`` when the engine resolves to "rust".
* :func:`run_manifest` / :func:`stream_manifest`: run a manifest dict directly
  (the server's entry points).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from remotemedia.core.engine import rust_runtime
from remotemedia.core.errors import RemoteMediaError

if TYPE_CHECKING:
    from remotemedia.core.node import Node
    from remotemedia.core.pipeline import Pipeline

__all__ = [
    "available",
    "native_nodes",
    "run_manifest",
    "stream_manifest",
    "run_pipeline",
    "stream_pipeline",
]

logger = logging.getLogger(__name__)


def _runtime() -> ModuleType:
    module = rust_runtime()
    if module is None:
        raise RemoteMediaError(
            "remotemedia._runtime is not built; run 'make runtime' (needs cargo) "
            "or use engine='python'"
        )
    return module


def available() -> bool:
    """Whether the Rust runtime is built and importable."""
    return rust_runtime() is not None


def native_nodes() -> list[str]:
    """Registry names of the node types the runtime runs natively ([] if absent)."""
    module = rust_runtime()
    return list(module.native_nodes()) if module is not None else []


def _manifest_text(manifest: dict[str, Any] | str) -> str:
    return manifest if isinstance(manifest, str) else json.dumps(manifest)


def run_manifest(
    manifest: dict[str, Any] | str,
    inputs: Iterable[Any],
    *,
    nodes: dict[str, Node] | None = None,
) -> list[Any]:
    """Runs a manifest over a batch of inputs on the Rust runtime.

    Blocking; the GIL is released while the pipeline runs, so several threads can
    run manifests at once. Python nodes are built from the registry (initialised
    and cleaned up by the runtime) unless live ones are given in ``nodes``.

    Args:
        manifest: A version-1 manifest (dict or JSON text).
        inputs: The input values, in order.
        nodes: Optional live Python nodes by manifest id; the caller initialises
            and cleans them up.

    Returns:
        All outputs in order (NodeError records too with ``on_error="emit"``).

    Raises:
        ManifestError: If the manifest is invalid, naming the node and field.
        PipelineError: On a node failure with ``on_error="raise"``.
        RemoteMediaError: If the runtime is not built.
    """
    return list(_runtime().run_manifest(_manifest_text(manifest), inputs, nodes))


async def _aiter(source: Any) -> AsyncIterator[Any]:
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


async def stream_manifest(
    manifest: dict[str, Any] | str,
    source: Iterable[Any] | AsyncIterable[Any],
    *,
    nodes: dict[str, Node] | None = None,
) -> AsyncGenerator[Any, None]:
    """Streams ``source`` through a manifest on the Rust runtime.

    Inputs go in as they come (waiting while the pipeline is full), outputs come
    out in order; leaving the generator early cancels the pipeline.

    Args:
        manifest: A version-1 manifest (dict or JSON text).
        source: Sync or async iterable of inputs.
        nodes: Optional live Python nodes by manifest id (see :func:`run_manifest`).

    Yields:
        The outputs, in order.

    Raises:
        ManifestError: If the manifest is invalid.
        PipelineError: On a node failure with ``on_error="raise"``.
    """
    runtime = _runtime()
    executor = runtime.StreamExecutor(_manifest_text(manifest), nodes)
    failure: list[BaseException] = []

    async def feed() -> None:
        try:
            async for item in _aiter(source):
                # Fast path without a thread hop; wait in a thread only when full.
                if not executor.try_push(item):
                    await asyncio.to_thread(executor.push, item)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - re-raised to the consumer
            failure.append(exc)
            executor.cancel()
            return
        executor.close()

    feeder = asyncio.create_task(feed())
    try:
        while True:
            try:
                item = executor.pull(0)
            except TimeoutError:
                item = await asyncio.to_thread(executor.pull, None)
            if item is runtime.END:
                break
            yield item
        await feeder
        if failure:
            raise failure[0]
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
        # Stops the stages if we leave early; a no-op after a normal end.
        await asyncio.to_thread(executor.cancel)


async def stream_pipeline(
    pipeline: Pipeline, source: Any = None
) -> AsyncGenerator[Any, None]:
    """``Pipeline.stream`` on the Rust runtime (same inputs, outputs and errors).

    The pipeline's own Python nodes are used (opened and closed like the Python
    engine does); native nodes are built fresh from the manifest for each stream.
    """
    manifest = pipeline.to_manifest()
    inputs, skip = pipeline._input(source)
    if skip:
        # The source node feeds the stream from here; the runtime runs the rest.
        manifest["nodes"] = manifest["nodes"][skip:]
        manifest["edges"] = manifest["edges"][skip:]
    live = {node.name: node for node in pipeline.nodes[skip:]}
    own_context = not pipeline._entered
    if own_context:
        await pipeline.__aenter__()
    pipeline._running += 1
    try:
        items = stream_manifest(manifest, inputs, nodes=live)
        async with contextlib.aclosing(items):
            async for item in items:
                yield item
    finally:
        pipeline._running -= 1
        if own_context:
            await pipeline.__aexit__(None, None, None)


async def run_pipeline(pipeline: Pipeline, data: Any) -> list[Any]:
    """``Pipeline.arun``'s work on the Rust runtime: all outputs for one input.

    Args:
        pipeline: A pipeline that has a manifest.
        data: The input, or the pipeline module's no-input marker when the first
            node is a source.
    """
    from remotemedia.core.pipeline import _NO_INPUT

    if any(node.fusion_key() is not None for node in pipeline.nodes):
        # Fused segments (remote nodes) are a Python-engine feature; run there.
        logger.debug(
            "pipeline '%s' has fused stages; using the Python engine", pipeline.name
        )
        source = _NO_INPUT if data is _NO_INPUT else [data]
        return await pipeline.acollect(source)
    source = None if data is _NO_INPUT else [data]
    return [item async for item in stream_pipeline(pipeline, source)]
