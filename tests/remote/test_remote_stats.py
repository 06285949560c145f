"""Remote nodes report their own calls and time, measured by the worker, and
``pipeline.stats`` is a table of local and remote nodes alike."""

from __future__ import annotations

import re
import time
from typing import Any

import remotemedia as rm
from remotemedia import nodes
from remotemedia.core.stats import NodeStats, PipelineStats
from remotemedia.remote import Session


class Sleep(rm.Node):
    """Takes ``seconds`` per input."""

    def __init__(self, seconds: float = 0.01, name: str | None = None) -> None:
        super().__init__(name=name)
        self.seconds = seconds

    def process(self, data: Any) -> Any:
        time.sleep(self.seconds)
        return data


class Twice(rm.Node):
    """Emits each input twice."""

    def process(self, data: Any) -> Any:
        return rm.Outputs([data, data])


def test_remote_nodes_report_worker_timings(session: Session) -> None:
    pipeline = rm.Pipeline(
        [
            Twice(name="local_twice"),
            rm.remote(Sleep(0.02, name="remote_sleep"), session),
            rm.remote(Twice(name="remote_twice"), session),  # same segment
        ]
    )
    out = pipeline.collect(list(range(4)))
    assert len(out) == 16
    stats = pipeline.stats
    assert isinstance(stats, PipelineStats) and list(stats) == [
        "local_twice",
        "remote_sleep",
        "remote_twice",
    ]
    sleep = stats["remote_sleep"]
    assert isinstance(sleep, NodeStats)
    assert (sleep.calls, sleep.outputs) == (8, 8)
    assert 8 * 0.02 * 0.9 <= sleep.total_s < 5.0  # measured where it slept
    assert sleep.queue_s > 0  # frames waited behind earlier ones on the worker
    assert (stats["remote_twice"].calls, stats["remote_twice"].outputs) == (8, 16)
    assert stats.where("remote_sleep") == "remote"
    assert stats.where("local_twice") == "local"
    text = repr(stats)
    assert text.splitlines()[0].split() == [
        "node",
        "where",
        "calls",
        "outputs",
        "total",
        "ms",
        "mean",
        "ms",
        "queue",
        "ms",
    ]
    assert re.search(r"remote_sleep\s+remote\s+8\s+8\s+\d", text)
    assert "<table" in stats._repr_html_() and "remote_sleep" in stats._repr_html_()
    # A second run counts afresh.
    pipeline.collect([1])
    assert pipeline.stats["remote_sleep"].calls == 2


def test_the_editor_shows_remote_numbers(session: Session) -> None:
    from remotemedia.remote import set_current_session

    set_current_session(session)  # the editor's remote box uses the current one
    editor = rm.widgets.PipelineEditor(namespace={})
    editor.add("Gain", db=-6.0, remote=True)
    editor.run()
    assert editor.last_error == ""
    assert "timed with" not in editor.stats_html.value
    calls = editor.last_pipeline.stats[editor.last_pipeline.nodes[0].name].calls
    assert calls >= 1
    assert f"<td>remote</td><td>{calls}</td>" in editor.stats_html.value


def test_a_pipeline_of_builtins_counts_local_nodes_too() -> None:
    pipeline = rm.Pipeline([nodes.Gain(db=-6.0)])
    tone = rm.AudioFrame.concatenate(rm.widgets.generate_signal("tone", 0.1, 16000))
    pipeline.collect([tone])
    assert pipeline.stats["Gain"].calls == 1
    assert "Gain  local  1" in repr(pipeline.stats)
