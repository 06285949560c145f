"""Sessions: code execution with live output, variables, objects, status."""

from __future__ import annotations

import base64
import threading
import time

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.remote import RemoteObject, Session


class Counter:
    """A stateful object for RemoteObject tests."""

    def __init__(self, start: int = 0) -> None:
        self.count = start

    def increment(self, by: int = 1) -> int:
        self.count += by
        return self.count

    def frame(self) -> rm.AudioFrame:
        return rm.AudioFrame(np.full((1, 4), self.count, np.float32), 8000)


def test_execute_returns_last_value_and_output(session: Session) -> None:
    result = session.execute("print('hello')\nx = 6 * 7\nx")
    assert result.stdout == "hello\n"
    assert result.value_bundle == {"text/plain": "42"}
    assert session.execute("y = 1").value_bundle is None
    assert session.pull("x", "y") == {"x": 42, "y": 1}


def test_execute_streams_stdout_live(session: Session) -> None:
    stamps: list[tuple[float, str]] = []
    code = (
        "import time\nfor i in range(4):\n    print('tick', i)\n    time.sleep(0.2)\n"
    )
    start = time.monotonic()
    result = session.execute(
        code, on_stream=lambda name, text: stamps.append((time.monotonic(), text))
    )
    end = time.monotonic()
    ticks = [t for t, text in stamps if text.startswith("tick")]
    assert len(ticks) == 4
    # Live: the first tick arrives well before the cell ends, the last near the end.
    assert ticks[0] - start < (end - start) * 0.6
    assert ticks[-1] - ticks[0] >= 0.4
    assert result.stdout == "".join(f"tick {i}\n" for i in range(4))


def test_execute_error_carries_remote_traceback(session: Session) -> None:
    with pytest.raises(rm.RemoteError) as info:
        session.execute("print('before')\ndef f():\n    raise ValueError('boom')\nf()")
    error = info.value
    assert error.error_type == "ValueError"
    assert "boom" in str(error)
    assert "raise ValueError('boom')" in error.remote_traceback
    assert "worker.py" not in error.remote_traceback
    with pytest.raises(rm.RemoteError, match="SyntaxError"):
        session.execute("def (")


def test_display_and_matplotlib_figure(session: Session) -> None:
    shown: list[dict] = []
    code = (
        "import matplotlib.pyplot as plt\n"
        "class Html:\n"
        "    def _repr_html_(self):\n"
        "        return '<b>hi</b>'\n"
        "display(Html())\n"
        "plt.plot([1, 3, 2])\n"
    )
    result = session.execute(code, on_display=shown.append)
    assert shown == result.displays
    assert result.displays[0]["text/html"] == "<b>hi</b>"
    png = base64.b64decode(result.displays[1]["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # Figures are closed after being sent, like Jupyter's inline backend.
    assert session.execute("len(plt.get_fignums())").value_bundle == {"text/plain": "0"}


def test_ipython_display_is_captured(session: Session) -> None:
    pytest.importorskip("IPython", reason="IPython is not installed")
    result = session.execute(
        "from IPython.display import display, HTML\ndisplay(HTML('<i>x</i>'))"
    )
    assert result.displays[0]["text/html"] == "<i>x</i>"


def test_push_pull_round_trip(session: Session, sine: rm.AudioFrame) -> None:
    session.push(frame=sine, numbers=[1, 2.5, "three"], table={"a": np.arange(3)})
    session.push_dict({"double": lambda v: 2 * v})
    session.execute("result = double(frame.samples.sum())")
    pulled = session.pull("frame", "numbers", "table", "result")
    assert pulled["frame"] == sine
    assert pulled["numbers"] == [1, 2.5, "three"]
    assert np.array_equal(pulled["table"]["a"], np.arange(3))
    assert pulled["result"] == pytest.approx(2 * float(sine.samples.sum()))


def test_pull_missing_and_unpicklable_variables(session: Session) -> None:
    with pytest.raises(rm.RemoteError, match="variable 'nope' is not defined") as info:
        session.pull("nope")
    assert info.value.code == "NOT_FOUND"
    session.execute("import threading\nlock = threading.Lock()")
    with pytest.raises(rm.RemoteError, match="variable 'lock'.*lock") as info:
        session.pull("lock")
    assert info.value.code == "FAILED_PRECONDITION"
    with pytest.raises(TypeError, match="variable 'mine'.*lock"):
        session.push(mine=threading.Lock())


def test_remote_object_state_persists(session: Session) -> None:
    counter = RemoteObject(Counter(10), session)
    assert counter.increment() == 11
    assert counter.increment(by=5) == 16
    assert counter.count == 16
    counter.count = 100
    assert counter.increment() == 101
    assert counter.frame() == rm.AudioFrame(np.full((1, 4), 101, np.float32), 8000)
    assert [o["type"].endswith("Counter") for o in session.objects()] == [True]
    with pytest.raises(AttributeError, match="missing_method"):
        counter.missing_method()
    assert not hasattr(counter, "nothing_here")
    with pytest.raises(rm.RemoteError, match="TypeError"):
        counter.increment("not a number")
    counter.release()
    assert session.objects() == []


def test_status_info_reset_and_nodes(session: Session) -> None:
    session.execute("a = 1")
    session.put(Counter())
    status = session.status()
    assert status["session_id"] == session.id
    assert status["server"] == session.address
    assert status["variables"] == ["a"]
    assert status["n_objects"] == 1
    assert status["rss_mb"] > 0 and status["uptime_s"] >= 0
    assert isinstance(status["gpu"], list)
    info = session.info()
    assert info["version"] == rm.__version__
    assert "execute_code" in info["capabilities"]
    assert info["limits"]["memory_mb"] > 0
    session.reset()
    status = session.status()
    assert status["variables"] == [] and status["n_objects"] == 0
    names = {n["name"] for n in session.list_nodes()}
    # Other test modules register their own nodes in this process; the server knows
    # the built-in ones, which must all be listed.
    builtins = {i.name for i in rm.list_nodes() if i.module.startswith("remotemedia.")}
    assert builtins <= names


async def test_async_api_from_another_loop(session: Session) -> None:
    outputs: list[str] = []
    result = await session.aexecute(
        "print('async')\n3", on_stream=lambda n, t: outputs.append(t)
    )
    assert result.value_bundle == {"text/plain": "3"}
    assert "".join(outputs) == "async\n"
    await session.apush_dict({"z": 5})
    assert await session.apull("z") == {"z": 5}


def test_rm_show_in_a_remote_cell_sends_a_display(session: Session) -> None:
    pytest.importorskip("IPython", reason="IPython is not installed")
    result = session.execute(
        "import numpy as np\nimport remotemedia as rm\n"
        "rm.show(rm.VideoFrame(np.zeros((8, 8, 3), np.uint8)))"
    )
    assert len(result.displays) == 1
    png = base64.b64decode(result.displays[0]["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_top_level_await_in_a_cell(session: Session) -> None:
    result = session.execute(
        "import asyncio\nawait asyncio.sleep(0.01)\nprint('awaited')\n"
        "async def twice(v):\n    return 2 * v\nawait twice(21)"
    )
    assert result.stdout == "awaited\n"
    assert result.value_bundle == {"text/plain": "42"}
