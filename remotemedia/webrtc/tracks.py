"""Media tracks: the return audio track and readers of aiortc's own tracks.

- :class:`ReturnAudioTrack` sends a pipeline's audio back to the remote side. aiortc
  asks it for a 20 ms frame whenever it is ready to send; the track answers on a
  steady 20 ms clock (RTP timestamps must follow wall time or the remote jitter
  buffer grows), with the oldest queued audio or silence when there is none, and
  keeps at most a few frames queued (older ones are dropped and counted).
- :func:`read_video` and :func:`read_audio` read aiortc's ``RemoteStreamTrack``
  promptly (its queue is unbounded) and convert the frames: video always, audio only
  when our jitter buffer is switched off (for comparison with aiortc's path).
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.webrtc._deps import aiortc
from remotemedia.webrtc.resample import FrameCutter, av_frame_s16, to_int16

logger = logging.getLogger(__name__)

__all__ = ["ReturnAudioTrack", "read_audio", "read_video"]

SEND_RATE = 48000
SEND_SAMPLES = 960  # 20 ms at 48 kHz
# If the sender loop falls this far behind the clock, restart the clock (no burst).
_RESYNC_S = 0.1

_MediaStreamTrack: Any = aiortc().MediaStreamTrack


class ReturnAudioTrack(_MediaStreamTrack):  # type: ignore[misc]
    """An outgoing audio track fed with ``rm.AudioFrame``s.

    Args:
        max_frames: Most 20 ms frames queued before the oldest is dropped.
        channels: Channels sent (1 or 2).
    """

    kind = "audio"

    def __init__(self, max_frames: int = 5, channels: int = 1) -> None:
        super().__init__()
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames!r}")
        self._queue: collections.deque[np.ndarray] = collections.deque()
        self._max = max_frames
        self._channels = channels
        self._cutters: dict[tuple[int, int], FrameCutter] = {}
        self._start: float | None = None
        self._pts = 0
        self.dropped = 0
        self.sent = 0

    def push(self, frame: AudioFrame) -> None:
        """Queues ``frame`` (any rate and length) to be sent."""
        key = (frame.sample_rate, frame.channels)
        cutter = self._cutters.get(key)
        if cutter is None:
            cutter = self._cutters[key] = FrameCutter(
                SEND_RATE, self._channels, SEND_SAMPLES
            )
        source = av_frame_s16(to_int16(frame.samples), frame.sample_rate)
        for block in cutter.push(source):
            if len(self._queue) >= self._max:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(to_int16(block))

    def clear(self) -> int:
        """Drops the audio queued but not yet sent (barge-in); returns how many
        20 ms frames went."""
        count = len(self._queue)
        self._queue.clear()
        self._cutters.clear()
        self.dropped += count
        return count

    async def recv(self) -> Any:
        """The next 20 ms frame, on a steady clock (aiortc's sender calls this)."""
        if self.readyState != "live":
            raise aiortc().mediastreams.MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._pts += SEND_SAMPLES
            wait = self._start + self._pts / SEND_RATE - now
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -_RESYNC_S:
                self._start = now - self._pts / SEND_RATE
        if self._queue:
            pcm = self._queue.popleft()
            self.sent += 1
        else:
            pcm = np.zeros((self._channels, SEND_SAMPLES), np.int16)
        # Always stereo: aiortc's encoder upmixes mono 3 dB down.
        if pcm.shape[0] == 1:
            pcm = np.repeat(pcm, 2, axis=0)
        frame = av_frame_s16(pcm, SEND_RATE)
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SEND_RATE)
        return frame


async def read_audio(
    track: Any,
    sample_rate: int,
    channels: int,
    emit: Callable[[AudioFrame], None],
    counters: dict[str, int],
) -> None:
    """Reads aiortc's own audio track into 20 ms frames until it ends.

    ``counters["lost"]`` counts the 20 ms frames missing from aiortc's timestamps
    (aiortc skips lost packets rather than concealing them).
    """
    errors = aiortc().mediastreams.MediaStreamError
    frame_len = sample_rate // 50
    cutter = FrameCutter(sample_rate, channels, frame_len)
    emitted = 0  # output samples, advanced over lost packets to keep RTP time
    next_pts: int | None = None
    while True:
        try:
            frame = await track.recv()
        except errors:
            return
        if next_pts is not None and frame.pts is not None and frame.pts > next_pts:
            gap = frame.pts - next_pts
            counters["lost"] = counters.get("lost", 0) + gap // SEND_SAMPLES
            emitted += gap * sample_rate // SEND_RATE
        if frame.pts is not None:
            next_pts = frame.pts + frame.samples
        for block in cutter.push(frame):
            emit(AudioFrame._trusted(block, sample_rate, emitted / sample_rate))
            emitted += frame_len


async def read_video(track: Any, emit: Callable[[VideoFrame], None]) -> None:
    """Reads aiortc's video track into ``rm.VideoFrame``s until it ends."""
    errors = aiortc().mediastreams.MediaStreamError
    first: float | None = None
    while True:
        try:
            frame = await track.recv()
        except errors:
            return
        when = float(frame.time) if frame.time is not None else 0.0
        if first is None:
            first = when
        emit(VideoFrame(frame.to_ndarray(format="rgb24"), when - first))
