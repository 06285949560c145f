"""IPython magics: run notebook cells in a session on a remotemedia server.

Load them with ``%load_ext remotemedia``. Then::

    In [1]: %remote start                  # embedded server on 127.0.0.1
    In [2]: %%remote --push clip --pull n
       ...: import numpy as np
       ...: n = int(np.abs(clip.samples).argmax())
       ...: print("peak at", n)
    peak at 16384
    In [3]: %remote status

With no connection, the first ``%%remote`` starts the embedded server and says so.
Variables defined by a ``%%remote`` cell stay on the server until pulled.
"""

from __future__ import annotations

import html
import logging
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from remotemedia.core.errors import RemoteError

__all__ = [
    "RemoteMagics",
    "RemoteInterrupt",
    "load_ipython_extension",
    "unload_ipython_extension",
]

logger = logging.getLogger(__name__)

_ACTIONS = ("start", "connect", "status", "push", "pull", "reset", "stop", "nodes")

# Codes that mean the server (or the session's worker) is gone rather than the cell
# having failed: the user must reconnect.
_LOST_CODES = frozenset({"UNAVAILABLE", "FAILED_PRECONDITION", "NOT_FOUND"})

_RECONNECT_HINT = (
    "Reconnect with '%remote connect HOST:PORT --token TOKEN', or run "
    "'%remote start' for a new embedded server."
)


class RemoteInterrupt(KeyboardInterrupt):
    """Ctrl-C in a ``%%remote`` cell: the remote execution was cancelled.

    IPython shows its message alone (no traceback through the magic); the cell
    still counts as interrupted, so "run all" stops there.
    """

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def _names(text: str | None) -> list[str]:
    """Splits a ``--push a,b`` style list (commas and/or spaces)."""
    if not text:
        return []
    return [name for part in text.split(",") for name in part.split() if name]


def _model_label(model: Any) -> str:
    """One loaded model as ``node: model on device``."""
    if not isinstance(model, dict):
        return str(model)
    where = f" on {model['device']}" if model.get("device") else ""
    return f"{model.get('node', '?')}: {model.get('model', '?')}{where}"


class _Table:
    """A small two-column key/value or row table with text and HTML reprs."""

    def __init__(self, header: list[str], rows: list[list[str]]) -> None:
        self.header = header
        self.rows = rows

    def __repr__(self) -> str:
        widths = [
            max(len(str(row[i])) for row in [self.header, *self.rows])
            for i in range(len(self.header))
        ]
        lines = []
        for row in [self.header, *self.rows]:
            cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row)
            + "</tr>"
            for row in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Value:
    """The remote cell's last value, shown from its mime bundle as the cell output."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.bundle = bundle

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return self.bundle

    def __repr__(self) -> str:
        return str(self.bundle.get("text/plain", "<remote value>"))


@magics_class
class RemoteMagics(Magics):
    """``%remote`` and ``%%remote``: a session on a remotemedia server.

    The magics use the process's *current* session (the one ``rm.connect()``,
    ``rm.remote(node)`` and ``rm.RemoteObject(obj)`` use too): ``%remote
    connect`` and ``%remote start`` make their session current.

    Attributes:
        session: The current session, or None.
        last_result: The :class:`~remotemedia.remote.ExecuteResult` of the latest
            ``%%remote`` cell (its captured stdout, stderr and displays).
    """

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self.last_result: Any = None
        self._no_options: Any = None

    # -- connection --------------------------------------------------------------
    @property
    def session(self) -> Any:
        """The current session (shared with ``rm.remote`` and friends), or None."""
        from remotemedia.remote import client

        return client._current

    def _connected(self) -> bool:
        return self.session is not None and not self.session.closed

    def _ensure_session(self) -> Any:
        """The current session; with none, starts the embedded server (and says so)."""
        from remotemedia.remote import current_session

        return current_session()

    def _start(self) -> None:
        from remotemedia.remote import client

        session = self.session
        if self._connected() and client.is_embedded(session):
            try:
                session.status()  # still alive: keep its namespace
            except RemoteError:
                session = None  # its worker or the server is gone: open a new one
        else:
            session = None
        if session is None:
            session = client.open_embedded_session()
        print(
            f"remotemedia: started an embedded server at {session.address} "
            f"(session {session.id[:8]})"
        )

    def _connect(self, address: str, token: str | None) -> None:
        import remotemedia as rm

        try:
            session = rm.connect(address, token, timeout=5.0)
        except RemoteError as exc:
            raise UsageError(
                f"cannot connect to {address}: {exc}. Check the address and token "
                "(or '%remote start' for an embedded server)."
            ) from None
        print(f"remotemedia: connected to {address} (session {session.id[:8]})")

    def _close(self) -> None:
        session = self.session
        if session is not None:
            try:
                session.close()
            except RemoteError as exc:  # a lost server cannot be told
                logger.debug("closing session: %s", exc)

    def _lost(self, exc: RemoteError) -> UsageError:
        where = self.session.address if self.session is not None else "the server"
        return UsageError(
            f"lost the remotemedia session at {where} ({exc.code}: {exc}). "
            + _RECONNECT_HINT
        )

    def _call(self, fn: Any, *args: Any) -> Any:
        """Calls a session method, turning lost-server errors into UsageErrors."""
        try:
            return fn(*args)
        except RemoteError as exc:
            if exc.code in _LOST_CODES and not exc.error_type:
                raise self._lost(exc) from None
            raise

    # -- variables ------------------------------------------------------------------
    @property
    def _user_ns(self) -> dict[str, Any]:
        assert self.shell is not None  # magics are always bound to a shell
        return self.shell.user_ns

    def _push(self, names: list[str]) -> None:
        namespace = self._user_ns
        missing = [n for n in names if n not in namespace]
        if missing:
            raise UsageError(
                f"cannot push {', '.join(map(repr, missing))}: no such variable in "
                "the notebook namespace"
            )
        session = self._ensure_session()
        try:
            self._call(session.push_dict, {n: namespace[n] for n in names})
        except (TypeError, ValueError) as exc:  # unpicklable values
            raise UsageError(str(exc)) from None

    def _pull(self, names: list[str]) -> dict[str, Any]:
        session = self._ensure_session()
        try:
            values: dict[str, Any] = self._call(session.pull, *names)
        except RemoteError as exc:
            raise UsageError(f"cannot pull: {exc}") from None
        self._user_ns.update(values)
        return values

    # -- %remote ------------------------------------------------------------------------
    @magic_arguments()
    @argument(
        "action",
        nargs="?",
        default="status",
        choices=_ACTIONS,
        help="What to do (default: status).",
    )
    @argument(
        "args", nargs="*", help="ADDRESS for connect; variable names for push/pull."
    )
    @argument("--token", default=None, help="Bearer token for connect.")
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @line_magic
    def remote(self, line: str) -> Any:
        """Manages the remotemedia session used by ``%%remote``.

        Actions:
            start             start an embedded server on 127.0.0.1 and connect
            connect ADDRESS   connect to a running server (``--token T``)
            status            server, session id, uptime, memory, objects, variables,
                              device, GPU memory used, models loaded
            push VAR ...      send notebook variables to the session
            pull VAR ...      fetch session variables into the notebook
            reset             clear the session namespace and objects
            stop              close the session (its namespace and objects go away)
            nodes             the node types the server offers

        To use a server running elsewhere: ``%remote connect HOST:PORT --token
        TOKEN``; its session becomes the current one for ``rm.remote(node)`` and
        ``rm.RemoteObject(obj)`` too.

        Examples::

            In [1]: %remote start
            remotemedia: started an embedded server at 127.0.0.1:... (session ...)
            In [2]: x = 21
            In [3]: %remote push x
            In [4]: %%remote
               ...: y = x * 2
            In [5]: %remote pull y
            In [6]: print(y)
            42
        """
        args = parse_argstring(self.remote, line)
        if args.help:
            print(self.remote.__doc__)
            return None
        action = args.action
        if action == "start":
            self._start()
            return None
        if action == "connect":
            if len(args.args) != 1:
                raise UsageError("usage: %remote connect HOST:PORT [--token TOKEN]")
            self._connect(args.args[0], args.token)
            return None
        if action in ("push", "pull") and not args.args:
            raise UsageError(f"usage: %remote {action} VAR [VAR ...]")
        if action == "push":
            self._push(args.args)
            return None
        if action == "pull":
            self._pull(args.args)
            return None
        if action == "stop":
            if not self._connected():
                print("remotemedia: no session to stop")
                return None
            address = self.session.address
            self._close()
            print(f"remotemedia: closed the session at {address}")
            return None
        session = self._ensure_session()
        if action == "reset":
            self._call(session.reset)
            print("remotemedia: session reset (namespace and objects cleared)")
            return None
        if action == "nodes":
            rows = [
                [
                    node["name"],
                    node.get("summary", ""),
                    ", ".join(p["name"] for p in node.get("parameters", [])),
                ]
                for node in self._call(session.list_nodes)
            ]
            return _Table(["node", "summary", "parameters"], rows)
        status = self._call(session.status)
        keys = [
            ("server", "server"),
            ("session", "session_id"),
            ("server version", "server_version"),
            ("uptime (s)", "uptime_s"),
            ("worker memory (MB)", "rss_mb"),
            ("objects", "n_objects"),
            ("variables", "variables"),
            ("cells run", "cells"),
            ("gpu", "gpu"),
            ("device", "device"),
            ("gpu memory used (MB)", "gpu_memory_mb"),
            ("models", "models"),
        ]
        rows = []
        for label, key in keys:
            value = status.get(key, "")
            if key == "models" and isinstance(value, list):
                value = [_model_label(m) for m in value]
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value) or "-"
            rows.append([label, str(value)])
        return _Table(["", "value"], rows)

    # -- %%remote -----------------------------------------------------------------------
    @magic_arguments()
    @argument("--push", default=None, help="Variables to send first: a,b,c.")
    @argument("--pull", default=None, help="Variables to fetch afterwards: x,y.")
    @argument("--timeout", type=float, default=None, help="Wall-time limit (s).")
    @argument(
        "--quiet",
        action="store_true",
        help="Show neither the streamed output nor the value (see .last_result).",
    )
    @argument("-h", "--help", action="store_true", help="Show this help.")
    @cell_magic("remote")  # type: ignore[arg-type]  # IPython's stubs lack the name form
    def remote_cell(self, line: str, cell: str) -> Any:
        """Runs the cell in the remotemedia session namespace.

        Output streams back live, displays and the last value are shown, a remote
        exception is raised with its remote traceback, and Ctrl-C (interrupt the
        kernel) cancels the remote execution. Variables stay on the server unless
        pulled.

        Examples::

            In [1]: samples = [0.1, -0.7, 0.3]
            In [2]: %%remote --push samples --pull peak
               ...: peak = max(abs(s) for s in samples)
               ...: print("peak", peak)
            peak 0.7
            In [3]: peak
            Out[3]: 0.7
            In [4]: %%remote --timeout 0.5
               ...: import time
               ...: time.sleep(5)
            RemoteError: ...time limit...
        """
        if line.strip():
            args = parse_argstring(self.remote_cell, line)
        else:
            # No options (the usual cell): argparse once, not per cell.
            if self._no_options is None:
                self._no_options = parse_argstring(self.remote_cell, "")
            args = self._no_options
        if args.help:
            print(self.remote_cell.__doc__)
            return None
        if args.timeout is not None and args.timeout <= 0:
            raise UsageError(f"--timeout must be positive, got {args.timeout:g}")
        push, pull = _names(args.push), _names(args.pull)
        if push:
            self._push(push)
        session = self._ensure_session()
        quiet = args.quiet
        from IPython.display import display

        def on_stream(name: str, text: str) -> None:
            if quiet:
                return
            stream = sys.stderr if name == "stderr" else sys.stdout
            stream.write(text)
            stream.flush()

        def on_display(bundle: dict[str, Any]) -> None:
            if not quiet:
                display(bundle, raw=True)

        try:
            result = self._call(
                lambda: session.execute(
                    cell,
                    timeout=args.timeout,
                    on_stream=on_stream,
                    on_display=on_display,
                )
            )
        except KeyboardInterrupt:
            # Handled: IPython shows this one line, not the magic's traceback.
            raise RemoteInterrupt(
                "remotemedia: interrupted; the remote cell was cancelled"
            ) from None
        self.last_result = result
        if pull:
            self._pull(pull)
        if quiet or result.value_bundle is None:
            return None
        return _Value(result.value_bundle)


# magic_arguments names the usage after the method; the cell magic is %%remote.
_cell_func: Any = RemoteMagics.remote_cell
_cell_func.parser.prog = "%%remote"
_cell_func.__doc__ = (_cell_func.__doc__ or "").replace("%remote_cell", "%%remote")


def load_ipython_extension(ipython: Any) -> None:
    """Registers :class:`RemoteMagics` (``%load_ext remotemedia``)."""
    ipython.register_magics(RemoteMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Closes the magics' session and the server they started, if any."""
    magics = ipython.magics_manager.registry.get("RemoteMagics")
    if magics is not None:
        magics._close()
