from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import remotemedia as rm


class Scale(rm.Node):
    """Multiplies numbers by a factor.

    Args:
        factor: The multiplier.
    """

    def __init__(self, factor: float = 2.0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.factor = factor

    def process(self, data: float) -> float:
        return data * self.factor


class Pairer(rm.Node):
    """Emits a list of two inputs every second input; flushes a lone one."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.held: list[Any] = []

    def process(self, data: Any) -> Any:
        self.held.append(data)
        if len(self.held) == 2:
            out, self.held = self.held, []
            return out  # a plain list is ONE output
        return None

    def flush(self) -> Any:
        out, self.held = self.held, []
        return out or None


class Splitter(rm.Node):
    """Emits each item of a list input as its own output."""

    def process(self, data: list[Any]) -> rm.Outputs:
        return rm.Outputs(data)


class Lifecycle(rm.Node):
    """Records lifecycle calls."""

    def __init__(self, fail_on: Any = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self.fail_on = fail_on
        self.events: list[str] = []

    def initialize(self) -> None:
        self.events.append("init")

    def process(self, data: Any) -> Any:
        if data == self.fail_on:
            raise RuntimeError(f"bad input {data}")
        return data

    def cleanup(self) -> None:
        self.events.append("cleanup")


class AsyncDouble(rm.Node):
    async def aprocess(self, data: int) -> int:
        await asyncio.sleep(0)
        return data * 2


def test_run_sync_single_value_and_chaining() -> None:
    p = rm.Pipeline(name="p").add_node(Scale(3)).add_node(Scale(0.5))
    assert p.run(4) == 6.0
    assert [n.name for n in p] == ["Scale", "Scale_2"]
    assert p["Scale_2"].config == {"factor": 0.5}


async def test_arun_and_async_nodes() -> None:
    p = rm.Pipeline([AsyncDouble(), Scale(10)])
    assert await p.arun(2) == 40


def test_run_inside_a_running_event_loop() -> None:
    # Jupyter runs cells inside a loop: sync run() must still work there.
    async def cell() -> Any:
        return rm.Pipeline([Scale(2)]).run(21)

    assert asyncio.run(cell()) == 42


def test_output_convention_none_value_list_outputs() -> None:
    p = rm.Pipeline([Pairer()])
    assert p.collect([1, 2, 3, 4, 5]) == [[1, 2], [3, 4], [5]]
    assert p.run(7) == [7]  # one output that is a list
    assert rm.Pipeline([Splitter()]).run([1, 2, 3]) == [1, 2, 3]  # three outputs
    assert rm.Pipeline([Splitter()]).run([]) is None


async def test_stream_sync_and_async_sources() -> None:
    p = rm.Pipeline([Scale(2), Pairer(), Splitter()])

    async def agen() -> AsyncIterator[int]:
        for i in range(5):
            yield i

    assert [x async for x in p.stream(range(5))] == [0, 2, 4, 6, 8]
    assert [x async for x in p.stream(agen())] == [0, 2, 4, 6, 8]


async def test_stream_applies_backpressure() -> None:
    produced = 0

    def source() -> Iterator[int]:
        nonlocal produced
        for i in range(100):
            produced += 1
            yield i

    p = rm.Pipeline([Scale(1), Scale(1)], queue_size=2)
    agen = p.stream(source())
    first = await agen.__anext__()
    await asyncio.sleep(0.05)
    # With queues of 2 between 3 stages, only a handful of items can be in flight.
    assert first == 0
    assert produced <= 12
    await agen.aclose()


async def test_slow_sync_node_runs_concurrently_with_others() -> None:
    class Slow(rm.Node):
        blocking = True

        def process(self, data: int) -> int:
            time.sleep(0.01)
            return data

    threads: set[str] = set()

    class Where(rm.Node):
        blocking = True

        def process(self, data: int) -> int:
            threads.add(threading.current_thread().name)
            time.sleep(0.01)
            return data

    p = rm.Pipeline([Slow(), Where()])
    out = await p.acollect(range(10))
    assert out == list(range(10))
    assert threads and all(name.startswith("rm-Where") for name in threads)


def test_lifecycle_init_once_and_cleanup_on_error() -> None:
    node = Lifecycle(fail_on=3)
    p = rm.Pipeline([node])
    with pytest.raises(rm.PipelineError) as info:
        p.collect([1, 2, 3, 4])
    assert node.events == ["init", "cleanup"]
    err = info.value.node_error
    assert err.node == "Lifecycle"
    assert err.error_type == "RuntimeError"
    assert err.message == "bad input 3"
    assert err.input_summary == "3"
    assert "RuntimeError: bad input 3" in err.traceback


def test_context_manager_keeps_nodes_initialised_across_runs() -> None:
    node = Lifecycle()
    p = rm.Pipeline([node])
    with p:
        assert p.run(1) == 1
        assert p.run(2) == 2
        with pytest.raises(RuntimeError, match="immutable|cannot change"):
            p.add_node(Scale())
    assert node.events == ["init", "cleanup"]
    p.add_node(Scale())  # allowed again once closed


async def test_async_context_manager_and_cancellation_cleans_up() -> None:
    node = Lifecycle()

    class Hang(rm.Node):
        async def aprocess(self, data: Any) -> Any:
            await asyncio.sleep(3600)

    p = rm.Pipeline([node, Hang()])

    async def consume() -> list[Any]:
        return await p.acollect(range(3))

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert node.events == ["init", "cleanup"]
    async with p:
        assert node.events[-1] == "init"
    assert node.events[-1] == "cleanup"


def test_on_error_emit_records_flow_and_stream_continues() -> None:
    p = rm.Pipeline([Lifecycle(fail_on=2), Scale(10)], on_error="emit")
    out = p.collect([1, 2, 3])
    assert out[0] == 10 and out[2] == 30
    assert isinstance(out[1], rm.NodeError)
    assert out[1].node == "Lifecycle"


def test_failing_source_iterable_raises_the_original_error() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        rm.Pipeline([Scale()]).collect(broken())


def test_source_node_drives_the_pipeline() -> None:
    class Count(rm.Source):
        def __init__(self, n: int = 3, name: str | None = None) -> None:
            super().__init__(name=name)
            self.n = n

        def frames(self) -> Iterator[int]:
            yield from range(self.n)

    p = rm.Pipeline([Count(4), Scale(2)])
    assert p.collect() == [0, 2, 4, 6]
    assert p.run() == [0, 2, 4, 6]
    assert list(Count(2)) == [0, 1]
    with pytest.raises(ValueError, match="starts with the source"):
        p.collect([1])
    with pytest.raises(ValueError, match="no source node"):
        rm.Pipeline([Scale()]).collect()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="on_error"):
        rm.Pipeline(on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects a Node"):
        rm.Pipeline().add_node(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        rm.Pipeline([Scale()]).collect(5)
    with pytest.raises(ValueError, match="engine"):
        rm.Pipeline([Scale()]).run(1, engine="java")


def test_stats_count_calls() -> None:
    p = rm.Pipeline([Scale(), Pairer()])
    p.collect(range(6))
    assert p.stats["Scale"].calls == 6
    assert p.stats["Pairer"].outputs == 3
    assert p.stats["Scale"].mean_ms >= 0


def test_node_call_shortcut() -> None:
    node = Lifecycle()
    assert node(5) == 5
    assert node.events == ["init"]
