"""Energy-based voice activity detection and silence trimming.

Both nodes measure the level of consecutive windows of the mono mix (the float32
mean of the channels): ``level = 10 * log10(mean(x ** 2) + 1e-12)`` dBFS, with the
mean square taken in double precision. A window is loud (speech) when
``level >= threshold_db``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Node, Outputs
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number, frame_samples, require_audio
from remotemedia.nodes.clip import ClipNode

__all__ = ["EnergyVAD", "TrimSilence"]

logger = logging.getLogger(__name__)


def window_levels(samples: np.ndarray, window: int) -> np.ndarray:
    """Levels in dBFS of the whole windows of ``window`` samples of the mono mix.

    Args:
        samples: float32 ``(channels, n)``; a trailing partial window is ignored.
        window: Window length in samples.
    """
    count = samples.shape[1] // window
    used = samples[:, : count * window]
    mono = used[0] if samples.shape[0] == 1 else used.mean(axis=0, dtype=np.float32)
    blocks = mono.reshape(count, window).astype(np.float64)
    return 10.0 * np.log10(np.einsum("ij,ij->i", blocks, blocks) / window + 1e-12)


def _level(samples: np.ndarray) -> float:
    """Level in dBFS of all of ``samples`` taken as one window."""
    mono = (
        samples[0] if samples.shape[0] == 1 else samples.mean(axis=0, dtype=np.float32)
    )
    x = mono.astype(np.float64)
    return float(10.0 * np.log10(np.dot(x, x) / x.size + 1e-12))


@register_node
class EnergyVAD(Node):
    """Finds speech by its energy and emits each speech segment as one frame.

    Algorithm, on windows of ``W = round(rate * window_ms / 1000)`` samples taken
    back to back from the start of the stream (a window may span input frames;
    see the module docs for the level formula):

    * A segment opens at the first speech window.
    * While open, each speech window extends the segment to its end; each
      non-speech window counts towards the hangover. After
      ``H = max(1, ceil(hangover_ms / window_ms))`` consecutive non-speech windows
      the segment closes (speech resets the count).
    * The segment's audio runs from ``P`` samples before the start of its first
      speech window to the end of its last speech window (trailing silence is
      excluded), where ``P = round(rate * pre_roll_ms / 1000)``, limited so that
      it starts neither before the stream nor before the end of the previous
      segment.
    * A segment whose speech span (first speech window start to last speech
      window end, without pre-roll) is shorter than ``min_speech_ms`` is dropped.
    * Each kept segment is emitted as one AudioFrame with all input channels,
      as soon as it closes; its timestamp is its start time in the stream (the
      timestamp of the stream's first frame plus its start sample over the rate).
    * ``flush()`` (end of stream) emits the open segment, if any, subject to the
      same minimum, and resets. A trailing partial window is not analysed. A change
      of sample rate or channel count flushes first.

    Args:
        threshold_db: Window level (dBFS) at or above which a window is speech.
        window_ms: Analysis window in milliseconds.
        min_speech_ms: Shortest speech span kept, in milliseconds.
        hangover_ms: Non-speech time that closes a segment, in milliseconds.
        pre_roll_ms: Audio kept before the first speech window, in milliseconds.

    Raises:
        ValueError: If a parameter is out of range; at the first frame, if the
            window is shorter than one sample.
    """

    input_kind = "audio"
    output_kind = "audio"
    emits = "items"

    def __init__(
        self,
        threshold_db: float = -40.0,
        window_ms: float = 20.0,
        min_speech_ms: float = 100.0,
        hangover_ms: float = 200.0,
        pre_roll_ms: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        check_number("EnergyVAD", "threshold_db", threshold_db)
        check_number("EnergyVAD", "window_ms", window_ms, positive=True)
        check_number("EnergyVAD", "min_speech_ms", min_speech_ms, minimum=0.0)
        check_number("EnergyVAD", "hangover_ms", hangover_ms, minimum=0.0)
        check_number("EnergyVAD", "pre_roll_ms", pre_roll_ms, minimum=0.0)
        self.threshold_db = float(threshold_db)
        self.window_ms = float(window_ms)
        self.min_speech_ms = float(min_speech_ms)
        self.hangover_ms = float(hangover_ms)
        self.pre_roll_ms = float(pre_roll_ms)
        # The epsilon keeps e.g. 200 / 20 from rounding up to 11 windows.
        self.hangover_windows = max(
            1, math.ceil(self.hangover_ms / self.window_ms - 1e-9)
        )
        self._reset()

    def _reset(self) -> None:
        self._rate = 0
        self._channels = 0
        self._t0 = 0.0
        # Held audio as a list of blocks, so a long open segment grows without
        # being copied at every frame; _buf_start is the stream index of its start.
        self._chunks: list[np.ndarray] = []
        self._buf_start = 0
        self._pending = np.zeros((1, 0), dtype=np.float32)  # not yet analysed
        self._analysed = 0  # samples covered by whole windows so far
        self._floor = 0  # end of the previous segment: pre-roll stops there
        self._seg_start: int | None = None
        self._speech_end = 0
        self._silent = 0

    def _start(self, frame: AudioFrame) -> None:
        self._rate, self._channels, self._t0 = (
            frame.sample_rate,
            frame.channels,
            frame.timestamp,
        )
        self._window = frame_samples(self._rate, self.window_ms)
        if self._window < 1:
            raise ValueError(
                f"EnergyVAD: window_ms={self.window_ms:g} is shorter than one sample "
                f"at {self._rate} Hz"
            )
        self._pre = frame_samples(self._rate, self.pre_roll_ms)
        self._min_span = self.min_speech_ms * self._rate / 1000.0
        self._pending = np.zeros((self._channels, 0), dtype=np.float32)

    def _held(self) -> np.ndarray:
        """The held audio as one array (joining the blocks once)."""
        if len(self._chunks) != 1:
            joined = (
                np.concatenate(self._chunks, axis=1)
                if self._chunks
                else np.zeros((self._channels, 0), dtype=np.float32)
            )
            self._chunks = [joined]
        return self._chunks[0]

    def _close(self) -> AudioFrame | None:
        """Ends the open segment; returns it unless it is too short."""
        start, end = self._seg_start, self._speech_end
        self._seg_start = None
        self._silent = 0
        if start is None or end - start < self._min_span:
            return None
        first = max(start - self._pre, self._floor, self._buf_start)
        self._floor = end
        samples = self._held()[:, first - self._buf_start : end - self._buf_start]
        return AudioFrame(samples.copy(), self._rate, self._t0 + first / self._rate)

    def _speech_windows(self, pending: np.ndarray, win: int) -> np.ndarray:
        """Speech (bool) per whole window of ``pending``; subclasses classify
        differently (SileroVAD)."""
        return window_levels(pending, win) >= self.threshold_db

    def _speech_started(self, begin: int, outputs: Outputs) -> None:
        """Hook: a segment opened at stream sample ``begin`` (SileroVAD emits an
        interruption here)."""

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        outputs = Outputs()
        if self._rate and (frame.sample_rate, frame.channels) != (
            self._rate,
            self._channels,
        ):
            tail = self.flush()
            if tail is not None:
                outputs.append(tail)
        if not self._rate:
            self._start(frame)
        self._chunks.append(frame.samples)
        win = self._window
        if self._pending.shape[1]:
            pending = np.concatenate([self._pending, frame.samples], axis=1)
        else:
            pending = frame.samples
        speech = self._speech_windows(pending, win)
        self._pending = pending[:, len(speech) * win :].copy()
        for index, loud in enumerate(speech.tolist()):
            begin = self._analysed + index * win
            if loud:
                if self._seg_start is None:
                    self._seg_start = begin
                    self._speech_started(begin, outputs)
                self._speech_end = begin + win
                self._silent = 0
            elif self._seg_start is not None:
                self._silent += 1
                if self._silent >= self.hangover_windows:
                    segment = self._close()
                    if segment is not None:
                        outputs.append(segment)
        self._analysed += len(speech) * win
        # Keep only what a segment can still use: the open segment (with its
        # pre-roll), or the pre-roll before the next window.
        keep_from = self._analysed - self._pre
        if self._seg_start is not None:
            keep_from = self._seg_start - self._pre
        keep_from = max(keep_from, self._buf_start)
        if keep_from > self._buf_start:
            self._chunks = [self._held()[:, keep_from - self._buf_start :].copy()]
            self._buf_start = keep_from
        return outputs

    def flush(self) -> Any:
        segment = self._close() if self._rate else None
        self._reset()
        return segment


@register_node
class TrimSilence(ClipNode):
    """Cuts the silent start and end off a whole clip.

    A clip-level node (see :mod:`remotemedia.nodes.clip`): in a stream the frames
    of one clip (each starting where the previous ended) are gathered and trimmed
    as one clip when it ends; separate clips (VAD segments, several files) are
    trimmed each on its own. Called on one frame (``node(clip)``) it trims that
    frame.

    The clip is split into windows of ``W = round(rate * window_ms / 1000)``
    samples from its start; the last window may be shorter and is measured over
    its own samples (see the module docs for the level formula). The output runs
    from the start of the first window at or above ``threshold_db`` to the end of
    the last such window (clipped to the clip), with its timestamp moved by the
    samples dropped in front. A clip with no loud window yields no output.

    Args:
        threshold_db: Window level (dBFS) at or above which a window is kept.
        window_ms: Analysis window in milliseconds.

    Raises:
        ValueError: If a parameter is out of range or the window is shorter than
            one sample at the input's rate.
    """

    def __init__(
        self,
        threshold_db: float = -40.0,
        window_ms: float = 20.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        check_number("TrimSilence", "threshold_db", threshold_db)
        check_number("TrimSilence", "window_ms", window_ms, positive=True)
        self.threshold_db = float(threshold_db)
        self.window_ms = float(window_ms)

    def process_clip(self, clip: AudioFrame) -> Any:
        frame = clip
        win = frame_samples(frame.sample_rate, self.window_ms)
        if win < 1:
            raise ValueError(
                f"TrimSilence: window_ms={self.window_ms:g} is shorter than one "
                f"sample at {frame.sample_rate} Hz"
            )
        n = frame.num_samples
        loud = (window_levels(frame.samples, win) >= self.threshold_db).tolist()
        if n % win:
            loud.append(_level(frame.samples[:, n - n % win :]) >= self.threshold_db)
        if not any(loud):
            return None
        first = loud.index(True)
        last = len(loud) - 1 - loud[::-1].index(True)
        start, end = first * win, min(n, (last + 1) * win)
        if start == 0 and end == n:
            return frame
        return AudioFrame(
            np.ascontiguousarray(frame.samples[:, start:end]),
            frame.sample_rate,
            frame.timestamp + start / frame.sample_rate,
        )
