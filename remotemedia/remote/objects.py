"""RemoteObject: a proxy whose method calls and attribute reads run on the server."""

from __future__ import annotations

from typing import Any

from remotemedia.core._sync import run_sync
from remotemedia.core.errors import RemoteError

__all__ = ["RemoteObject"]


class _RemoteMethod:
    """A bound method of a remote object."""

    def __init__(self, proxy: RemoteObject, name: str) -> None:
        self._proxy = proxy
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        proxy = self._proxy
        return proxy._session.call_method(proxy._object_id, self._name, args, kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """Async call (from any event loop)."""
        from remotemedia.remote.client import hop

        return await hop(self._proxy._call(self._name, args, kwargs))

    def __repr__(self) -> str:
        return f"<remote method {self._proxy._type_name}.{self._name}>"


class RemoteObject:
    """Moves ``obj`` into a server session and stands in for it.

    Method calls and attribute reads run on the server, so state persists there;
    arguments and return values travel by cloudpickle. Setting a public attribute
    sets it remotely.

    Args:
        obj: The object to move (cloudpickled; classes defined in notebooks,
            scripts and test modules travel by value).
        session: The session (default: the embedded local server's session).

    Example:
        >>> counter = rm.RemoteObject(Counter(), session)
        >>> counter.increment()
        1
    """

    _session: Any
    _object_id: str
    _type_name: str

    def __init__(self, obj: Any, session: Any = None) -> None:
        if session is None:
            from remotemedia.remote.client import default_session

            session = default_session()
        object_id, type_name = run_sync(session._acreate_object(obj))
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_object_id", object_id)
        object.__setattr__(self, "_type_name", type_name)

    @property
    def remote_id(self) -> str:
        """The object's id in its session."""
        return self._object_id

    async def _call(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return await self._session._acall_method(self._object_id, name, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if (name.startswith("__") and name.endswith("__")) or name.startswith(
            ("_repr_", "_ipython_")
        ):
            raise AttributeError(name)  # keep pickle/copy/IPython probes local
        methods = self.__dict__.get("_methods")
        if methods is not None and name in methods:
            return _RemoteMethod(self, name)
        try:
            is_callable, value, method = run_sync(
                self._session._aget_attribute_info(self._object_id, name)
            )
        except RemoteError as exc:
            if exc.error_type == "AttributeError":
                raise AttributeError(str(exc)) from None  # hasattr() keeps working
            raise
        if method:
            # Class methods stay methods: later lookups need no round trip.
            self.__dict__.setdefault("_methods", set()).add(name)
        return _RemoteMethod(self, name) if is_callable else value

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__.get("_methods", set()).discard(name)  # may shadow a method
        run_sync(self._call("__setattr__", (name, value), {}))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return run_sync(self._call("__call__", args, kwargs))

    def release(self) -> None:
        """Deletes the object on the server; the proxy is unusable afterwards."""
        run_sync(self._session._adelete_object(self._object_id))

    def __repr__(self) -> str:
        return (
            f"RemoteObject({self._type_name} id={self._object_id} "
            f"on {self._session.address})"
        )
