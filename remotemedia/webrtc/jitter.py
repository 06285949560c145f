"""A low-delay audio jitter buffer: RTP packets in, in-order packets or gaps out.

aiortc's receive path holds four packets before the first frame (~80 ms) and never
shrinks afterwards. This buffer holds nothing while packets arrive in order: each one
is released the moment it arrives. Only a gap in the sequence numbers makes it wait,
and only until the missing packet is a time-based target delay (default 20 ms) later
than it was due. When it was due is known from the last packet that arrived before it
(its arrival plus the RTP time between them), so a lone loss costs nothing: the packet
behind it arrives about one packet time after the lost one was due and releases the
gap at once with a 20 ms target. A packet that shows up in time fills the gap
(``reordered``); otherwise the gap is released as concealment slots (``concealed``)
and a packet arriving after that is discarded (``late``) and raises the target delay
towards ``max_ms``, from where it decays back to the base while no packet is late.
Since everything behind a gap is released as soon as the gap closes or expires, the
delay never builds up.

The buffer is pure logic (no clock, no asyncio): the caller passes arrival times and
calls :meth:`JitterBuffer.expire` at :attr:`JitterBuffer.deadline`, so it is tested
without sockets or timers.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

__all__ = ["JitterBuffer", "JitterStats", "Slot"]

_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
# A sequence jump larger than this is a new stream (sender restart), not a gap.
_RESYNC_SEQ = 3000
# Late packets keep being recognised for this many concealed slots.
_CONCEALED_MEMORY = 256


class Slot(NamedTuple):
    """One packet-sized piece of the stream, in sequence order.

    Attributes:
        payload: The packet's payload, or None for a missing packet (conceal it).
        timestamp: RTP timestamp relative to the first packet, unwrapped (clock ticks).
        duration: Expected duration in clock ticks (used when concealing).
        seq: Extended (unwrapped) sequence number.
    """

    payload: bytes | None
    timestamp: int
    duration: int
    seq: int


@dataclasses.dataclass
class JitterStats:
    """Counters of a :class:`JitterBuffer`.

    Attributes:
        packets: Packets received (including late and duplicate ones).
        released: Packets released in order.
        reordered: Packets that arrived out of order but in time to be used.
        concealed: Missing packets released as concealment slots.
        late: Packets that arrived after their slot was concealed (discarded).
        lost: Concealed packets that never arrived (``concealed - late``).
        duplicates: Packets received twice (discarded).
        resets: Sequence jumps treated as a new stream.
        delay_ms: Mean time packets waited in the buffer (exponential average).
        max_delay_ms: Longest time one packet waited.
        target_ms: Current wait limit for a missing packet.
    """

    packets: int = 0
    released: int = 0
    reordered: int = 0
    concealed: int = 0
    late: int = 0
    duplicates: int = 0
    resets: int = 0
    delay_ms: float = 0.0
    max_delay_ms: float = 0.0
    target_ms: float = 0.0

    @property
    def lost(self) -> int:
        """Concealed packets that never arrived."""
        return self.concealed - self.late

    def to_dict(self) -> dict[str, float | int]:
        """The counters as a flat dict (``lost`` included)."""
        data: dict[str, float | int] = dataclasses.asdict(self)
        data["lost"] = self.lost
        return data


class JitterBuffer:
    """Reorders RTP packets and turns gaps into concealment slots within a deadline.

    Args:
        clock_rate: RTP clock rate of the codec (48000 for Opus).
        target_ms: Base wait for a missing packet, in milliseconds.
        max_ms: Cap of the adaptive wait; also the longest span of packets held
            behind a gap before it is released regardless of time.
        frame_ms: Packet duration assumed until two packets show the real one.

    Raises:
        ValueError: If a duration is not positive or ``max_ms < target_ms``.
    """

    def __init__(
        self,
        clock_rate: int = 48000,
        target_ms: float = 20.0,
        max_ms: float = 120.0,
        frame_ms: float = 20.0,
    ) -> None:
        if clock_rate <= 0 or target_ms < 0 or frame_ms <= 0:
            raise ValueError(
                "JitterBuffer needs clock_rate > 0, target_ms >= 0 and frame_ms > 0, "
                f"got {clock_rate}, {target_ms}, {frame_ms}"
            )
        if max_ms < target_ms:
            raise ValueError(
                f"JitterBuffer max_ms ({max_ms}) must be >= target_ms ({target_ms})"
            )
        self.clock_rate = int(clock_rate)
        self.base_ms = float(target_ms)
        self.max_ms = float(max_ms)
        self.stats = JitterStats(target_ms=self.base_ms)
        self._frame_ticks = round(clock_rate * frame_ms / 1000)
        self._started = False
        self._last_seq = 0  # extended
        self._last_raw_ts = 0
        self._ts_ext = 0  # unwrapped timestamp of the last packet seen
        self._next_seq = 0
        self._next_ts = 0  # expected timestamp of the next slot
        self._held: dict[int, tuple[int, bytes, float]] = {}
        self._concealed_at: dict[int, float] = {}  # seq -> when it was due
        self._anchor: tuple[float, int] | None = None  # last real packet (arrival, ts)

    # -- input ----------------------------------------------------------------
    def push(self, seq: int, timestamp: int, payload: bytes, now: float) -> list[Slot]:
        """Adds one packet and returns the slots it releases (possibly none).

        Args:
            seq: The 16-bit RTP sequence number.
            timestamp: The 32-bit RTP timestamp.
            payload: The codec payload.
            now: Arrival time in seconds (any monotonic clock; the same for
                :meth:`expire`).
        """
        self.stats.packets += 1
        ext, ts = self._unwrap(seq & 0xFFFF, timestamp & 0xFFFFFFFF)
        if ext < self._next_seq:
            due = self._concealed_at.pop(ext, None)
            if due is None:
                self.stats.duplicates += 1
            else:
                self.stats.late += 1
                self._raise_target(now - due)
            return []
        if ext - self._next_seq > _RESYNC_SEQ:
            self.stats.resets += 1
            self._held.clear()
            self._next_seq = ext
            self._next_ts = ts
        if ext in self._held:
            self.stats.duplicates += 1
            return []
        if ext == self._next_seq and self._held:
            self.stats.reordered += 1
        self._held[ext] = (ts, payload, now)
        out = self._drain(now)
        out += self.expire(now)  # a gap already overdue is given up at once
        # A gap may not hold more than max_ms of audio behind it.
        while self._held and self._held_span() >= self.max_ms:
            out += self._skip_gap(now)
        return out

    def expire(self, now: float) -> list[Slot]:
        """Releases the gaps whose wait ran out by ``now`` (call at :attr:`deadline`)."""
        out: list[Slot] = []
        while self._held:
            deadline = self.deadline
            if deadline is None or now < deadline:
                break
            out += self._skip_gap(now)
        return out

    @property
    def deadline(self) -> float | None:
        """When the current gap must be given up (None: no gap)."""
        if not self._held:
            return None
        return self._due(self._next_ts, self._held[min(self._held)][2]) + (
            self.stats.target_ms / 1000.0
        )

    @property
    def held(self) -> int:
        """Packets held behind a gap."""
        return len(self._held)

    # -- internals ------------------------------------------------------------
    def _unwrap(self, seq: int, timestamp: int) -> tuple[int, int]:
        if not self._started:
            self._started = True
            self._last_seq = seq
            self._last_raw_ts = timestamp
            self._ts_ext = 0
            self._next_seq = seq
            self._next_ts = 0
            return seq, 0
        delta = (seq - self._last_seq) % _SEQ_MOD
        if delta >= _SEQ_MOD // 2:
            delta -= _SEQ_MOD
        ext = self._last_seq + delta
        tdelta = (timestamp - self._last_raw_ts) % _TS_MOD
        if tdelta >= _TS_MOD // 2:
            tdelta -= _TS_MOD
        ts = self._ts_ext + tdelta
        if delta > 0:
            self._last_seq = ext
            self._last_raw_ts = timestamp
            self._ts_ext = ts
        return ext, ts

    def _drain(self, now: float) -> list[Slot]:
        out: list[Slot] = []
        while self._next_seq in self._held:
            ts, payload, arrival = self._held.pop(self._next_seq)
            after = self._held.get(self._next_seq + 1)
            if after is not None and after[0] > ts:
                self._frame_ticks = after[0] - ts
            out.append(Slot(payload, ts, self._frame_ticks, self._next_seq))
            self._next_seq += 1
            self._next_ts = ts + self._frame_ticks
            self._anchor = (arrival, ts)
            self._released(now - arrival)
        return out

    def _skip_gap(self, now: float) -> list[Slot]:
        first = min(self._held)
        ts_first, _, arrival = self._held[first]
        missing = first - self._next_seq
        span = ts_first - self._next_ts
        ticks = span // missing if missing and span > 0 else self._frame_ticks
        out: list[Slot] = []
        for i in range(missing):
            seq = self._next_seq + i
            ts = self._next_ts + i * ticks
            out.append(Slot(None, ts, ticks, seq))
            self._concealed_at[seq] = self._due(ts, arrival)
        self.stats.concealed += missing
        while len(self._concealed_at) > _CONCEALED_MEMORY:
            del self._concealed_at[next(iter(self._concealed_at))]
        self._next_seq = first
        self._next_ts = ts_first
        return out + self._drain(now)

    def _due(self, ts: int, fallback: float) -> float:
        """When the packet with timestamp ``ts`` was due to arrive."""
        if self._anchor is None:
            return fallback
        arrival, anchor_ts = self._anchor
        return arrival + (ts - anchor_ts) / self.clock_rate

    def _held_span(self) -> float:
        first = self._held[min(self._held)][0]
        last = self._held[max(self._held)][0]
        return (last - first + self._frame_ticks) * 1000.0 / self.clock_rate

    def _released(self, waited_s: float) -> None:
        stats = self.stats
        stats.released += 1
        waited = max(0.0, waited_s * 1000.0)
        stats.delay_ms += (waited - stats.delay_ms) * 0.05
        stats.max_delay_ms = max(stats.max_delay_ms, waited)
        # Decay towards the base wait (about 3 s half-life at 50 packets/s).
        stats.target_ms = self.base_ms + (stats.target_ms - self.base_ms) * 0.995

    def _raise_target(self, lateness_s: float) -> None:
        wanted = lateness_s * 1000.0 * 1.2 + 2.0
        self.stats.target_ms = min(self.max_ms, max(self.stats.target_ms, wanted))
