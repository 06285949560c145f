"""Remote execution: sessions on a remotemedia server, remote nodes and objects.

>>> import remotemedia as rm
>>> with rm.connect() as session:          # embedded local server
...     session.execute("x = 21 * 2")
...     session.pull("x")
{'x': 42}

Protocol and security notes: docs/remote.md.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from remotemedia.remote.client import (
    ExecuteResult,
    Session,
    connect,
    default_session,
)
from remotemedia.remote.launcher import LocalServer, start_server
from remotemedia.remote.nodes import RemoteNode, RemoteSegment, remote
from remotemedia.remote.objects import RemoteObject

__all__ = [
    "connect",
    "start_server",
    "remote",
    "RemoteObject",
    "Session",
    "RemoteNode",
    "RemoteSegment",
    "LocalServer",
    "ExecuteResult",
    "default_session",
]


class _CallableModule(types.ModuleType):
    """Makes ``rm.remote(node)`` work although ``rm.remote`` is this package.

    Importing the subpackage binds ``remotemedia.remote`` to the module, shadowing
    the lazily exported function of the same name; calling the module forwards to
    :func:`remote`.
    """

    def __call__(self, node: Any, session: Any = None, *, window: int = 8) -> Any:
        return remote(node, session, window=window)


sys.modules[__name__].__class__ = _CallableModule
