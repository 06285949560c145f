"""The base of nodes that hold a model: device, dtype, lazy load, warm reuse.

A model node resolves its model (see :mod:`~remotemedia.nodes.ml.loading`) and
loads it in :meth:`ModelNode.initialize`, with a progress bar, on the device chosen
by :func:`~remotemedia.nodes.ml.device.resolve_device`. The loaded model stays with
the node when a pipeline closes, so running the same node again (another cell, the
same remote session) does not load it twice; :meth:`ModelNode.unload` frees it.
A node that is pickled (sent to a server) travels without its weights and loads
them where it runs.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, ClassVar

from remotemedia.core.errors import NodeError
from remotemedia.core.node import Node, Outputs
from remotemedia.nodes.ml.device import (
    check_device,
    check_dtype,
    resolve_device,
    resolve_dtype,
)
from remotemedia.nodes.ml.loading import resolve_model

__all__ = ["ModelNode", "loaded_models"]

logger = logging.getLogger(__name__)

_LOADED: weakref.WeakSet[ModelNode] = weakref.WeakSet()


def loaded_models() -> list[dict[str, Any]]:
    """The models loaded in this process: node, model, device, parameters, seconds.

    Returns:
        One dict per loaded model node: ``node``, ``type`` and the keys of
        :meth:`ModelNode.model_info`.
    """
    return [
        {"node": node.name, "type": type(node).__name__, **node.model_info()}
        for node in list(_LOADED)
        if node.loaded is not None
    ]


def _parameters(obj: Any) -> int:
    model = getattr(obj, "model", obj)
    params = getattr(model, "parameters", None)
    if not callable(params):
        return 0
    try:
        return int(sum(p.numel() for p in params()))
    except Exception:  # noqa: BLE001 - informational only
        return 0


class ModelNode(Node):
    """A node that loads a model once, lazily, on the chosen device.

    Subclasses implement :meth:`load` (``self.loaded`` holds what it returned) and
    either ``process`` or :meth:`stream`. A node with :meth:`stream` emits each
    output as soon as it is produced (tokens, audio chunks) while the model keeps
    working in the node's thread; it checks :attr:`interrupted` between outputs so
    that a barge-in stops it early.

    Args:
        model: A Hugging Face model id or a local folder.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        dtype: None (float16 on CUDA, float32 elsewhere), "auto", "float32",
            "float16", "bfloat16" or a ``torch.dtype``.
    """

    blocking: ClassVar[bool | None] = True
    #: What the model is for, in error messages.
    purpose: ClassVar[str] = "model"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        check_device(device)
        check_dtype(dtype)
        if not isinstance(model, str) or not model.strip():
            raise ValueError(
                f"{type(self).__name__}: model must be a model id or a folder, "
                f"got {model!r}"
            )
        self.model = model
        self.device = device
        self.dtype = dtype
        self.loaded: Any = None
        self.resolved_device: str | None = None
        self.resolved_dtype: Any = None
        self.load_s = 0.0

    # -- loading ----------------------------------------------------------------
    def load(self, path: str, device: str, dtype: Any) -> Any:
        """Loads the model from the local folder ``path``; returns what to keep."""
        raise NotImplementedError(f"{type(self).__name__} must implement load()")

    def resolve(self) -> str:
        """The local folder of the model (override for models not on the hub)."""
        return resolve_model(self.model, what=f"{type(self).__name__} {self.purpose}")

    def initialize(self) -> None:
        """Resolves the device and the model, then loads it (once per node)."""
        if self.loaded is not None:
            return
        from remotemedia.notebook.progress import loading

        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        path = self.resolve()
        start = time.perf_counter()
        with loading(f"loading {self.model}") as bar:
            bar.set_postfix_str(device)
            self.loaded = self.load(path, device, dtype)
        self.load_s = time.perf_counter() - start
        self.resolved_device, self.resolved_dtype = device, dtype
        _LOADED.add(self)
        logger.info(
            "%s loaded %s on %s in %.2fs", self.name, self.model, device, self.load_s
        )

    def unload(self) -> None:
        """Frees the model (the next run loads it again)."""
        self.loaded = None
        _LOADED.discard(self)
        if self.resolved_device and self.resolved_device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def model_info(self) -> dict[str, Any]:
        """What this node has loaded, for status displays (model, device, dtype)."""
        return {
            "model": self.model,
            "device": self.resolved_device,
            "dtype": str(self.resolved_dtype) if self.resolved_dtype else None,
            "loaded": self.loaded is not None,
            "parameters": _parameters(self.loaded) if self.loaded is not None else 0,
            "load_s": round(self.load_s, 3),
        }

    # -- streaming ---------------------------------------------------------------
    def stream(self, data: Any) -> Iterator[Any]:
        """Yields the outputs for one input as they are produced (override)."""
        raise NotImplementedError(f"{type(self).__name__} does not stream")

    def _streams(self) -> bool:
        return type(self).stream is not ModelNode.stream

    def process(self, data: Any) -> Any:
        """All outputs of :meth:`stream` for one input (for direct calls)."""
        if not self._streams():
            return super().process(data)
        self._clear_interrupt()  # a fresh input (direct calls skip process_one)
        return Outputs(self.stream(data))

    async def astream(self, inputs: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if not self._streams():
            async for out in super().astream(inputs):
                yield out
            return
        async for item in inputs:
            if isinstance(item, NodeError):
                yield item
                continue
            self._clear_interrupt()  # a fresh input: earlier interruptions are done
            start = time.perf_counter()
            outputs = self._stream_outputs(item)
            try:
                async for out in outputs:
                    self.stats.outputs += 1
                    yield out
            except Exception as exc:  # noqa: BLE001 - becomes an error record
                logger.debug("node %s failed", self.name, exc_info=True)
                yield NodeError.from_exception(self.name, exc, item)
            finally:
                await outputs.aclose()
            self.stats.calls += 1
            self.stats.total_s += time.perf_counter() - start
        try:
            tail = await self.flush_outputs()
        except Exception as exc:  # noqa: BLE001
            yield NodeError.from_exception(self.name, exc, "<end of stream>")
            return
        for out in tail:
            yield out

    async def _stream_outputs(self, item: Any) -> AsyncGenerator[Any, None]:
        """Runs :meth:`stream` in the node's thread, one output at a time."""
        done = object()
        it = iter(self.stream(item))
        try:
            while True:
                out = await self._call(lambda _: next(it, done), None)
                if out is done:
                    return
                yield out
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                # The consumer left early: let the generator clean up (stop a
                # generation thread) on the node's thread.
                await self._call(lambda _: close(), None)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        # Weights do not travel: the receiving side loads them on its own device.
        state["loaded"] = None
        state["resolved_device"] = None
        state["resolved_dtype"] = None
        state["_initialized"] = False
        return state
