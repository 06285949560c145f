"""The one exceptions module of remotemedia.

Every error that crosses a public boundary is one of these classes; the remote layer
maps them to and from gRPC status codes in exactly one place.
"""

from __future__ import annotations

import os
import re
import traceback as _traceback
from typing import Any

__all__ = [
    "RemoteMediaError",
    "NodeError",
    "PipelineError",
    "ManifestError",
    "RemoteError",
    "summarize",
    "is_library_file",
    "user_traceback",
    "hide_library_frames",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Frames of these stdlib modules are plumbing (event loop, threads) in our tracebacks.
_PLUMBING = ("asyncio", "concurrent", "threading.py", "contextlib.py", "selectors.py")
_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__))
_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line \d+')


def is_library_file(filename: str) -> bool:
    """Whether a traceback frame's file belongs to remotemedia or its plumbing.

    Library frames are the ``remotemedia`` package, the server package
    (``remotemedia_server``), the stdlib's event-loop and thread modules and the
    IPython shell's own frames; user code (notebook cells, the user's modules,
    third-party libraries) is not.
    """
    if filename.startswith("<frozen "):
        return True
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    parts = path.replace("\\", "/").split("/")
    if "remotemedia_server" in parts or "ipykernel" in parts:
        return True
    if "IPython" in parts and "core" in parts:
        return True  # the shell's run_cell/run_code frames above the cell
    if path.startswith(_PACKAGE_DIR + os.sep):
        return True
    if path.startswith(_STDLIB_DIR + os.sep):
        rest = path[len(_STDLIB_DIR) + 1 :]
        return rest.split(os.sep)[0] in _PLUMBING
    return False


def user_traceback(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` without library frames.

    Source lines come from :mod:`linecache`, so code registered there (notebook
    cells, code shipped to a server) shows its lines. When every frame is a
    library frame the full traceback is returned, so nothing is ever lost.
    """
    return hide_library_frames("".join(_traceback.format_exception(exc)))


def hide_library_frames(text: str) -> str:
    """Removes library frames (see :func:`is_library_file`) from traceback text.

    Works on text from another process too (a server's traceback): each
    ``File "...", line N`` entry and its source lines go when the file is a library
    file. The ``Traceback (most recent call last):`` headers and the exception
    lines stay. Returns ``text`` unchanged if it has no user frame.
    """
    kept: list[str] = []
    user_frames = 0
    dropping = False
    for line in text.splitlines(keepends=True):
        match = _FRAME.match(line)
        if match:
            dropping = is_library_file(match.group("file"))
            user_frames += not dropping
            if not dropping:
                kept.append(line)
            continue
        if dropping and line.startswith("    "):
            continue  # the dropped frame's source line and caret markers
        dropping = False
        kept.append(line)
    return "".join(kept) if user_frames else text


_HEADER = "Traceback (most recent call last):"


def _frames_only(text: str) -> str:
    """Traceback text without its ``Traceback (most recent call last):`` header."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith(_HEADER):
        lines = lines[1:]
    return "".join(lines)


# IPython's own wrapper line for a magic in a cell: not the user's code.
_MAGIC_CALL = ("get_ipython().run_cell_magic(", "get_ipython().run_line_magic(")


def _call_site(exc: BaseException) -> str:
    """The user's frames that led to raising ``exc`` (the notebook line)."""
    if exc.__traceback__ is None:
        return ""
    frames = [
        f
        for f in _traceback.extract_tb(exc.__traceback__)
        if not is_library_file(f.filename)
        and not (f.line or "").startswith(_MAGIC_CALL)
    ]
    return "".join(_traceback.format_list(frames))


def _render(exc: BaseException, headline: str, inner: str, where: str) -> list[str]:
    """IPython's ``_render_traceback_`` lines for ``exc``.

    The error's own name and message come first (JupyterLab's red box shows no
    other title), then one traceback from the user's call down to the failing
    user code (``inner``, introduced by ``where``), library frames hidden.
    """
    lines = [
        f"{type(exc).__name__}: {headline}",
        "Traceback (most recent call last; remotemedia frames hidden):",
    ]
    call = _call_site(exc)
    if call:
        lines.append(call.rstrip("\n"))
    inner = _frames_only(inner).rstrip("\n")
    if inner:
        lines.append(where)
        lines.append(inner)
    else:
        lines.append(f"{type(exc).__name__}: {headline}")
    return lines


class RemoteMediaError(Exception):
    """Base class of every remotemedia error.

    In IPython and Jupyter, :meth:`_render_traceback_` shows the error starting
    at the user's code: the error's name and message, then the user's frames
    only (remotemedia's own frames and the event-loop plumbing are hidden).
    """

    def _render_traceback_(self) -> list[str]:
        return _render(self, str(self), "", "")


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
            traceback=user_traceback(exc),
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

    def headline(self) -> str:
        """One line: which node failed, on what input, with which exception."""
        on = f" on {self.input_summary}" if self.input_summary else ""
        return f"node '{self.node}' failed{on}: {self.error_type}: {self.message}"

    def _render_traceback_(self) -> list[str]:
        # The record's traceback was filtered when it was made (here or on the
        # server); filter again in case it came from an older peer.
        return _render(
            self,
            self.headline(),
            hide_library_frames(self.traceback),
            f"  [in node '{self.node}']",
        )


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
        error = self.node_error
        return _render(
            self,
            error.headline(),
            hide_library_frames(error.traceback),
            f"  [in node '{error.node}']",
        )


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
        return _render(
            self,
            str(self),
            hide_library_frames(self.remote_traceback),
            "  [on the server]",
        )
