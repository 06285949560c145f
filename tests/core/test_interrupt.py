"""Interruptions (barge-in) travelling through a pipeline as control items."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import remotemedia as rm
from remotemedia.core.control import Control, is_control


class Answer(rm.Node):
    """Answers a question with ``steps`` pieces, one per 10 ms, in its own thread;
    stops early when interrupted (like token generation)."""

    blocking = True

    def __init__(self, steps: int = 50, name: str | None = None) -> None:
        super().__init__(name=name)
        self.steps = steps
        self.started = threading.Event()
        self.produced: list[tuple[str, int]] = []

    def process(self, data: Any) -> Any:
        pieces = rm.Outputs()
        self.started.set()
        for index in range(self.steps):
            if self.interrupted:
                break
            time.sleep(0.01)
            pieces.append(f"{data}-{index}")
        self.produced.append((data, len(pieces)))
        return pieces


class Slow(rm.Node):
    """Passes items on, 20 ms each (a player at real-time pace)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.seen: list[Any] = []
        self.interrupts: list[rm.Interrupt] = []

    async def aprocess(self, data: Any) -> Any:
        await asyncio.sleep(0.02)
        self.seen.append(data)
        return data

    def on_interrupt(self, interrupt: rm.Interrupt) -> None:
        self.interrupts.append(interrupt)


async def _ask(answer: Answer, interrupt: rm.Interrupt) -> AsyncIterator[Any]:
    """q1, then (once q1 is being answered) an interruption, then q2."""
    yield "q1"
    while not answer.started.is_set():
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    yield interrupt
    yield "q2"


def test_interrupt_stops_generation_in_flight_and_drops_its_output() -> None:
    answer = Answer(steps=50)
    interrupt = rm.Interrupt("test")
    out = rm.Pipeline([answer]).collect(_ask(answer, interrupt))
    # q1's generation stopped early; nothing it produced came out.
    (q1, q1_pieces), (q2, q2_pieces) = answer.produced
    assert (q1, q2) == ("q1", "q2")
    assert q1_pieces < 50 and q2_pieces == 50
    assert out[0] is interrupt or out[0] == interrupt
    assert out[1:] == [f"q2-{i}" for i in range(50)]
    assert sum(is_control(item) for item in out) == 1  # delivered once


def test_queued_answer_is_dropped_and_hooks_run_once() -> None:
    answer = Answer(steps=40)
    player = Slow()
    interrupt = rm.Interrupt("barge-in", timestamp=1.5)
    out = rm.Pipeline([answer, player], queue_size=64).collect(_ask(answer, interrupt))
    stale = [item for item in player.seen if str(item).startswith("q1")]
    # The player was mid-answer: most of q1 never reached it.
    assert len(stale) < answer.produced[0][1]
    assert player.interrupts == [interrupt]
    position = next(i for i, item in enumerate(out) if isinstance(item, Control))
    assert all(str(item).startswith("q1") for item in out[:position])
    assert out[position + 1 :] == [f"q2-{i}" for i in range(40)]
    assert not player.interrupted  # cleared by the next fresh input


class Onset(rm.Node):
    """Emits an Interrupt before every input that starts with '!' (like a VAD)."""

    def process(self, data: Any) -> Any:
        if data.startswith("!"):
            return rm.Outputs([rm.Interrupt("speech"), data[1:]])
        return data


def test_interrupt_emitted_mid_pipeline_reaches_downstream_only() -> None:
    onset, answer = Onset(), Answer(steps=30)

    async def source() -> AsyncIterator[str]:
        yield "q1"
        while not answer.started.is_set():
            await asyncio.sleep(0.005)
        yield "!q2"

    out = rm.Pipeline([onset, answer]).collect(source())
    assert [type(item) for item in out[:1]] == [rm.Interrupt]
    assert out[0].reason == "speech"
    assert out[1:] == [f"q2-{i}" for i in range(30)]
    assert answer.produced[0][1] < 30
    assert not onset.interrupted  # upstream of the interruption: untouched


def test_node_interrupt_api() -> None:
    node = Slow()
    assert not node.interrupted
    node.interrupt()
    assert node.interrupted and isinstance(node.interrupts[0], rm.Interrupt)
    assert asyncio.run(node.process_one("x")) == ["x"]
    assert not node.interrupted
    first, second = rm.Interrupt(), rm.Interrupt()
    assert first.id != second.id


def test_pipeline_without_interrupts_is_unchanged() -> None:
    out = rm.Pipeline([Onset()]).collect(["a", "b"])
    assert out == ["a", "b"]


@pytest.mark.parametrize("queue_size", [1, 8])
def test_many_interrupts_keep_order(queue_size: int) -> None:
    onset = Onset()
    items = [f"!{i}" if i % 3 == 0 else str(i) for i in range(30)]
    out = rm.Pipeline([onset, Slow()], queue_size=queue_size).collect(items)
    data = [item for item in out if not is_control(item)]
    assert data == sorted(data, key=int)  # never reordered
    assert data[-1] == "29"
    assert sum(is_control(item) for item in out) == 10
