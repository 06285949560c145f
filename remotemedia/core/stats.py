"""Per-node timings: :class:`NodeStats` of one node and :class:`PipelineStats`, the
table ``pipeline.stats`` returns.

Remote nodes report the numbers their worker measured (calls, time in the node,
queue wait there), so a hybrid pipeline's table compares like with like.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["NodeStats", "PipelineStats"]


class NodeStats:
    """Per-node timing collected while a pipeline runs.

    For a remote node the worker measures them and sends them at the end of each
    stream.

    Attributes:
        calls: Number of ``process`` calls.
        outputs: Number of values emitted.
        total_s: Seconds spent inside ``process``/``aprocess``/``flush``.
        queue_s: Seconds inputs waited before the node started on them (behind
            earlier inputs of the same batch, or the previous node's other
            outputs); measured where the node runs.
    """

    __slots__ = ("calls", "outputs", "total_s", "queue_s")

    def __init__(self) -> None:
        self.calls = 0
        self.outputs = 0
        self.total_s = 0.0
        self.queue_s = 0.0

    @property
    def mean_ms(self) -> float:
        """Mean milliseconds per call."""
        return 1000.0 * self.total_s / self.calls if self.calls else 0.0

    def add(self, record: Mapping[str, Any]) -> None:
        """Adds the counts of a record made by :meth:`to_dict` (a remote run's)."""
        self.calls += int(record.get("calls", 0))
        self.outputs += int(record.get("outputs", 0))
        self.total_s += float(record.get("total_s", 0.0))
        self.queue_s += float(record.get("queue_s", 0.0))

    def minus(self, earlier: NodeStats) -> dict[str, Any]:
        """The counts since ``earlier`` (a copy taken before), as a record."""
        return {
            "calls": self.calls - earlier.calls,
            "outputs": self.outputs - earlier.outputs,
            "total_s": self.total_s - earlier.total_s,
            "queue_s": self.queue_s - earlier.queue_s,
        }

    def copy(self) -> NodeStats:
        """An independent copy."""
        other = NodeStats()
        other.add(self.to_dict())
        return other

    def to_dict(self) -> dict[str, Any]:
        """The counts as a JSON-friendly dict."""
        return {
            "calls": self.calls,
            "outputs": self.outputs,
            "total_s": self.total_s,
            "queue_s": self.queue_s,
        }

    def __repr__(self) -> str:
        return (
            f"NodeStats(calls={self.calls}, outputs={self.outputs}, "
            f"total_s={self.total_s:.4f}, mean_ms={self.mean_ms:.3f}, "
            f"queue_s={self.queue_s:.4f})"
        )


_HEADER = ["node", "where", "calls", "outputs", "total ms", "mean ms", "queue ms"]


class PipelineStats(Mapping[str, NodeStats]):
    """``pipeline.stats``: node name -> :class:`NodeStats`, shown as a table.

    A read-only mapping in pipeline order; ``where`` says where each node ran.

    Example:
        >>> p.collect(frames)
        >>> p.stats["Gain"].calls
        50
        >>> p.stats             # a table (HTML in a notebook)
        node  where   calls  outputs  total ms  mean ms  queue ms
        Gain  local   50     50       1.2       0.02     0.0
        Mel   remote  50     50       80.3      1.61     0.4
    """

    def __init__(self, rows: list[tuple[str, str, NodeStats]]) -> None:
        self._rows = rows
        self._by_name = {name: stats for name, _, stats in rows}

    def __getitem__(self, name: str) -> NodeStats:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name) or "none"
            raise KeyError(f"no node named {name!r} (nodes: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def where(self, name: str) -> str:
        """``"local"`` or ``"remote"``: where the node ran."""
        for row_name, where, _ in self._rows:
            if row_name == name:
                return where
        raise KeyError(name)

    @property
    def total_s(self) -> float:
        """Seconds spent in all nodes together."""
        return sum(stats.total_s for _, _, stats in self._rows)

    def table(self) -> list[list[str]]:
        """The rows of the table (as strings), header first."""
        rows = [list(_HEADER)]
        for name, where, s in self._rows:
            rows.append(
                [
                    name,
                    where,
                    str(s.calls),
                    str(s.outputs),
                    f"{s.total_s * 1000:.1f}",
                    f"{s.mean_ms:.2f}",
                    f"{s.queue_s * 1000:.1f}",
                ]
            )
        return rows

    def __repr__(self) -> str:
        rows = self.table()
        widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in rows
        )

    def _repr_html_(self) -> str:
        header, *body = self.table()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in body
        )
        return (
            f"<table class='rm-stats'><thead><tr>{head}</tr></thead>"
            f"<tbody>{cells}</tbody></table>"
        )
