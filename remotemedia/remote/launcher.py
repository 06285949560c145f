"""Starts a local server subprocess (the embedded server of ``rm.connect()``)."""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Sequence

from remotemedia.core.errors import RemoteError

__all__ = ["LocalServer", "start_server", "default_server"]

logger = logging.getLogger(__name__)

_LISTENING = re.compile(r"remotemedia server listening on (\S+):(\d+) token=(\S+)")
_default: LocalServer | None = None
_default_lock = threading.Lock()


class LocalServer:
    """A server subprocess on this machine.

    Attributes:
        address: ``host:port`` to connect to.
        token: Its bearer token.
        process: The subprocess.
    """

    def __init__(
        self, process: subprocess.Popen[str], address: str, token: str
    ) -> None:
        self.process = process
        self.address = address
        self.token = token
        self._output: list[str] = []
        threading.Thread(target=self._drain, name="rm-server-out", daemon=True).start()
        atexit.register(self.stop)

    def _drain(self) -> None:
        # Keep the pipe flowing so the server never blocks on a full stdout.
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._output.append(line)
            del self._output[:-200]

    @property
    def running(self) -> bool:
        """True while the subprocess runs."""
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the server and its session workers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def connect(self, **kwargs: object) -> object:
        """Opens a :class:`~remotemedia.remote.Session` on this server."""
        from remotemedia.remote.client import connect

        return connect(self.address, self.token, **kwargs)  # type: ignore[arg-type]

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LocalServer({self.address}, {state})"


def start_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    args: Sequence[str] = (),
    timeout: float = 60.0,
) -> LocalServer:
    """Starts ``python -m remotemedia_server`` and waits until it listens.

    The server exits with this process (it watches its parent).

    Args:
        host: Interface to bind.
        port: Port (0: any free port).
        token: Bearer token (default: a random one).
        args: Extra ``remotemedia serve`` options, e.g. ``["--memory-mb", "512"]``.
        timeout: Seconds to wait for the server to listen.

    Raises:
        RemoteError: If the server exits or does not listen in time.
    """
    # Hex, not urlsafe: a token starting with "-" reads as an option in CLIs/magics.
    token = token or secrets.token_hex(24)
    command = [
        sys.executable,
        "-m",
        "remotemedia_server",
        "--host",
        host,
        "--port",
        str(port),
        f"--token={token}",  # '=' form: a token may start with '-'
        "--exit-with-parent",
        str(os.getpid()),
        *args,
    ]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        # Own session: Ctrl-C in a terminal interrupts the client, not the server
        # (which exits with its parent instead).
        start_new_session=True,
    )
    assert process.stdout is not None
    found: list[re.Match[str]] = []
    seen: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                found.append(match)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        process.kill()
        process.wait()
        tail = "".join(seen[-20:]).strip()
        raise RemoteError(
            f"the local server did not start within {timeout:g} s "
            f"(exit code {process.returncode}){': ' + tail if tail else ''}",
            code="UNAVAILABLE",
        )
    match = found[0]
    server = LocalServer(process, f"{match.group(1)}:{match.group(2)}", token)
    logger.info("started local server at %s", server.address)
    return server


def default_server() -> LocalServer:
    """The process-wide embedded server, started on first use."""
    global _default
    with _default_lock:
        if _default is None or not _default.running:
            _default = start_server()
        return _default
