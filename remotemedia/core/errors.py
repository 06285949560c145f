"""The one exceptions module of remotemedia.

Every error that crosses a public boundary is one of these classes; the remote layer
maps them to and from gRPC status codes in exactly one place.
"""

from __future__ import annotations

import traceback as _traceback
from typing import Any

__all__ = [
    "RemoteMediaError",
    "NodeError",
    "PipelineError",
    "ManifestError",
    "RemoteError",
    "summarize",
]


class RemoteMediaError(Exception):
    """Base class of every remotemedia error."""


class ManifestError(RemoteMediaError, ValueError):
    """A pipeline manifest is malformed, names an unknown node type or a bad config."""


def summarize(data: Any, limit: int = 120) -> str:
    """Returns a short, human-readable description of a value (for error records)."""
    describe = getattr(data, "describe", None)
    if callable(describe):
        try:
            return str(describe())[:limit]
        except Exception:  # noqa: BLE001 - a summary must never raise
            pass
    shape = getattr(data, "shape", None)
    dtype = getattr(data, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(data).__name__}(shape={tuple(shape)}, dtype={dtype})"
    text = repr(data)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class NodeError(RemoteMediaError):
    """A structured record of one node failing on one input.

    In a pipeline with ``on_error="emit"`` it flows to the output as a value; with
    ``on_error="raise"`` it is carried by the :class:`PipelineError` that is raised.

    Attributes:
        node: Name of the node that failed.
        error_type: Name of the exception class raised by the node.
        message: The exception's message.
        input_summary: Short description of the input that made the node fail.
        traceback: Formatted traceback text (remote tracebacks included verbatim).
    """

    def __init__(
        self,
        node: str,
        error_type: str,
        message: str,
        input_summary: str = "",
        traceback: str = "",
    ) -> None:
        super().__init__(f"node '{node}' failed: {error_type}: {message}")
        self.node = node
        self.error_type = error_type
        self.message = message
        self.input_summary = input_summary
        self.traceback = traceback

    @classmethod
    def from_exception(cls, node: str, exc: BaseException, data: Any) -> NodeError:
        """Builds the record for ``exc`` raised by ``node`` while processing ``data``."""
        if isinstance(exc, NodeError):
            return exc
        return cls(
            node=node,
            error_type=type(exc).__name__,
            message=str(exc),
            input_summary=summarize(data),
            traceback="".join(_traceback.format_exception(exc)),
        )

    def to_dict(self) -> dict[str, str]:
        """Returns the record as a JSON-friendly dict."""
        return {
            "node": self.node,
            "error_type": self.error_type,
            "message": self.message,
            "input_summary": self.input_summary,
            "traceback": self.traceback,
        }

    @classmethod
    def from_dict(cls, record: dict[str, str]) -> NodeError:
        """Rebuilds a record made by :meth:`to_dict`."""
        return cls(**record)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            NodeError,
            (
                self.node,
                self.error_type,
                self.message,
                self.input_summary,
                self.traceback,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"NodeError(node={self.node!r}, error_type={self.error_type!r}, "
            f"message={self.message!r}, input={self.input_summary!r})"
        )

    def _render_traceback_(self) -> list[str]:
        # IPython calls this to show the (possibly remote) traceback as is.
        return [self.traceback or str(self)]


class PipelineError(RemoteMediaError):
    """Raised by a pipeline running with ``on_error="raise"`` when a node fails.

    Attributes:
        node_error: The :class:`NodeError` record of the failure.
    """

    def __init__(self, node_error: NodeError) -> None:
        super().__init__(str(node_error))
        self.node_error = node_error

    def __reduce__(self) -> tuple[Any, ...]:
        return (PipelineError, (self.node_error,))

    def _render_traceback_(self) -> list[str]:
        return self.node_error._render_traceback_()


class RemoteError(RemoteMediaError):
    """A failure reported by a remote server (lost connection, limit, remote exception).

    Attributes:
        code: gRPC status code name (for example ``"RESOURCE_EXHAUSTED"``) or ``""``.
        remote_traceback: Traceback text of the remote exception, if any.
        error_type: Name of the remote exception class, if any.
    """

    def __init__(
        self,
        message: str,
        code: str = "",
        remote_traceback: str = "",
        error_type: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.remote_traceback = remote_traceback
        self.error_type = error_type

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            RemoteError,
            (str(self), self.code, self.remote_traceback, self.error_type),
        )

    def _render_traceback_(self) -> list[str]:
        return [self.remote_traceback or f"RemoteError: {self}"]
