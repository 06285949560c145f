"""Opus packets (and concealment slots) to 20 ms ``rm.AudioFrame``s at any rate.

Decoding uses PyAV's libopus (48 kHz, as libavcodec always outputs); resampling uses
swresample, whose steady-state delay is about one millisecond. Output is cut into
frames of exactly ``frame_ms``: the first resampler output is padded at the front so
that every later packet completes one frame by itself (otherwise each frame would
wait for the next packet, adding a whole frame of delay).

Concealment of a missing packet repeats the last decoded packet, halving its level
each time and falling to silence after three, which keeps the timeline continuous
(durations and timestamps stay right) without the click of a hard mute.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.webrtc.resample import FrameCutter, av_frame_s16

logger = logging.getLogger(__name__)

__all__ = ["OpusStream"]

OPUS_RATE = 48000
_FADE = 0.5
_MAX_REPEATS = 3


class OpusStream:
    """Decodes one Opus stream into fixed-size frames.

    Args:
        sample_rate: Output rate.
        channels: Output channels (1 or 2).
        frame_ms: Output frame length.

    Raises:
        ValueError: On an unsupported channel count or a bad rate/length.
    """

    def __init__(
        self, sample_rate: int = 16000, channels: int = 1, frame_ms: float = 20.0
    ) -> None:
        import av

        frame_len = sample_rate * frame_ms / 1000.0
        if sample_rate <= 0 or frame_len < 1 or frame_len != int(frame_len):
            raise ValueError(
                f"sample_rate {sample_rate!r} x frame_ms {frame_ms!r} must give a "
                "whole number of samples per frame"
            )
        self.sample_rate = int(sample_rate)
        self._cutter = FrameCutter(self.sample_rate, channels, int(frame_len))
        self.channels = channels
        self._decoder = av.CodecContext.create("libopus", "r")
        self._decoder.sample_rate = OPUS_RATE
        self._decoder.layout = self._cutter.layout
        self._emitted = 0
        self._last: np.ndarray | None = None  # last decoded packet, s16 (ch, n)
        self._repeats = 0
        self.decode_errors = 0

    def packet(self, payload: bytes) -> list[AudioFrame]:
        """Decodes one packet's payload; returns the frames it completes."""
        import av

        try:
            decoded = self._decoder.decode(av.Packet(payload))
        except av.error.FFmpegError as exc:
            self.decode_errors += 1
            logger.debug("opus decode failed: %s", exc)
            return self.conceal(960 if self._last is None else self._last.shape[1])
        out: list[AudioFrame] = []
        for frame in decoded:
            pcm = frame.to_ndarray()
            if frame.format.is_planar:
                self._last = pcm.reshape(self.channels, -1)
            else:
                self._last = pcm.reshape(-1, self.channels).T
            self._repeats = 0
            out += self._frames(frame)
        return out

    def conceal(self, ticks: int) -> list[AudioFrame]:
        """Fills ``ticks`` samples (at 48 kHz) of missing audio; returns frames."""
        ticks = max(0, min(int(ticks), OPUS_RATE))
        if ticks == 0:
            return []
        pcm = np.zeros((self.channels, ticks), np.int16)
        if self._last is not None and self._repeats < _MAX_REPEATS:
            self._repeats += 1
            gain = _FADE**self._repeats
            reps = -(-ticks // self._last.shape[1])
            source = np.tile(self._last, (1, reps))[:, :ticks]
            pcm = (source.astype(np.float32) * gain).astype(np.int16)
        return self._frames(av_frame_s16(pcm, OPUS_RATE))

    def silence(self, ticks: int) -> list[AudioFrame]:
        """Fills ``ticks`` samples (at 48 kHz) of silence (a pause in sending)."""
        ticks = max(0, min(int(ticks), OPUS_RATE))
        if ticks == 0:
            return []
        pcm = np.zeros((self.channels, ticks), np.int16)
        return self._frames(av_frame_s16(pcm, OPUS_RATE))

    def _frames(self, frame: Any) -> list[AudioFrame]:
        out: list[AudioFrame] = []
        for block in self._cutter.push(frame):
            timestamp = self._emitted / self.sample_rate
            out.append(AudioFrame._trusted(block, self.sample_rate, timestamp))
            self._emitted += block.shape[1]
        return out
