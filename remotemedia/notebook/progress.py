"""Progress bars for long file processing and model loading (``tqdm.auto``).

``tqdm.auto`` draws a widget bar in Jupyter and a text bar in a terminal.

Example:
    >>> p = rm.Pipeline([nodes.AudioFileSource(path), rm.widgets.Progress.for_file(path),
    ...                  nodes.Gain(db=-3)])
    >>> with rm.widgets.loading("loading model"):
    ...     model = load_model()
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from remotemedia.core.node import Node

__all__ = ["Progress", "progress", "loading"]

logger = logging.getLogger(__name__)


def _tqdm() -> Any:
    from tqdm.auto import tqdm

    return tqdm


def progress(
    iterable: Iterable[Any], total: int | None = None, desc: str | None = None
) -> Iterator[Any]:
    """Iterates ``iterable`` with a progress bar.

    Args:
        iterable: Anything iterable (frames, files, ...).
        total: Number of items, when ``len()`` cannot tell.
        desc: Label in front of the bar.
    """
    return iter(_tqdm()(iterable, total=total, desc=desc))


@contextlib.contextmanager
def loading(desc: str = "loading") -> Iterator[Any]:
    """A bar for one long step (loading a model): shows the elapsed time, then done.

    Yields:
        The tqdm bar (call ``bar.set_postfix_str(...)`` to report details).
    """
    bar = _tqdm()(total=1, desc=desc, bar_format="{desc}: {bar} {elapsed}")
    try:
        yield bar
        bar.update(1)
    finally:
        bar.close()


class Progress(Node):
    """A pass-through node that advances a progress bar for each input.

    Args:
        total: Expected number of inputs (None: a counter without a bar).
        desc: Label in front of the bar.
        unit: Name of one input in the bar.
        name: Node name in a pipeline.
    """

    def __init__(
        self,
        total: int | None = None,
        desc: str = "frames",
        unit: str = "frame",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if total is not None and total < 0:
            raise ValueError(f"Progress: total must be >= 0 or None, got {total}")
        self.total = total
        self.desc = desc
        self.unit = unit
        self.count = 0
        self._bar: Any = None

    @classmethod
    def for_file(
        cls, path: Any, frame_ms: float = 20.0, desc: str | None = None
    ) -> Progress:
        """A bar sized for an audio file read in frames of ``frame_ms``.

        Args:
            path: The audio file.
            frame_ms: Frame length used by the reading node.
            desc: Label (default: the file name).
        """
        import math
        from pathlib import Path

        import soundfile

        info = soundfile.info(str(path))
        total = math.ceil(info.frames / (info.samplerate * frame_ms / 1000.0))
        return cls(total=total, desc=desc or Path(path).name)

    def initialize(self) -> None:
        self.count = 0
        self._bar = _tqdm()(total=self.total, desc=self.desc, unit=self.unit)

    def process(self, data: Any) -> Any:
        self.count += 1
        if self._bar is not None:
            self._bar.update(1)
        return data

    def cleanup(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_bar"] = None
        return state
