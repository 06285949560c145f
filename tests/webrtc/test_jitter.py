"""The jitter buffer's rules, driven with explicit arrival times (no sockets)."""

from __future__ import annotations

import pytest

from remotemedia.webrtc.jitter import JitterBuffer

TICKS = 960  # 20 ms at 48 kHz


def push(buf: JitterBuffer, seq: int, now: float) -> list[int]:
    """Pushes packet ``seq`` (timestamp seq * 20 ms); returns released seqs (-1: gap)."""
    slots = buf.push(seq & 0xFFFF, seq * TICKS, b"p%d" % seq, now)
    return [s.seq if s.payload is not None else -1 for s in slots]


def test_in_order_packets_are_released_on_arrival() -> None:
    buf = JitterBuffer()
    for i in range(10):
        assert push(buf, i, i * 0.02) == [i]
        assert buf.deadline is None
    assert buf.stats.released == 10
    assert buf.stats.max_delay_ms == 0.0
    assert buf.stats.lost == buf.stats.concealed == 0


def test_reordered_packet_within_target_fills_the_gap() -> None:
    buf = JitterBuffer(target_ms=20)
    assert push(buf, 0, 0.0) == [0]
    assert push(buf, 2, 0.030) == []
    # Packet 1 was due at 20 ms (packet 0's arrival + 20 ms of RTP time).
    assert buf.deadline == pytest.approx(0.040)
    assert push(buf, 1, 0.035) == [1, 2]
    assert buf.stats.reordered == 1
    assert buf.stats.concealed == 0
    assert buf.stats.max_delay_ms == pytest.approx(5.0)


def test_a_lone_loss_adds_no_wait() -> None:
    buf = JitterBuffer(target_ms=20)
    push(buf, 0, 0.0)
    # Packet 2 arrives on time, 20 ms after the lost packet 1 was due: the gap is
    # overdue already and is released with it.
    assert push(buf, 2, 0.040) == [-1, 2]
    assert buf.stats.concealed == 1 and buf.stats.max_delay_ms == 0.0


def test_gap_is_concealed_at_the_deadline_and_late_packet_raises_target() -> None:
    buf = JitterBuffer(target_ms=20, max_ms=100)
    push(buf, 0, 0.0)
    push(buf, 2, 0.035)
    push(buf, 3, 0.039)
    assert buf.expire(0.0399) == []
    slots = buf.expire(0.0401)
    assert [s.payload is None for s in slots] == [True, False, False]
    assert slots[0].timestamp == TICKS and slots[0].duration == TICKS
    assert buf.stats.concealed == 1 and buf.stats.lost == 1
    assert push(buf, 1, 0.090) == []  # too late: 70 ms after it was due
    assert buf.stats.late == 1 and buf.stats.lost == 0
    assert 70.0 < buf.stats.target_ms <= 100.0
    # The target decays back while packets flow in order.
    for i in range(4, 1000):
        push(buf, i, i * 0.02)
    assert buf.stats.target_ms < 21.0


def test_no_build_up_after_a_burst_of_loss() -> None:
    buf = JitterBuffer(target_ms=20)
    released: list[int] = []
    for i in range(200):
        now = i * 0.02
        released += buf.expire(now) and [0] or []
        if 50 <= i < 60:
            continue  # ten packets lost in a row
        released += push(buf, i, now)
    # Every packet after the burst is released at once again.
    assert push(buf, 200, 4.0) == [200]
    assert buf.held == 0
    assert buf.stats.concealed == 10


def test_span_cap_releases_a_gap_without_waiting() -> None:
    buf = JitterBuffer(target_ms=50, max_ms=60)
    push(buf, 0, 0.0)
    assert push(buf, 2, 0.0) == []
    assert push(buf, 3, 0.0) == []
    assert push(buf, 4, 0.0) == [-1, 2, 3, 4]  # 60 ms held behind the gap


def test_sequence_and_timestamp_wrap() -> None:
    buf = JitterBuffer()
    out = []
    for i in range(65530, 65545):
        slots = buf.push(i & 0xFFFF, (i * TICKS) & 0xFFFFFFFF, b"x", 0.0)
        out += slots
    assert [s.seq for s in out] == list(range(65530, 65545))
    assert [s.timestamp for s in out] == [k * TICKS for k in range(15)]


def test_duplicates_and_resets_are_counted() -> None:
    buf = JitterBuffer()
    push(buf, 0, 0.0)
    assert push(buf, 0, 0.001) == []
    assert buf.stats.duplicates == 1
    assert push(buf, 10000, 0.02) == [10000]  # a new stream, not a 10000 packet gap
    assert buf.stats.resets == 1 and buf.stats.concealed == 0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_ms"):
        JitterBuffer(target_ms=50, max_ms=20)
    with pytest.raises(ValueError, match="clock_rate"):
        JitterBuffer(clock_rate=0)
