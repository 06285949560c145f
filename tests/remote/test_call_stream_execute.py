"""Code cells over the session's CallStream (the path Session.execute takes).

Replies of an ``execute`` request stream back matched by id: live output, displays,
the value, then ``end`` (with the failure, if any). The ExecuteCode RPC stays for
other clients.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import remotemedia as rm
from remotemedia.core._sync import run_sync
from remotemedia.remote import Session
from remotemedia.remote._proto import execution_pb2 as epb


def test_events_arrive_live_and_in_order(session: Session, tmp_path: Path) -> None:
    flag = tmp_path / "seen"
    # The cell waits (bounded) for a file that only the client's callback creates:
    # it can finish only if 'first' reached the client while the cell ran.
    code = (
        "import sys, time, pathlib\n"
        "print('first', flush=True)\n"
        f"flag = pathlib.Path({str(flag)!r})\n"
        "for _ in range(600):\n"
        "    if flag.exists():\n        break\n"
        "    time.sleep(0.05)\n"
        "print('oops', file=sys.stderr)\n"
        "display({'text/plain': 'shown'}, raw=True)\n"
        "print('last')\n"
        "flag.exists()"
    )
    order: list[tuple[str, Any]] = []

    def on_stream(name: str, text: str) -> None:
        order.append((name, text))
        if text.startswith("first"):
            flag.touch()

    def on_display(bundle: dict[str, Any]) -> None:
        order.append(("display", bundle["text/plain"]))

    result = session.execute(code, on_stream=on_stream, on_display=on_display)
    assert result.value_bundle == {"text/plain": "True"}
    assert [item for item in order if item[1].strip()] == [
        ("stdout", "first"),
        ("stderr", "oops"),
        ("display", "shown"),
        ("stdout", "last"),
    ]
    assert result.stdout == "first\nlast\n"
    assert result.stderr == "oops\n"


async def test_concurrent_cells_get_only_their_own_events(session: Session) -> None:
    cells = [f"print('cell {i}')\n{i} * 10" for i in range(4)]
    results = await asyncio.gather(*(session.aexecute(code) for code in cells))
    for i, result in enumerate(results):
        assert result.stdout == f"cell {i}\n"
        assert result.value_bundle == {"text/plain": str(i * 10)}


def test_cell_error_then_the_stream_keeps_working(session: Session) -> None:
    with pytest.raises(rm.RemoteError) as info:
        session.execute("print('before')\nraise KeyError('missing')")
    assert info.value.error_type == "KeyError"
    assert "KeyError: 'missing'" in info.value.remote_traceback
    assert "<remote-cell-" in info.value.remote_traceback
    assert session.execute("'after'").value_bundle == {"text/plain": "'after'"}


def test_timeout_names_the_limit_and_the_session_goes_on(session: Session) -> None:
    session.execute("kept = 5")
    with pytest.raises(rm.RemoteError) as info:
        session.execute("import time\ntime.sleep(30)", timeout=0.5)
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert "0.5 s time limit" in str(info.value)
    assert session.execute("kept").value_bundle == {"text/plain": "5"}


async def test_cancel_interrupts_the_cell_on_the_server(
    session: Session, tmp_path: Path
) -> None:
    started = asyncio.Event()
    code = "import time\nfor i in range(400):\n    print(i, flush=True)\n    time.sleep(0.05)\n"
    task = asyncio.ensure_future(
        session.aexecute(code, on_stream=lambda name, text: started.set())
    )
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The next cell runs only once the cancelled one stopped (one worker thread).
    result = await session.aexecute("i")
    assert int(result.value_bundle["text/plain"]) < 399
    assert (await session.astatus())["cancelled"] == 1


def test_a_broken_stream_is_reopened(session: Session) -> None:
    assert session.execute("a = 1\na").value_bundle == {"text/plain": "1"}
    calls = session._calls
    assert calls is not None

    async def drop() -> None:  # as if the connection dropped (on the loop's thread)
        calls._call.cancel()

    run_sync(drop())
    for _ in range(100):  # bounded: the reader notices the end asynchronously
        if session._calls is not calls:
            break
        run_sync(asyncio.sleep(0.01))
    assert session.execute("a + 1").value_bundle == {"text/plain": "2"}
    assert session._calls is not calls


def test_execute_code_rpc_still_serves_other_clients(session: Session) -> None:
    async def call() -> list[epb.ExecuteCodeEvent]:
        request = epb.ExecuteCodeRequest(
            session_id=session.id, code="print('hi')\n6 * 7"
        )
        stream = session._stubs["ExecuteCode"](request, metadata=session._metadata)
        return [event async for event in stream]

    events = run_sync(call())
    kinds = [e.WhichOneof("kind") for e in events]
    assert kinds[-1] == "result_json" and set(kinds[:-1]) == {"stream"}
    assert "".join(e.stream.text for e in events[:-1]) == "hi\n"
    assert events[-1].result_json == '{"text/plain": "42"}'
