"""Test helpers that ship with the package: a sending track and a lossy link.

Used by the test suite and the latency benchmark, and handy for notebooks without a
browser: an aiortc peer that plays an ``rm.AudioFrame`` in real time, and a wrapper
around a sender's transport that drops or swaps RTP packets (seeded, so runs repeat).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.webrtc._deps import aiortc
from remotemedia.webrtc.resample import FrameCutter, av_frame_s16, to_int16

__all__ = ["ArrayAudioTrack", "LinkStats", "impair", "impair_incoming"]

RATE = 48000
SAMPLES = 960

_MediaStreamTrack: Any = aiortc().MediaStreamTrack


class ArrayAudioTrack(_MediaStreamTrack):  # type: ignore[misc]
    """An aiortc audio track that plays ``audio`` once, paced in real time, then ends.

    Args:
        audio: What to send (any rate; sent as 48 kHz, 20 ms frames).
        speed: Pace relative to real time (1.0: real time).
        lead_in: Seconds of silence sent before ``audio`` (lets ICE settle).

    Attributes:
        sent_at: ``time.time()`` at which each 20 ms frame of ``audio`` was handed to
            the sender, by frame index (index 0 starts at ``audio``'s first sample).
    """

    kind = "audio"

    def __init__(
        self, audio: AudioFrame, speed: float = 1.0, lead_in: float = 0.0
    ) -> None:
        super().__init__()
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        cutter = FrameCutter(RATE, 1, SAMPLES)
        self._blocks = cutter.push(
            av_frame_s16(to_int16(audio.samples), audio.sample_rate)
        )
        # Flush the resampler's tail with silence, then keep the frames that hold
        # the audio (the last one padded): the track is as long as ``audio``,
        # rounded up to a whole frame.
        self._blocks += cutter.push(
            av_frame_s16(np.zeros((1, SAMPLES), np.int16), RATE)
        )
        self._blocks = self._blocks[: -(-round(audio.duration * RATE) // SAMPLES)]
        self._lead = int(round(lead_in * RATE / SAMPLES))
        self._speed = float(speed)
        self._index = 0
        self._start: float | None = None
        self.sent_at: dict[int, float] = {}

    @property
    def frames(self) -> int:
        """Number of 20 ms frames of audio (lead-in excluded)."""
        return len(self._blocks)

    async def recv(self) -> Any:
        """The next frame, on time (aiortc's sender calls this)."""
        position = self._index - self._lead
        if position >= len(self._blocks) or self.readyState != "live":
            self.stop()
            raise aiortc().mediastreams.MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        wait = self._start + self._index * SAMPLES / RATE / self._speed - now
        if wait > 0:
            await asyncio.sleep(wait)
        if position < 0:
            pcm = np.zeros((1, SAMPLES), np.int16)
        else:
            pcm = to_int16(self._blocks[position])
            self.sent_at[position] = time.time()
        # Sent as stereo: aiortc's encoder upmixes mono 3 dB down.
        frame = av_frame_s16(np.repeat(pcm, 2, axis=0), RATE)
        frame.pts = self._index * SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        self._index += 1
        return frame


@dataclasses.dataclass
class LinkStats:
    """What :func:`impair` did, by RTP sequence number.

    Attributes:
        sent: Packets handed to the network.
        dropped: Sequence numbers dropped.
        swapped: Sequence numbers sent after their successor.
        last: Sequence number of the last packet sent (None before the first).
    """

    sent: int = 0
    last: int | None = None
    dropped: list[int] = dataclasses.field(default_factory=list)
    swapped: list[int] = dataclasses.field(default_factory=list)


class _Impairment:
    """Drops and swaps RTP packets on their way (RTCP passes untouched)."""

    def __init__(self, loss: float, reorder: float, seed: int, after: int = 0) -> None:
        for name, value in (("loss", loss), ("reorder", reorder)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        self.loss = loss
        self.reorder = reorder
        self.rng = random.Random(seed)
        self.stats = LinkStats()
        self.held: list[tuple[bytes, tuple[Any, ...]]] = []
        self.after = after
        self.seen = 0

    async def pass_on(
        self,
        data: bytes,
        rest: tuple[Any, ...],
        forward: Callable[..., Awaitable[None]],
    ) -> None:
        from aiortc.rtp import is_rtcp

        if len(data) < 4 or is_rtcp(data):
            await forward(data, *rest)
            return
        stats = self.stats
        seq = int.from_bytes(data[2:4], "big")
        self.seen += 1
        if self.seen <= self.after:
            stats.sent += 1
            stats.last = seq
            await forward(data, *rest)
            return
        if self.rng.random() < self.loss:
            stats.dropped.append(seq)
            return
        if not self.held and self.rng.random() < self.reorder:
            self.held.append((data, rest))
            return
        stats.sent += 1
        stats.last = seq
        await forward(data, *rest)
        if self.held:
            late, late_rest = self.held.pop()
            stats.swapped.append(int.from_bytes(late[2:4], "big"))
            stats.sent += 1
            await forward(late, *late_rest)


def impair(
    sender: Any,
    loss: float = 0.0,
    reorder: float = 0.0,
    seed: int = 0,
    after: int = 0,
) -> LinkStats:
    """Drops and swaps the RTP packets an aiortc ``RTCRtpSender`` sends.

    Call any time after ``pc.addTrack`` (the sender's transport exists then). A
    swapped packet is held back and sent right after the next packet.

    Args:
        sender: The aiortc sender (``pc.addTrack(...)`` returns it).
        loss: Probability that a packet is dropped.
        reorder: Probability that a packet is swapped with the next one.
        seed: Seed of the random choices.
        after: Packets left alone at the start (the receiver's first packet
            defines its timeline).

    Returns:
        The live record of what was done.

    Raises:
        ValueError: If a probability is outside [0, 1).
    """
    impairment = _Impairment(loss, reorder, seed, after)
    transport = sender.transport
    original: Callable[..., Awaitable[None]] = transport._send_rtp

    async def send(data: bytes) -> None:
        await impairment.pass_on(data, (), original)

    transport._send_rtp = send
    return impairment.stats


def impair_incoming(
    peer: Any, loss: float = 0.0, reorder: float = 0.0, seed: int = 0
) -> LinkStats:
    """Drops and swaps the RTP packets a :class:`~remotemedia.webrtc.Peer` receives.

    For senders this process does not control (a browser). Call after
    ``peer.accept()``; packets are impaired after decryption, before any receiver
    (ours or aiortc's) sees them.

    Raises:
        ValueError: If a probability is outside [0, 1) or the peer has no
            connection yet.
    """
    pc = getattr(peer, "_pc", None)
    if pc is None:
        raise ValueError("impair_incoming needs a Peer after accept()")
    impairment = _Impairment(loss, reorder, seed)
    transports = {
        id(t.receiver.transport): t.receiver.transport for t in pc.getTransceivers()
    }
    for transport in transports.values():
        original: Callable[..., Awaitable[None]] = transport._handle_rtp_data

        async def handle(
            data: bytes, arrival_time_ms: int, forward: Any = original
        ) -> None:
            await impairment.pass_on(data, (arrival_time_ms,), forward)

        transport._handle_rtp_data = handle
    return impairment.stats
