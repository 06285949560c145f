"""Remote execution: sessions on a remotemedia server, remote nodes and objects.

>>> import remotemedia as rm
>>> session = rm.connect()       # the current session (embedded server if none)
>>> _ = session.execute("x = 21 * 2")
>>> session.pull("x")
{'x': 42}

Protocol and security notes: docs/remote.md.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from remotemedia.core.node import Node
from remotemedia.remote.client import (
    ExecuteResult,
    Session,
    connect,
    current_session,
    default_session,
    set_current_session,
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
    "current_session",
    "set_current_session",
]


class _CallableModule(types.ModuleType):
    # ``rm.remote`` is the function until something imports this package, which
    # binds ``remotemedia.remote`` to the module: calling the module then forwards
    # to :func:`remote`, and its documentation is the function's (``rm.remote?``).

    def __call__(
        self, node: Node, session: Any = None, *, window: int = 8
    ) -> RemoteNode:
        return remote(node, session, window=window)


_PACKAGE_NOTE = """
``remotemedia.remote`` is also the package of remote execution: ``connect``,
``Session``, ``RemoteObject``, ``start_server``; protocol and security notes are in
docs/remote.md.
"""

_DOC = inspect.cleandoc(remote.__doc__ or "") + "\n" + _PACKAGE_NOTE
_CallableModule.__doc__ = _DOC
_CallableModule.__call__.__doc__ = None  # (IPython would show it a second time)
sys.modules[__name__].__class__ = _CallableModule
sys.modules[__name__].__doc__ = _DOC
