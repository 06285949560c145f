"""Matplotlib backend of session workers: ``plt.show()`` sends figures as PNG.

Selected with ``MPLBACKEND=module://remotemedia_server.mpl_backend`` in the worker,
like Jupyter's inline backend: figures still open at the end of a cell are sent too.
"""

from __future__ import annotations

from typing import Any

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, **kwargs: Any) -> None:
    """Sends every open figure to the client and closes it."""
    from remotemedia_server import worker

    worker.flush_figures()
