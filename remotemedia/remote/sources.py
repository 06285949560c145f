"""Source lines of notebook code shipped to a server, for its tracebacks.

Classes and functions defined in a notebook (or a script) travel by value: the
server gets their code but not the file it came from (a notebook cell is not a file
at all), so its tracebacks would name the cell with no source line. The client
wraps what it sends with those source lines; unpickling registers them in the
server's :mod:`linecache`, so tracebacks there show the user's code.
"""

from __future__ import annotations

import linecache
import types
import weakref
from collections.abc import Iterable
from typing import Any

__all__ = ["code_files", "with_sources", "register"]

# Source sent along at most this much per message (characters).
_MAX_SOURCE = 2**20

_files_of: weakref.WeakKeyDictionary[type, frozenset[str]] = weakref.WeakKeyDictionary()


def _code_of(value: Any) -> types.CodeType | None:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    elif isinstance(value, property):
        value = value.fget
    code = getattr(value, "__code__", None)
    return code if isinstance(code, types.CodeType) else None


def code_files(cls_or_function: Any) -> frozenset[str]:
    """The files the code of a class's methods (or of a function) comes from."""
    if not isinstance(cls_or_function, type):
        code = _code_of(cls_or_function)
        return frozenset([code.co_filename]) if code is not None else frozenset()
    try:
        return _files_of[cls_or_function]
    except (KeyError, TypeError):
        pass
    files = frozenset(
        code.co_filename
        for code in map(_code_of, vars(cls_or_function).values())
        if code is not None
    )
    try:
        _files_of[cls_or_function] = files
    except TypeError:  # (not weak-referenceable)
        pass
    return files


def register(sources: dict[str, list[str]], obj: Any) -> Any:
    """Puts ``sources`` into :mod:`linecache` and returns ``obj`` (runs where the
    wrapped object is unpickled)."""
    for filename, lines in sources.items():
        # mtime None: checkcache() keeps the entry (there is no file to compare).
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)
    return obj


class _WithSources:
    """Pickles as ``register(sources, obj)``: unpickled, it is ``obj`` itself."""

    def __init__(self, obj: Any, sources: dict[str, list[str]]) -> None:
        self.obj = obj
        self.sources = sources

    def __reduce__(self) -> tuple[Any, ...]:
        return (register, (self.sources, self.obj))


def with_sources(obj: Any, files: Iterable[str], sent: set[Any] | None = None) -> Any:
    """``obj``, wrapped with the source lines of ``files`` that are known here.

    Args:
        obj: What is about to be pickled.
        files: Files its by-value code comes from (see :func:`code_files`).
        sent: Sources already sent to this peer (updated): each is sent once.

    Returns:
        ``obj`` itself when there is nothing (new) to send.
    """
    sources: dict[str, list[str]] = {}
    size = 0
    for filename in files:
        lines = linecache.getlines(filename)
        if not lines:
            continue
        key = (filename, len(lines), hash(lines[-1]))
        if sent is not None and key in sent:
            continue
        size += sum(map(len, lines))
        if size > _MAX_SOURCE:
            break
        sources[filename] = lines
        if sent is not None:
            sent.add(key)
    return _WithSources(obj, sources) if sources else obj
