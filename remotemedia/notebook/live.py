"""Live displays that update in place while a stream runs.

:class:`LiveSpectrogram` and :class:`LiveWaveform` are pass-through nodes: put one in
a pipeline to watch the audio flowing at that point, or feed it frames yourself with
``.update(frame)``. Each keeps a rolling buffer of the last ``window_s`` seconds (so
memory stays bounded however long the stream) and redraws an image widget at most
``max_fps`` times a second (so a fast stream does not flood the browser).

Images are drawn straight from numpy arrays into a PNG (no matplotlib figure per
frame), which keeps a redraw to a few milliseconds.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Node

__all__ = ["LiveSpectrogram", "LiveWaveform"]

logger = logging.getLogger(__name__)


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _colormap(name: str = "magma") -> np.ndarray:
    """A 256x3 uint8 lookup table for ``name`` (matplotlib's colormaps)."""
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


class _LiveAudioView(Node):
    """Shared parts: rolling mono buffer, rate-limited redraws, the image widget."""

    def __init__(
        self,
        window_s: float = 5.0,
        max_fps: float = 10.0,
        width: int = 480,
        height: int = 160,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not window_s > 0:
            raise ValueError(
                f"{type(self).__name__}: window_s must be > 0, got {window_s}"
            )
        if not max_fps > 0:
            raise ValueError(
                f"{type(self).__name__}: max_fps must be > 0, got {max_fps}"
            )
        if width < 16 or height < 16:
            raise ValueError(
                f"{type(self).__name__}: width and height must be >= 16, "
                f"got {width}x{height}"
            )
        self.window_s = float(window_s)
        self.max_fps = float(max_fps)
        self.width = int(width)
        self.height = int(height)
        self.sample_rate = 0
        self.redraws = 0
        self.frames_seen = 0
        self._buffer = np.zeros(0, np.float32)
        self._capacity = 0
        self._last_draw = -math.inf
        self._clock = time.monotonic  # replaceable, so tests need no real waiting
        self._dirty = False
        self._lock = threading.Lock()
        self._widget: Any = None

    # -- widget -------------------------------------------------------------------
    @property
    def widget(self) -> Any:
        """The ``ipywidgets.Image`` that shows the view (made on first use)."""
        if self._widget is None:
            import ipywidgets

            self._widget = ipywidgets.Image(
                value=self._render(), format="png", width=self.width, height=self.height
            )
        return self._widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)  # not the PNG bytes of the widget
        return bundle

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_widget"] = None  # widgets and locks stay in the kernel
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def buffer(self) -> np.ndarray:
        """A copy of the rolling mono buffer (at most ``window_s`` seconds)."""
        with self._lock:
            return self._buffer.copy()

    # -- data -----------------------------------------------------------------------
    def update(self, frame: AudioFrame) -> None:
        """Appends a frame to the rolling buffer and redraws if it is time to.

        Raises:
            TypeError: If ``frame`` is not an AudioFrame.
        """
        if not isinstance(frame, AudioFrame):
            raise TypeError(
                f"{type(self).__name__}.update expects an AudioFrame, "
                f"got {type(frame).__name__}"
            )
        mono = frame.samples.mean(axis=0) if frame.channels > 1 else frame.samples[0]
        with self._lock:
            if frame.sample_rate != self.sample_rate:
                self.sample_rate = frame.sample_rate
                self._capacity = max(1, int(self.window_s * frame.sample_rate))
                self._buffer = np.zeros(0, np.float32)
            joined = np.concatenate([self._buffer, mono.astype(np.float32, copy=False)])
            self._buffer = joined[-self._capacity :]
            self.frames_seen += 1
            self._dirty = True
        if self._clock() - self._last_draw >= 1.0 / self.max_fps:
            self.redraw()

    def redraw(self) -> None:
        """Redraws the image now (if anything changed since the last redraw)."""
        if not self._dirty:
            return
        self._dirty = False
        self._last_draw = self._clock()
        png = self._render()
        self.redraws += 1
        if self._widget is not None:
            self._widget.value = png

    def to_png(self) -> bytes:
        """The current image as PNG bytes."""
        return self._render()

    def _render(self) -> bytes:
        with self._lock:
            samples = self._buffer.copy()
            rate = self.sample_rate
        return _png(self._draw(samples, rate))

    def _draw(self, samples: np.ndarray, rate: int) -> np.ndarray:
        raise NotImplementedError

    # -- node -----------------------------------------------------------------------
    def process(self, data: Any) -> Any:
        if isinstance(data, AudioFrame):
            self.update(data)
        return data

    def flush(self) -> Any:
        # The stream ended: show its final state even if the last redraw was recent.
        self.redraw()
        return None


class LiveSpectrogram(_LiveAudioView):
    """A spectrogram of the last seconds of audio that updates while a stream runs.

    Use it as a pass-through node (``pipeline.add_node(LiveSpectrogram())``) or call
    :meth:`update` with frames. Display it by leaving it as a cell's value or with
    ``display(view)``.

    Args:
        window_s: Seconds of audio kept and shown (the rolling buffer's length).
        max_fps: Most redraws per second.
        width: Image width in pixels.
        height: Image height in pixels.
        n_fft: FFT size of the spectrogram.
        top_db: Dynamic range shown, in dB below the loudest bin.
        name: Node name in a pipeline.
    """

    def __init__(
        self,
        window_s: float = 5.0,
        max_fps: float = 10.0,
        width: int = 480,
        height: int = 160,
        n_fft: int = 512,
        top_db: float = 80.0,
        name: str | None = None,
    ) -> None:
        super().__init__(window_s, max_fps, width, height, name=name)
        if n_fft < 16 or n_fft & (n_fft - 1):
            raise ValueError(
                f"LiveSpectrogram: n_fft must be a power of two >= 16, got {n_fft}"
            )
        self.n_fft = int(n_fft)
        self.top_db = float(top_db)
        self._lut = _colormap("magma")

    def _draw(self, samples: np.ndarray, rate: int) -> np.ndarray:
        image = np.zeros((self.height, self.width), np.uint8)
        capacity = max(1, int(self.window_s * rate)) if rate else 1
        hop = max(1, capacity // self.width)
        n = self.n_fft
        if samples.size >= n:
            # One column per hop, right-aligned so new audio enters at the right.
            count = min(self.width, (samples.size - n) // hop + 1)
            starts = samples.size - n - hop * np.arange(count)[::-1]
            idx = starts[:, None] + np.arange(n)[None, :]
            frames = samples[idx] * np.hanning(n).astype(np.float32)
            power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
            db = 10.0 * np.log10(np.maximum(power, 1e-12))
            db = np.clip(db - db.max() + self.top_db, 0, self.top_db) / self.top_db
            # Resample frequency bins onto the image rows (low frequencies at bottom).
            rows = np.linspace(0, db.shape[1] - 1, self.height).astype(int)[::-1]
            image[:, self.width - count :] = (db[:, rows].T * 255).astype(np.uint8)
        return self._lut[image]


class LiveWaveform(_LiveAudioView):
    """A waveform of the last seconds of audio that updates while a stream runs.

    Use it as a pass-through node or call :meth:`update` with frames.

    Args:
        window_s: Seconds of audio kept and shown (the rolling buffer's length).
        max_fps: Most redraws per second.
        width: Image width in pixels.
        height: Image height in pixels.
        name: Node name in a pipeline.
    """

    def __init__(
        self,
        window_s: float = 5.0,
        max_fps: float = 10.0,
        width: int = 480,
        height: int = 120,
        name: str | None = None,
    ) -> None:
        super().__init__(window_s, max_fps, width, height, name=name)

    def _draw(self, samples: np.ndarray, rate: int) -> np.ndarray:
        rgb = np.full((self.height, self.width, 3), 255, np.uint8)
        mid = self.height // 2
        rgb[mid, :] = (200, 200, 200)
        capacity = max(1, int(self.window_s * rate)) if rate else 1
        per_column = max(1, capacity // self.width)
        count = min(self.width, samples.size // per_column)
        if count:
            used = samples[samples.size - count * per_column :].reshape(
                count, per_column
            )
            top = np.clip(used.max(axis=1), -1, 1)
            bottom = np.clip(used.min(axis=1), -1, 1)
            scale = (self.height - 1) / 2
            y_top = (mid - top * scale).astype(int).clip(0, self.height - 1)
            y_bottom = (mid - bottom * scale).astype(int).clip(0, self.height - 1)
            rows = np.arange(self.height)[:, None]
            mask = (rows >= y_top[None, :]) & (rows <= y_bottom[None, :])
            region = rgb[:, self.width - count :]
            region[mask] = (31, 119, 180)
        return rgb
