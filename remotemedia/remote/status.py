"""The one place that maps exceptions to and from gRPC status codes."""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any

import grpc

from remotemedia.core.errors import (
    ManifestError,
    NodeError,
    RemoteError,
    is_library_file,
    user_traceback,
)

__all__ = [
    "abort_with",
    "as_remote_error",
    "code_for",
    "error_record",
    "error_from_record",
    "error_from_rpc",
    "trailing_metadata",
    "TYPE_KEY",
    "TRACEBACK_KEY",
]

logger = logging.getLogger(__name__)

TYPE_KEY = "rm-error-type"
TRACEBACK_KEY = "rm-traceback-bin"


def code_for(exc: BaseException) -> grpc.StatusCode:
    """The status code that reports ``exc`` to a client."""
    from remotemedia.remote.codec import CodecError

    if isinstance(exc, RemoteError) and exc.code:
        return getattr(grpc.StatusCode, exc.code, grpc.StatusCode.UNKNOWN)
    if isinstance(exc, (CodecError, ManifestError)):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, MemoryError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
        return grpc.StatusCode.CANCELLED
    if isinstance(exc, PermissionError):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(exc, (KeyError, LookupError)):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, (TypeError, ValueError)) and not isinstance(exc, NodeError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.UNKNOWN


def error_record(exc: BaseException, message: str | None = None) -> dict[str, str]:
    """A picklable description of ``exc`` (sent from a worker to the front end)."""
    if isinstance(exc, RemoteError):
        return {
            "code": exc.code or "UNKNOWN",
            "message": str(exc),
            "error_type": exc.error_type,
            "traceback": exc.remote_traceback,
        }
    text = message if message is not None else str(exc)
    if isinstance(exc, KeyError) and message is None and exc.args:
        text = str(exc.args[0])
    return {
        "code": code_for(exc).name,
        "message": text or type(exc).__name__,
        "error_type": type(exc).__name__,
        "traceback": _user_frames(exc),
    }


def _user_frames(exc: BaseException) -> str:
    """The traceback from the user's code on, or "" when it has none (the error
    is the server's own: its message says what is wrong)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not any(not is_library_file(frame.filename) for frame in frames):
        return ""
    return user_traceback(exc)


def error_from_record(record: dict[str, str]) -> RemoteError:
    """Rebuilds the error described by :func:`error_record`."""
    return RemoteError(
        record.get("message", ""),
        code=record.get("code", "UNKNOWN"),
        remote_traceback=record.get("traceback", ""),
        error_type=record.get("error_type", ""),
    )


def trailing_metadata(error: RemoteError) -> tuple[tuple[str, Any], ...]:
    """Trailing metadata carrying the remote exception type and traceback."""
    items: list[tuple[str, Any]] = []
    if error.error_type:
        items.append((TYPE_KEY, error.error_type))
    if error.remote_traceback:
        items.append((TRACEBACK_KEY, error.remote_traceback.encode("utf-8")))
    return tuple(items)


def error_from_rpc(exc: grpc.RpcError, address: str = "") -> RemoteError:
    """Turns a failed call into :class:`~remotemedia.RemoteError`."""
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    error_type = ""
    remote_tb = ""
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == TYPE_KEY:
            error_type = str(value)
        elif key == TRACEBACK_KEY:
            remote_tb = (
                value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            )
    name = code.name if code is not None else "UNKNOWN"
    message = details or name
    if code == grpc.StatusCode.UNAVAILABLE and address and "session" not in message:
        message = f"server {address} unavailable: {message}"
    return RemoteError(
        message, code=name, remote_traceback=remote_tb, error_type=error_type
    )


def as_remote_error(exc: BaseException) -> RemoteError:
    """``exc`` as the :class:`~remotemedia.RemoteError` a client will see."""
    if isinstance(exc, RemoteError):
        return exc
    record = error_record(exc)
    return RemoteError(
        record["message"],
        code=code_for(exc).name,
        remote_traceback=record["traceback"],
        error_type=record["error_type"],
    )


async def abort_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """Ends a server-side call with the status that reports ``exc`` (raises)."""
    error = as_remote_error(exc)
    code = getattr(grpc.StatusCode, error.code or "UNKNOWN", grpc.StatusCode.UNKNOWN)
    if code == grpc.StatusCode.UNKNOWN and not error.error_type:
        logger.warning("internal error", exc_info=exc)
    context.set_trailing_metadata(trailing_metadata(error))
    await context.abort(code, str(error))
