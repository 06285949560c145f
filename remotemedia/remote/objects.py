"""RemoteObject: a proxy whose method calls and attribute reads run on the server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from remotemedia.core._sync import run_sync
from remotemedia.core.errors import RemoteError

__all__ = ["RemoteObject", "local_error"]

# Items fetched per round trip when iterating a remote object.
_ITER_CHUNK = 256
_REPR_LIMIT = 200

# Remote exceptions that proxies raise as the built-in type, so that ``hasattr``,
# ``in``, ``for`` and ``try/except KeyError`` behave as with the object itself.
_BUILTIN: dict[str, type[Exception]] = {
    "AttributeError": AttributeError,
    "KeyError": KeyError,
    "IndexError": IndexError,
    "TypeError": TypeError,
    "ValueError": ValueError,
}


def _message(exc: RemoteError) -> str:
    """The remote exception's own message (without a repeated ``Type: `` prefix)."""
    text = str(exc)
    prefix = f"{exc.error_type}: "
    return text[len(prefix) :] if exc.error_type and text.startswith(prefix) else text


def local_error(exc: RemoteError, *args: Any) -> Exception:
    """``exc`` as the built-in exception it reports, when it is one of the common
    lookup/type errors (a KeyError carries ``args``, the missing key, when given);
    otherwise ``exc`` itself."""
    builtin = _BUILTIN.get(exc.error_type)
    if builtin is None or "no remote object" in str(exc):
        return exc  # not the object's own error (e.g. the session was reset)
    if builtin is KeyError and args:
        return KeyError(*args)
    return builtin(_message(exc))


class _RemoteMethod:
    """A bound method of a remote object (or remote node instance)."""

    def __init__(
        self,
        call: Callable[[str, tuple[Any, ...], dict[str, Any]], Any],
        acall: Callable[[str, tuple[Any, ...], dict[str, Any]], Any],
        name: str,
        label: str,
    ) -> None:
        self._callf = call
        self._acallf = acall
        self._name = name
        self._label = label

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._callf(self._name, args, kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """Async call (from any event loop)."""
        from remotemedia.remote.client import hop

        return await hop(self._acallf(self._name, args, kwargs))

    def __repr__(self) -> str:
        return f"<remote method {self._label}.{self._name}>"


class RemoteObject:
    """Moves ``obj`` into a server session and stands in for it.

    Method calls and attribute reads run on the server, so state persists there;
    arguments and return values travel by cloudpickle. Setting a public attribute
    sets it remotely. ``len``, ``iter``, ``in``, ``proxy[key]`` (get, set, delete),
    ``bool`` and ``repr`` run on the object too, and a failing lookup raises the
    built-in error (``AttributeError``, ``KeyError``, ...) as the object would.

    Args:
        obj: The object to move (cloudpickled; classes defined in notebooks,
            scripts and test modules travel by value).
        session: The session (default: the current session, see
            :func:`~remotemedia.connect`).

    Example:
        >>> counter = rm.RemoteObject(Counter(), session)
        >>> counter.increment()
        1
        >>> items = rm.RemoteObject([1, 2, 3])
        >>> len(items), 2 in items, list(items)
        (3, True, [1, 2, 3])
    """

    _session: Any
    _object_id: str
    _type_name: str

    def __init__(self, obj: Any, session: Any = None) -> None:
        if session is None:
            from remotemedia.remote.client import current_session

            session = current_session()
        object_id, type_name = run_sync(session._acreate_object(obj))
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_object_id", object_id)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_released", False)

    @property
    def remote_id(self) -> str:
        """The object's id in its session."""
        return self._object_id

    def _check(self) -> None:
        if self.__dict__.get("_released"):
            raise RemoteError(
                f"remote object {self._type_name} ({self._object_id}) was released; "
                "create a new RemoteObject to use it again",
                code="FAILED_PRECONDITION",
            )

    def _sync_call(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self._check()
        return self._session.call_method(self._object_id, name, args, kwargs)

    async def _call(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self._check()
        return await self._session._acall_method(self._object_id, name, args, kwargs)

    def _method(self, name: str) -> _RemoteMethod:
        return _RemoteMethod(self._sync_call, self._call, name, self._type_name)

    def _builtin(self, name: str, *args: Any, error_args: tuple[Any, ...] = ()) -> Any:
        """Runs the built-in operation ``name`` on the remote object."""
        try:
            return self._sync_call(name, args, {})
        except RemoteError as exc:
            raise local_error(exc, *error_args) from None

    def __getattr__(self, name: str) -> Any:
        if (name.startswith("__") and name.endswith("__")) or name.startswith(
            ("_repr_", "_ipython_")
        ):
            raise AttributeError(name)  # keep pickle/copy/IPython probes local
        self._check()
        methods = self.__dict__.get("_methods")
        if methods is not None and name in methods:
            return self._method(name)
        try:
            is_callable, value, method = run_sync(
                self._session._aget_attribute_info(self._object_id, name)
            )
        except RemoteError as exc:
            raise local_error(exc) from None  # hasattr() keeps working
        if method:
            # Class methods stay methods: later lookups need no round trip.
            self.__dict__.setdefault("_methods", set()).add(name)
        return self._method(name) if is_callable else value

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__.get("_methods", set()).discard(name)  # may shadow a method
        try:
            self._sync_call("__setattr__", (name, value), {})
        except RemoteError as exc:
            raise local_error(exc) from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._sync_call("__call__", args, kwargs)

    # -- built-in operations --------------------------------------------------
    def __len__(self) -> int:
        return int(self._builtin("__len__"))

    def __bool__(self) -> bool:
        return bool(self._builtin("__bool__"))

    def __contains__(self, item: Any) -> bool:
        return bool(self._builtin("__contains__", item))

    def __getitem__(self, key: Any) -> Any:
        return self._builtin("__getitem__", key, error_args=(key,))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._builtin("__setitem__", key, value, error_args=(key,))

    def __delitem__(self, key: Any) -> None:
        self._builtin("__delitem__", key, error_args=(key,))

    def __iter__(self) -> Iterator[Any]:
        iterator_id = self._builtin("__rm_iter__")
        while True:
            try:
                chunk = self._session.call_method(
                    iterator_id, "__rm_next__", (_ITER_CHUNK, iterator_id)
                )
            except RemoteError as exc:
                raise local_error(exc) from None
            yield from chunk
            if len(chunk) < _ITER_CHUNK:
                return

    def release(self) -> None:
        """Deletes the object on the server; using the proxy afterwards raises a
        :class:`~remotemedia.RemoteError` saying so."""
        if self.__dict__.get("_released"):
            return
        object.__setattr__(self, "_released", True)
        run_sync(self._session._adelete_object(self._object_id))

    def __repr__(self) -> str:
        where = self._session.address
        if self.__dict__.get("_released"):
            return f"RemoteObject({self._type_name}, released, was on {where})"
        try:
            text = str(self._sync_call("__repr__", (), {}))
        except RemoteError:
            # The object or its server is gone: say what it was.
            return f"RemoteObject({self._type_name} id={self._object_id} on {where})"
        if len(text) > _REPR_LIMIT:
            text = text[: _REPR_LIMIT - 3] + "..."
        return f"RemoteObject({text} @ {where})"
