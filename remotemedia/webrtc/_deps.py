"""Imports aiortc on first use, naming the extra to install when it is missing."""

from __future__ import annotations

from types import ModuleType

__all__ = ["aiortc"]


def aiortc() -> ModuleType:
    """The aiortc module.

    Raises:
        ImportError: Naming the ``webrtc`` extra when aiortc is not installed.
    """
    try:
        import aiortc as module
    except ImportError as exc:  # pragma: no cover - extra missing
        raise ImportError(
            f"remotemedia.webrtc needs aiortc ({exc}): pip install 'remotemedia[webrtc]'"
        ) from exc
    return module
