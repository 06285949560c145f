"""Streaming resampling into frames of a fixed length, without a frame of extra delay.

swresample (PyAV's ``AudioResampler``) keeps a steady delay of about a millisecond,
so its first output is a little short of a frame. Cutting that stream into fixed
frames naively would make every frame wait for the next input. Padding the very first
output at the front (with silence) to a whole frame keeps each later input completing
one frame by itself: the stream is shifted by the filter delay, once, and no more.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FrameCutter"]


class FrameCutter:
    """Resamples PyAV audio frames and cuts the result into fixed-length blocks.

    Args:
        rate: Output rate.
        channels: Output channels (1 or 2).
        frame_len: Samples per output block.

    Raises:
        ValueError: On a bad channel count or block length.
    """

    def __init__(self, rate: int, channels: int, frame_len: int) -> None:
        import av

        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels!r}")
        if frame_len < 1:
            raise ValueError(f"frame length must be >= 1 sample, got {frame_len!r}")
        self.rate = int(rate)
        self.channels = channels
        self.frame_len = int(frame_len)
        self.layout = "mono" if channels == 1 else "stereo"
        self._resampler = av.AudioResampler(
            format="fltp", layout=self.layout, rate=self.rate
        )
        self._pending = np.zeros((channels, 0), np.float32)
        self._primed = False

    def push(self, frame: Any) -> list[np.ndarray]:
        """Adds one ``av.AudioFrame``; returns the complete float32 ``(ch, n)`` blocks."""
        frame.pts = None  # the stream is continuous by construction
        chunks = [f.to_ndarray() for f in self._resampler.resample(frame)]
        if not chunks:
            return []
        new = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
        if not self._primed:
            self._primed = True
            pad = (-new.shape[1]) % self.frame_len
            new = np.concatenate([np.zeros((self.channels, pad), np.float32), new], 1)
        pending = (
            np.concatenate([self._pending, new], axis=1) if self._pending.size else new
        )
        n = self.frame_len
        full = pending.shape[1] // n
        blocks = [
            np.ascontiguousarray(pending[:, i * n : (i + 1) * n]) for i in range(full)
        ]
        self._pending = pending[:, full * n :]
        return blocks


def av_frame_s16(pcm: np.ndarray, rate: int) -> Any:
    """An ``av.AudioFrame`` (packed s16) from int16 samples shaped ``(ch, n)``."""
    import av

    layout = "mono" if pcm.shape[0] == 1 else "stereo"
    packed = np.ascontiguousarray(pcm.T.reshape(1, -1))
    frame = av.AudioFrame.from_ndarray(packed, format="s16", layout=layout)
    frame.sample_rate = rate
    return frame


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float32 samples in [-1, 1] to int16 (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
