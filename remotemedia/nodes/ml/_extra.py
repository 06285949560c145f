"""Imports of the optional ML dependencies, failing with the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str = "ml", package: str | None = None) -> ModuleType:
    """Imports ``module`` or raises an ImportError that names what to install.

    Args:
        module: The module to import, for example ``"transformers"``.
        extra: The remotemedia extra that provides it.
        package: The PyPI package when it is not part of the extra (``"kokoro"``).

    Raises:
        ImportError: Naming the extra (or package) to install.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = (
            f"pip install {package}"
            if package is not None
            else f"pip install 'remotemedia[{extra}]'"
        )
        raise ImportError(
            f"{module} is not installed; the ML nodes need it: {hint}"
        ) from exc
