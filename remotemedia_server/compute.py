"""What a session worker reports about its compute: device, GPU memory, models.

Read without importing torch: a worker that never loaded a model has not paid for
torch and reports the CPU.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["device_report", "loaded_models"]

logger = logging.getLogger(__name__)


def device_report() -> dict[str, Any]:
    """``device`` (where models run by default: ``"cuda:0 (NVIDIA H200)"``,
    ``"mps"`` or ``"cpu"``) and ``gpu_memory_mb`` (allocated by this worker;
    None without a GPU)."""
    torch = sys.modules.get("torch")
    report: dict[str, Any] = {"device": "cpu", "gpu_memory_mb": None}
    if torch is None:
        return report
    try:
        if torch.cuda.is_available():
            index = torch.cuda.current_device()
            report["device"] = f"cuda:{index} ({torch.cuda.get_device_name(index)})"
            report["gpu_memory_mb"] = round(
                torch.cuda.memory_allocated(index) / 2**20, 1
            )
        elif torch.backends.mps.is_available():
            report["device"] = "mps"
            report["gpu_memory_mb"] = round(
                torch.mps.current_allocated_memory() / 2**20, 1
            )
    except Exception:  # noqa: BLE001 - a status report must not fail
        logger.debug("device probe failed", exc_info=True)
    return report


def loaded_models(objects: Iterable[Any]) -> list[dict[str, Any]]:
    """The models loaded in this worker: those of the ML model nodes (all of them,
    also in streamed pipelines), then initialized session objects that describe
    themselves with ``model_info()`` (offline nodes such as SileroVAD)."""
    models: list[dict[str, Any]] = []
    base = sys.modules.get("remotemedia.nodes.ml.base")
    model_node: type | None = None
    if base is not None:
        models.extend(base.loaded_models())
        model_node = base.ModelNode
    for obj in objects:
        if model_node is not None and isinstance(obj, model_node):
            continue  # listed above
        info = getattr(obj, "model_info", None)
        if callable(info) and getattr(obj, "_initialized", False):
            try:
                entry = {"node": obj.name, "type": type(obj).__name__, **info()}
            except Exception:  # noqa: BLE001
                logger.debug("model_info of %r failed", obj, exc_info=True)
                continue
            models.append(entry)
    return models
