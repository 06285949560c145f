"""Takes an aiortc audio receiver's RTP packets into our jitter buffer and decoder.

aiortc hands every RTP packet of a transceiver to ``RTCRtpReceiver._handle_rtp_packet``
and from there to its own jitter buffer, decoder thread and unbounded track queue.
:class:`AudioReceiver` wraps that method on the one receiver instance: each packet goes
to our :class:`~remotemedia.webrtc.jitter.JitterBuffer` first, then on to aiortc's
handler for its RTCP bookkeeping (receiver reports keep flowing to the sender), and
aiortc's decoder thread is stopped at the first packet so nothing is decoded twice or
queued without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from remotemedia.core.frames import AudioFrame
from remotemedia.webrtc.decode import OpusStream
from remotemedia.webrtc.jitter import JitterBuffer, Slot

logger = logging.getLogger(__name__)

__all__ = ["AudioReceiver", "discard_media", "stop_aiortc_decoder"]

# Longest pause in sending (RTP timestamps jumping without lost packets) filled
# with silence; longer pauses just move the timeline on.
_MAX_PAUSE_TICKS = 48000


class AudioReceiver:
    """Feeds one aiortc ``RTCRtpReceiver``'s Opus packets through our buffer.

    Args:
        receiver: The aiortc receiver of an audio transceiver.
        stream: The decoder producing the output frames.
        buffer: The jitter buffer.
        emit: Called (on the event loop) with each output frame, in order.
    """

    def __init__(
        self,
        receiver: Any,
        stream: OpusStream,
        buffer: JitterBuffer,
        emit: Callable[[AudioFrame], None],
    ) -> None:
        self._receiver = receiver
        self._stream = stream
        self._buffer = buffer
        self._emit = emit
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._opus_types: set[int] | None = None
        self._expected_ts = 0
        self._aiortc_stopped = False
        self._closed = False
        self.frames = 0
        self.concealed_frames = 0
        original: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet

        async def handle(packet: Any, arrival_time_ms: int) -> None:
            self.on_packet(packet)
            await original(packet, arrival_time_ms=arrival_time_ms)

        receiver._handle_rtp_packet = handle

    @property
    def buffer(self) -> JitterBuffer:
        """The jitter buffer (its ``stats`` are live)."""
        return self._buffer

    def on_packet(self, packet: Any) -> None:
        """Handles one RTP packet (called by the wrapped aiortc handler)."""
        if self._closed:
            return
        if not self._aiortc_stopped:
            self._stop_aiortc_decoder()
        if not self._is_opus(packet.payload_type) or not packet.payload:
            return
        slots = self._buffer.push(
            packet.sequence_number, packet.timestamp, packet.payload, self._loop.time()
        )
        self._play(slots)
        self._schedule()

    def close(self) -> None:
        """Stops handling packets and timers."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- internals ------------------------------------------------------------
    def _play(self, slots: list[Slot]) -> None:
        for slot in slots:
            if slot.payload is None:
                frames = self._stream.conceal(slot.duration)
                self.concealed_frames += len(frames)
            else:
                pause = slot.timestamp - self._expected_ts
                frames = []
                if 0 < pause <= _MAX_PAUSE_TICKS:
                    frames = self._stream.silence(pause)
                frames += self._stream.packet(slot.payload)
            self._expected_ts = slot.timestamp + slot.duration
            for frame in frames:
                self.frames += 1
                self._emit(frame)

    def _schedule(self) -> None:
        deadline = self._buffer.deadline
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._closed:
            return
        self._play(self._buffer.expire(self._loop.time()))
        self._schedule()

    def _is_opus(self, payload_type: int) -> bool:
        if self._opus_types is None:
            codecs = getattr(self._receiver, "_RTCRtpReceiver__codecs", None)
            if not codecs:
                return True  # aiortc internals moved: trust the negotiated codec
            self._opus_types = {
                pt
                for pt, codec in codecs.items()
                if str(codec.mimeType).lower() == "audio/opus"
            }
        return payload_type in self._opus_types

    def _stop_aiortc_decoder(self) -> None:
        # Our buffer replaces aiortc's decode path; its thread would only decode
        # every packet again into a queue nobody reads.
        self._aiortc_stopped = True
        stop_aiortc_decoder(self._receiver)


def discard_media(receiver: Any) -> None:
    """Makes an aiortc receiver decode nothing (for media nobody asked for).

    Its decoder thread starts only when the connection is up, so it is stopped at
    the first packet; RTCP bookkeeping goes on.
    """
    original: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet
    stopped: list[bool] = []

    async def handle(packet: Any, arrival_time_ms: int) -> None:
        if not stopped:
            stopped.append(True)
            stop_aiortc_decoder(receiver)
        await original(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = handle


def stop_aiortc_decoder(receiver: Any) -> None:
    """Stops the decoder thread of an aiortc ``RTCRtpReceiver`` (its track ends).

    Packets still reach the receiver's RTCP bookkeeping; nothing is decoded.
    """
    stop = getattr(receiver, "_RTCRtpReceiver__stop_decoder", None)
    if stop is not None:
        stop()
    else:  # pragma: no cover - aiortc internals moved
        logger.warning("could not stop aiortc's decoder; it runs unused")
