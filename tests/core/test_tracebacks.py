"""Errors as a notebook shows them: the error's name first, the user's code only."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.core.errors import hide_library_frames, is_library_file

ROOT = Path(__file__).resolve().parents[2]


class Broken(rm.Node):
    """Fails on every input, in user code."""

    def process(self, data: Any) -> Any:
        return data.samples * "x"  # a user bug


def _frame() -> rm.AudioFrame:
    return rm.AudioFrame(np.zeros(160, dtype=np.float32), 16000)


def test_pipeline_error_renders_from_the_user_code() -> None:
    pipeline = rm.Pipeline([rm.nodes.Gain(db=-3), Broken()])
    with pytest.raises(rm.PipelineError) as info:
        pipeline.run(_frame(), engine="python")
    lines = info.value._render_traceback_()
    text = "\n".join(lines)
    assert lines[0].startswith("PipelineError: node 'Broken' failed on AudioFrame(")
    assert "[in node 'Broken']" in text
    assert 'return data.samples * "x"  # a user bug' in text  # the user's source
    assert "pipeline.run(_frame()" in text  # the call site
    for hidden in ("node.py", "pipeline.py", "_sync.py", "asyncio", "concurrent"):
        assert hidden not in text, hidden
    # The record itself renders the same way.
    record = info.value.node_error._render_traceback_()
    assert record[0].startswith("NodeError: node 'Broken'")


def test_remote_traceback_text_loses_server_frames() -> None:
    server_tb = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/remotemedia_server/worker.py", line 800, in _call\n'
        "    result = method(*args)\n"
        '  File "/home/u/notebook_cell.py", line 3, in process\n'
        "    return 1 / 0\n"
        "           ~~^~~\n"
        "ZeroDivisionError: division by zero\n"
    )
    kept = hide_library_frames(server_tb)
    assert "worker.py" not in kept and "method(*args)" not in kept
    assert "notebook_cell.py" in kept and "~~^~~" in kept
    assert kept.endswith("ZeroDivisionError: division by zero\n")
    error = rm.RemoteError(
        "remote call failed", "UNKNOWN", server_tb, "ZeroDivisionError"
    )
    lines = error._render_traceback_()
    assert lines[0] == "RemoteError: remote call failed"
    assert "[on the server]" in "\n".join(lines) and "worker.py" not in "\n".join(lines)
    assert is_library_file(rm.__file__) and not is_library_file(__file__)


def test_collect_of_a_bare_array_says_to_wrap_it() -> None:
    pipeline = rm.Pipeline([rm.nodes.Gain(db=-3)])
    with pytest.raises(TypeError, match=r"wrap it in a frame.*rm\.AudioFrame"):
        pipeline.collect(np.zeros(16000))


def test_a_kernel_shows_the_error_name_and_user_lines() -> None:
    """A real IPython kernel: the error message JupyterLab renders in its red box."""
    jupyter_client = pytest.importorskip("jupyter_client")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "server")])
    km, kc = jupyter_client.manager.start_new_kernel(
        kernel_name="python3", env=env, startup_timeout=60
    )
    try:
        cell = (
            "import numpy as np, remotemedia as rm\n"
            "class Bad(rm.Node):\n"
            "    def process(self, data):\n"
            "        return data.samples * 'x'\n"
            "p = rm.Pipeline([rm.nodes.Gain(db=-3), Bad()])\n"
            "p.run(rm.AudioFrame(np.zeros(160, dtype=np.float32), 16000))\n"
        )
        reply = kc.execute_interactive(cell, timeout=60, output_hook=_keep)
        assert reply["content"]["status"] == "error"
        traceback = _ERRORS[-1]["traceback"]
        assert traceback[0].startswith("PipelineError: node 'Bad' failed")
        text = "\n".join(traceback)
        assert "return data.samples * 'x'" in text
        assert "p.run(rm.AudioFrame" in text
        assert "remotemedia/core" not in text and "interactiveshell" not in text
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


_ERRORS: list[dict[str, Any]] = []


def _keep(message: dict[str, Any]) -> None:
    if message["header"]["msg_type"] == "error":
        _ERRORS.append(message["content"])
    elif message["header"]["msg_type"] == "stream":
        sys.stdout.write(message["content"]["text"])


def test_the_magic_wrapper_line_is_not_shown_as_user_code() -> None:
    namespace: dict[str, Any] = {"rm": rm}
    source = "def get_ipython():\n    raise rm.RemoteError('lost')\n"
    exec(compile(source, "<ipython-input-9>", "exec"), namespace)  # noqa: S102
    cell = "get_ipython().run_cell_magic('remote', '', 'x = 1')\n"
    try:
        exec(compile(cell, "<ipython-input-10>", "exec"), namespace)  # noqa: S102
    except rm.RemoteError as exc:
        text = "\n".join(exc._render_traceback_())
    assert text.startswith("RemoteError: lost")
    assert "run_cell_magic" not in text


def test_run_of_a_bare_array_says_to_wrap_it() -> None:
    with pytest.raises(TypeError, match=r"'Gain' takes audio frames; wrap it"):
        rm.Pipeline([rm.nodes.Gain(db=-3)]).run(np.zeros(16000))
    # A node that takes anything still gets the array as is.
    out = rm.Pipeline([rm.nodes.Passthrough()]).run(np.zeros(3))
    assert out.shape == (3,)
