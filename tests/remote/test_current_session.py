"""One current session: magics, remote nodes, remote objects, ``rm.connect()`` and
the pipeline editor all run on the server ``%remote connect`` chose.

The server is a separately started ``remotemedia serve`` subprocess on loopback
(a free port, its own token), not the embedded one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import remotemedia as rm
from remotemedia.remote import client

TOKEN = "current-session-token"
_LISTENING = re.compile(r"listening on (\S+):(\d+)")


@rm.register_node
class WorkerPid(rm.Node):
    """Emits the pid of the process it runs in."""

    def process(self, data: Any) -> int:
        return os.getpid()


class Who:
    """Says which process it lives in."""

    def pid(self) -> int:
        return os.getpid()


@pytest.fixture(scope="module")
def serve() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``remotemedia serve --port 0 --token ...`` in its own process."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{root / 'server'}")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "remotemedia.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            f"--token={TOKEN}",
            "--exit-with-parent",
            str(os.getpid()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = _LISTENING.search(line)
            if match and not found:
                found.append(f"{match.group(1)}:{match.group(2)}")
        # (keeps draining until the server exits)

    threading.Thread(target=read, daemon=True).start()
    for _ in range(600):
        if found or process.poll() is not None:
            break
        threading.Event().wait(0.1)
    assert found, f"remotemedia serve did not start (exit code {process.poll()})"
    yield process, found[0]
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def ip() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "remotemedia")
    yield shell


def _ancestors(pid: int) -> list[int]:
    chain = []
    for _ in range(6):
        fields = Path(f"/proc/{pid}/status").read_text().splitlines()
        ppid = int(next(f for f in fields if f.startswith("PPid:")).split()[1])
        if ppid <= 1:
            break
        chain.append(ppid)
        pid = ppid
    return chain


def test_one_session_for_magics_nodes_objects_connect_and_editor(
    ip: InteractiveShell, serve: tuple[subprocess.Popen[str], str]
) -> None:
    process, address = serve
    with capture_output() as out:
        ip.run_line_magic("remote", f"connect {address} --token {TOKEN}")
    assert f"connected to {address}" in out.stdout
    session = ip.magics_manager.registry["RemoteMagics"].session
    assert session.address == address

    with capture_output() as out:
        value = ip.run_cell_magic("remote", "", "import os\nos.getpid()")
    cell_pid = int(repr(value))
    assert process.pid in _ancestors(cell_pid)  # a worker of the serve process

    # Nothing below may start (or mention) another server.
    with capture_output() as out:
        node = rm.remote(WorkerPid())
        assert node.session is session
        node_pids = rm.Pipeline([node]).collect([1, 2])
        assert rm.connect() is session
        obj_pid = rm.RemoteObject(Who()).pid()
        editor = rm.widgets.PipelineEditor(namespace={})
        editor.add("WorkerPid", remote=True)
        editor_pids = editor.run()
    assert editor.last_error == ""
    assert "started" not in out.stdout + out.stderr
    assert node_pids == [cell_pid, cell_pid]
    assert obj_pid == cell_pid
    assert editor_pids and set(editor_pids) == {cell_pid}


def test_without_a_session_the_default_says_which_server_it_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client.set_current_session(None)
    tally = rm.RemoteObject(Who())
    first = capsys.readouterr().err
    assert "started an embedded server at 127.0.0.1:" in first
    assert tally._session is client.current_session()
    rm.RemoteObject(Who())
    assert "started" not in capsys.readouterr().err  # said once
    with pytest.raises(rm.RemoteError, match="no remotemedia session"):
        client.set_current_session(None)
        client.current_session(start=False)
