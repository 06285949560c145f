"""Choice of execution engine: the pure-Python engine or the Rust runtime."""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Literal

from remotemedia.core.errors import RemoteMediaError

__all__ = ["EngineName", "rust_runtime", "resolve_engine"]

logger = logging.getLogger(__name__)

EngineName = Literal["auto", "python", "rust"]

_runtime: ModuleType | None = None
_probed = False


def rust_runtime() -> ModuleType | None:
    """Returns the compiled ``remotemedia._runtime`` module, or None when absent.

    The first miss is logged once so users know why the Python engine is used.
    """
    global _runtime, _probed
    if not _probed:
        _probed = True
        try:
            _runtime = importlib.import_module("remotemedia._runtime")
        except ImportError as exc:
            logger.info(
                "Rust runtime not available (%s); using the Python engine. "
                "Build it with 'make runtime'.",
                exc,
            )
    return _runtime


def resolve_engine(engine: str) -> Literal["python", "rust"]:
    """Maps an engine request to the engine that will run.

    Raises:
        ValueError: If ``engine`` is not "auto", "python" or "rust".
        RemoteMediaError: If "rust" is requested but the runtime is not built.
    """
    if engine not in ("auto", "python", "rust"):
        raise ValueError(f"engine must be 'auto', 'python' or 'rust', got {engine!r}")
    if engine == "python":
        return "python"
    if rust_runtime() is None:
        if engine == "rust":
            raise RemoteMediaError(
                "engine='rust' requested but remotemedia._runtime is not built; "
                "run 'make runtime' (needs cargo) or use engine='python'"
            )
        return "python"
    return "rust"
