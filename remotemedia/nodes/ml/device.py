"""Device and dtype choice for model nodes: cuda > mps > cpu, or explicit."""

from __future__ import annotations

import logging
import re
from typing import Any

from remotemedia.nodes.ml._extra import require

__all__ = ["resolve_device", "resolve_dtype", "DTYPES"]

logger = logging.getLogger(__name__)

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

#: Accepted dtype names and the torch dtype attribute each stands for.
DTYPES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def check_device(device: str) -> str:
    """Validates a device name without importing torch.

    Raises:
        ValueError: If ``device`` is not "auto", "cpu", "mps", "cuda" or "cuda:N".
    """
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got {device!r}"
        )
    return device


def resolve_device(device: str = "auto") -> str:
    """The torch device to run on.

    "auto" picks the first available of cuda, mps and cpu. An explicit device is
    checked for availability so that a missing GPU fails here, by name, rather than
    deep inside a model.

    Args:
        device: "auto", "cpu", "mps", "cuda" or "cuda:N".

    Raises:
        ValueError: If the name is invalid or that device is not available.
    """
    check_device(device)
    torch = require("torch")
    cuda = bool(torch.cuda.is_available())
    mps = _mps_available(torch)
    if device == "auto":
        chosen = "cuda" if cuda else "mps" if mps else "cpu"
        logger.debug("device auto -> %s", chosen)
        return chosen
    if device.startswith("cuda"):
        if not cuda:
            raise ValueError(f"device {device!r} requested but CUDA is not available")
        index = int(device.partition(":")[2] or 0)
        count = int(torch.cuda.device_count())
        if index >= count:
            raise ValueError(
                f"device {device!r} requested but only {count} CUDA device(s) exist"
            )
    if device == "mps" and not mps:
        raise ValueError("device 'mps' requested but MPS is not available")
    return device


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def check_dtype(dtype: Any) -> None:
    """Validates a dtype option without importing torch (None, a name, a dtype).

    Raises:
        ValueError: If ``dtype`` is a string that names no known dtype.
    """
    if isinstance(dtype, str) and dtype not in DTYPES and dtype != "auto":
        raise ValueError(
            f"dtype must be None, 'auto' or one of {sorted(DTYPES)}, got {dtype!r}"
        )


def resolve_dtype(dtype: Any, device: str) -> Any:
    """The torch dtype to load weights in.

    Args:
        dtype: None (float16 on CUDA, float32 elsewhere), "auto" (the checkpoint's
            own dtype, passed on to transformers), a name from :data:`DTYPES` or a
            ``torch.dtype``.
        device: The resolved device.

    Returns:
        A ``torch.dtype``, or the string "auto".

    Raises:
        ValueError: If ``dtype`` is unknown.
    """
    check_dtype(dtype)
    torch = require("torch")
    if dtype is None:
        return torch.float16 if device.startswith("cuda") else torch.float32
    if dtype == "auto":
        return "auto"
    if isinstance(dtype, str):
        return getattr(torch, DTYPES[dtype])
    if isinstance(dtype, torch.dtype):
        return dtype
    raise ValueError(f"dtype must be None, a name or a torch.dtype, got {dtype!r}")
