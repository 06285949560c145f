"""The small parts of the receive path: queue, frame cutter, decoder, messages."""

from __future__ import annotations

import fractions
import json

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.webrtc.decode import OpusStream
from remotemedia.webrtc.queues import DropOldestQueue
from remotemedia.webrtc.resample import FrameCutter, av_frame_s16, to_int16
from remotemedia.webrtc.results import to_message


def test_drop_oldest_queue_counts_what_it_drops() -> None:
    queue: DropOldestQueue[int] = DropOldestQueue(3)
    for i in range(5):
        queue.offer(i)
    queue.offer(-1, count=False)
    assert queue.dropped == 2
    assert [queue.get_nowait() for _ in range(3)] == [3, 4, -1]
    with pytest.raises(ValueError, match="queue size"):
        DropOldestQueue(0)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_frame_cutter_completes_one_frame_per_input_frame(rate: int) -> None:
    cutter = FrameCutter(rate, 1, rate // 50)
    impulse = np.zeros((1, 960), np.int16)
    impulse[0, 480] = 20000
    counts = []
    blocks = []
    for i in range(5):
        got = cutter.push(av_frame_s16(impulse if i == 0 else impulse * 0, 48000))
        counts.append(len(got))
        blocks += got
    assert counts == [1, 1, 1, 1, 1]  # no frame waits for the next input
    out = np.concatenate(blocks, axis=1)[0]
    # The impulse comes out where it went in, shifted by at most swresample's
    # filter delay (16 output samples: 1 ms at 16 kHz).
    assert 0 <= int(np.argmax(np.abs(out))) - rate // 100 <= 17


def _opus_packets(seconds: float) -> list[bytes]:
    import av

    encoder = av.CodecContext.create("libopus", "w")
    encoder.bit_rate = 64000
    encoder.format = "s16"
    encoder.layout = "stereo"
    encoder.sample_rate = 48000
    encoder.time_base = fractions.Fraction(1, 48000)
    t = np.arange(int(48000 * seconds)) / 48000
    pcm = to_int16((0.5 * np.sin(2 * np.pi * 440 * t))[None, :])
    packets = []
    for i in range(len(t) // 960):
        frame = av_frame_s16(np.repeat(pcm[:, i * 960 : (i + 1) * 960], 2, 0), 48000)
        frame.pts = i * 960
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets


def test_opus_stream_conceals_with_a_fade_and_keeps_the_timeline() -> None:
    stream = OpusStream(16000, 1)
    frames: list[rm.AudioFrame] = []
    for i, packet in enumerate(_opus_packets(0.4)):
        frames += stream.conceal(960) if 10 <= i < 15 else stream.packet(packet)
    assert len(frames) == 20
    assert [round(f.timestamp, 6) for f in frames] == [
        round(0.02 * i, 6) for i in range(20)
    ]
    level = [float(np.sqrt(np.mean(f.samples**2))) for f in frames]
    assert level[9] > 0.3
    assert level[9] > level[10] > level[11] > level[12] > 0.0  # fading repeats
    # Then silence (frame 13 still holds the resampler's 1 ms tail of frame 12).
    assert level[13] < 0.02 and level[14] < 1e-4
    assert level[19] > 0.3  # decoding goes on after the gap


def test_outputs_become_json_messages() -> None:
    error = rm.NodeError("vad", "ValueError", "bad frame")
    frame = rm.VideoFrame(np.zeros((4, 6, 3), np.uint8), timestamp=1.5)
    messages = [
        to_message("hello"),
        to_message({"start": 0.1, "end": 0.4}),
        to_message(error),
        to_message(frame),
        to_message(rm.AudioFrame(np.zeros(320, np.float32), 16000, 2.0)),
        to_message(object()),
    ]
    json.dumps(messages)
    assert messages[0] == {"type": "text", "text": "hello"}
    assert messages[1] == {"type": "value", "value": {"start": 0.1, "end": 0.4}}
    assert messages[2]["type"] == "error" and messages[2]["node"] == "vad"
    assert messages[3] == {"type": "video", "width": 6, "height": 4, "t": 1.5}
    assert messages[4]["type"] == "audio" and messages[4]["t"] == 2.0
    assert messages[5]["type"] == "object"
