"""``%remote`` / ``%%remote`` on a real IPython shell against a real embedded server."""

from __future__ import annotations

import doctest
import os
import re
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import remotemedia as rm
from remotemedia.notebook.magics import RemoteMagics


@pytest.fixture(scope="module")
def ip() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "remotemedia")
    yield shell
    magics = shell.magics_manager.registry["RemoteMagics"]
    magics._close()


def magics(ip: InteractiveShell) -> RemoteMagics:
    return ip.magics_manager.registry["RemoteMagics"]


def cell(ip: InteractiveShell, code: str, line: str = "") -> tuple[Any, Any]:
    with capture_output() as captured:
        value = ip.run_cell_magic("remote", line, code)
    return value, captured


def test_first_use_starts_embedded_server_and_says_so(ip: InteractiveShell) -> None:
    magics(ip)._close()
    value, out = cell(ip, "21 * 2")
    assert "started an embedded server at 127.0.0.1:" in out.stderr
    assert repr(value) == "42"
    assert value._repr_mimebundle_() == {"text/plain": "42"}
    # The next cell reuses the session silently.
    _, out = cell(ip, "x = 1")
    assert "started" not in out.stdout + out.stderr


def test_streams_stdout_and_stderr_and_keeps_variables_remote(
    ip: InteractiveShell,
) -> None:
    ip.user_ns.pop("remote_only", None)
    value, out = cell(
        ip,
        "import sys\nremote_only = 7\nprint('to out')\nprint('to err', file=sys.stderr)",
    )
    assert value is None
    assert "to out\n" in out.stdout
    assert out.stderr == "to err\n"
    assert "remote_only" not in ip.user_ns
    value, _ = cell(ip, "remote_only + 1")
    assert repr(value) == "8"


def test_push_and_pull_flags(ip: InteractiveShell) -> None:
    ip.user_ns["clip_gain"] = 0.5
    cell(ip, "doubled = clip_gain * 2", line="--push clip_gain --pull doubled")
    assert ip.user_ns["doubled"] == 1.0


def test_line_push_pull_reset(ip: InteractiveShell) -> None:
    ip.user_ns["a_list"] = [1, 2, 3]
    ip.run_line_magic("remote", "push a_list")
    cell(ip, "total = sum(a_list)")
    ip.run_line_magic("remote", "pull total")
    assert ip.user_ns["total"] == 6
    with capture_output():
        ip.run_line_magic("remote", "reset")
    with pytest.raises(UsageError, match="total"):
        ip.run_line_magic("remote", "pull total")


def test_displays_are_shown_raw(ip: InteractiveShell) -> None:
    _, out = cell(ip, "display({'text/plain': 'shown remotely'}, raw=True)")
    bundles = [o.data for o in out.outputs]
    assert {"text/plain": "shown remotely"} in bundles


def test_remote_exception_carries_remote_traceback(ip: InteractiveShell) -> None:
    with pytest.raises(rm.RemoteError) as info:
        cell(ip, "def f():\n    raise KeyError('missing-key')\nf()")
    assert info.value.error_type == "KeyError"
    rendered = "".join(info.value._render_traceback_())
    assert "missing-key" in rendered and "in f" in rendered


def test_status_and_nodes_tables(ip: InteractiveShell) -> None:
    cell(ip, "status_marker = 1")
    status = ip.run_line_magic("remote", "status")
    text = repr(status)
    assert "status_marker" in text and "worker memory" in text
    assert "<table>" in status._repr_html_()
    nodes = ip.run_line_magic("remote", "nodes")
    assert "Gain" in repr(nodes) and "Resample" in repr(nodes)


def test_usage_errors(ip: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="no such variable"):
        ip.run_line_magic("remote", "push not_defined_anywhere")
    with pytest.raises(UsageError, match="not defined"):
        ip.run_line_magic("remote", "pull not_defined_anywhere")
    ip.user_ns["a_lock"] = threading.Lock()
    with pytest.raises(UsageError, match="pickle"):
        ip.run_line_magic("remote", "push a_lock")
    with pytest.raises(UsageError, match="invalid choice"):
        ip.run_line_magic("remote", "bogus")
    with pytest.raises(UsageError, match="usage"):
        ip.run_line_magic("remote", "connect")
    with pytest.raises(UsageError, match="timeout"):
        cell(ip, "1", line="--timeout 0")


def test_help_text_lists_actions(ip: InteractiveShell) -> None:
    doc = ip.find_line_magic("remote").__doc__
    assert "connect ADDRESS" in doc and "--token" in doc
    assert "--push" in ip.find_cell_magic("remote").__doc__
    with capture_output() as out:
        ip.run_line_magic("remote", "--help")
    assert "connect ADDRESS" in out.stdout and "%remote [--token TOKEN]" in out.stdout
    with capture_output() as out:
        assert ip.run_cell_magic("remote", "--help", "never_run = 1") is None
    assert "%%remote [--push PUSH]" in out.stdout and "Examples" in out.stdout


def test_timeout_is_enforced(ip: InteractiveShell) -> None:
    with pytest.raises(rm.RemoteError) as info:
        cell(ip, "import time\ntime.sleep(20)", line="--timeout 0.5")
    assert info.value.code == "DEADLINE_EXCEEDED" or "Timeout" in info.value.error_type
    value, _ = cell(ip, "'alive'")
    assert repr(value) == "'alive'"


def test_keyboard_interrupt_cancels_remote_cell(ip: InteractiveShell) -> None:
    cell(ip, "import time\nfinished = False")
    session = magics(ip).session
    cancelled = session.status()["cancelled"]
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            cell(ip, "for _ in range(300):\n    time.sleep(0.1)\nfinished = True")
    finally:
        timer.cancel()
    assert session.status()["cancelled"] == cancelled + 1
    value, _ = cell(ip, "finished")
    assert repr(value) == "False"  # the remote loop was stopped, not left running


def test_connect_to_running_server_and_lost_server(ip: InteractiveShell) -> None:
    server = rm.start_server()
    try:
        with capture_output() as out:
            ip.run_line_magic(
                "remote", f"connect {server.address} --token {server.token}"
            )
        assert f"connected to {server.address}" in out.stdout
        value, _ = cell(ip, "'on the other server'")
        assert repr(value) == "'on the other server'"
    finally:
        server.stop()
    with pytest.raises(UsageError, match="reconnect|Reconnect"):
        cell(ip, "1")
    with pytest.raises(UsageError, match="cannot connect"):
        ip.run_line_magic("remote", f"connect {server.address} --token x")
    with capture_output() as out:
        ip.run_line_magic("remote", "start")
    assert "embedded server" in out.stdout
    value, _ = cell(ip, "'back'")
    assert repr(value) == "'back'"


def _examples(doc: str) -> list[tuple[str, str]]:
    """(source, expected output) of each ``In [n]:`` of a docstring's Examples."""
    cells: list[tuple[list[str], list[str]]] = []
    for line in doc.split("Examples::", 1)[1].splitlines():
        text = line.strip()
        if not text:
            if cells:
                break  # the block ends (magic_arguments appends the options)
            continue
        if text.startswith("In ["):
            cells.append(([text.split("]: ", 1)[1]], []))
        elif text.startswith("...:"):
            cells[-1][0].append(text[5:])
        else:
            cells[-1][1].append(text)
    return [("\n".join(src), "\n".join(out)) for src, out in cells]


@pytest.mark.parametrize("kind", ["line", "cell"])
def test_help_examples_print_what_they_show(ip: InteractiveShell, kind: str) -> None:
    magic = ip.find_line_magic("remote") if kind == "line" else None
    doc = (magic or ip.find_cell_magic("remote")).__doc__
    examples = _examples(doc)
    assert len(examples) >= 3
    checker = doctest.OutputChecker()
    for source, expected in examples:
        with capture_output() as out:
            ip.run_cell(source)
        got = re.sub(r"Out\[\d+\]", "Out[N]", (out.stdout + out.stderr).strip())
        want = re.sub(r"Out\[\d+\]", "Out[N]", expected)
        assert checker.check_output(
            want + "\n", got + "\n", doctest.ELLIPSIS
        ), f"{source!r} printed {got!r}, its example shows {want!r}"


def test_interrupt_prints_one_line_and_no_traceback(ip: InteractiveShell) -> None:
    cell(ip, "import time")
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with capture_output() as out:
            result = ip.run_cell("%%remote\nfor _ in range(300):\n    time.sleep(0.1)")
    finally:
        timer.cancel()
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    text = out.stdout + out.stderr
    assert "the remote cell was cancelled" in text
    assert "Traceback" not in text and "magics.py" not in text
    assert len(text.strip().splitlines()) == 1


def test_rm_remote_help_is_the_function(ip: InteractiveShell) -> None:
    import remotemedia.remote  # noqa: F401 - binds rm.remote to the package

    info = ip.inspector.info(rm.remote, "rm.remote", detail_level=0)
    assert info["docstring"].startswith("Runs ``node`` on a server session")
    assert "Args:" in info["docstring"] and "window" in info["docstring"]
    assert "node" in info["definition"] and "window" in info["definition"]
    shown = " ".join(str(v) for v in info.values() if isinstance(v, str))
    assert "Makes ``rm.remote(node)`` work" not in shown
    assert not info.get("class_docstring") and not info.get("call_docstring")
