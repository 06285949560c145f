"""remotemedia remote execution server: gRPC front end and session workers.

Run it with ``remotemedia serve`` (or ``python -m remotemedia_server``); embed it with
:func:`create_server`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_server", "serve", "ServerConfig", "Limits", "RunningServer"]


def __getattr__(name: str) -> Any:
    # Lazy: session workers import this package without the gRPC front end.
    if name in ("create_server", "serve", "RunningServer"):
        from remotemedia_server import app

        return getattr(app, name)
    if name in ("ServerConfig", "Limits"):
        from remotemedia_server import config

        return getattr(config, name)
    raise AttributeError(f"module 'remotemedia_server' has no attribute {name!r}")
