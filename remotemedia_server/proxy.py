"""Built-in operations behind remote proxies (``len(proxy)``, ``proxy[k]``, ...).

A client's :class:`~remotemedia.RemoteObject` sends these as method calls with
reserved names; each runs the real built-in on the object, so that an object without
``__len__`` fails like it would locally (``TypeError: object of type ... has no
len()``) and ``in`` falls back to iteration. Iteration hands out a server-side
iterator that the client drains in chunks.
"""

from __future__ import annotations

import itertools
import operator
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["PROTOCOL", "ITER", "NEXT", "protocol_call"]

ITER = "__rm_iter__"
NEXT = "__rm_next__"

PROTOCOL: dict[str, Callable[..., Any]] = {
    "__len__": len,
    "__bool__": bool,
    "__repr__": repr,
    "__contains__": lambda obj, item: item in obj,
    "__getitem__": operator.getitem,
    "__setitem__": operator.setitem,
    "__delitem__": operator.delitem,
}


def protocol_call(
    objects: dict[str, Any], obj: Any, method: str, args: tuple[Any, ...]
) -> tuple[bool, Any]:
    """Runs a reserved proxy method on ``obj``.

    Args:
        objects: The session's objects (an iterator is stored there).
        obj: The target object.
        method: The reserved name.
        args: Its arguments.

    Returns:
        (whether ``method`` is a reserved one, its result).
    """
    builtin = PROTOCOL.get(method)
    if builtin is not None:
        return True, builtin(obj, *args)
    if method == ITER:
        iterator = iter(obj)
        iterator_id = uuid.uuid4().hex[:16]
        objects[iterator_id] = iterator
        return True, iterator_id
    if method == NEXT:
        # The next chunk; a short one means the iterator is done (and forgotten).
        limit, iterator_id = args
        chunk = list(itertools.islice(obj, int(limit)))
        if len(chunk) < int(limit):
            objects.pop(iterator_id, None)
        return True, chunk
    return False, None
