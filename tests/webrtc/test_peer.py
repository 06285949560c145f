"""A real aiortc client sends audio to a ``Peer`` over loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.webrtc import Peer, PeerError
from remotemedia.webrtc.testing import ArrayAudioTrack, impair


async def call(rtc: Any, peer: Peer, track: Any, channel: bool = False) -> Any:
    """Connects a client sending ``track`` to ``peer``; returns (client, sender)."""
    client = rtc.client_pc()
    sender = client.addTrack(track)
    if channel:
        client.createDataChannel("rm-results")
    reply = await peer.accept(await rtc.offer_of(client))
    await rtc.answer(client, reply)
    await peer.connected(5.0)
    return client, sender


async def call_with_return(
    rtc: Any, peer: Peer, track: Any
) -> tuple[Any, list[dict[str, Any]], asyncio.Future[Any]]:
    """Connects a client sending ``track`` with an ``rm-results`` channel; returns
    (client, the channel's messages, a future of the return track)."""
    client = rtc.client_pc()
    client.addTrack(track)
    channel = client.createDataChannel("rm-results")
    messages: list[dict[str, Any]] = []
    channel.on("message", lambda m: messages.append(json.loads(m)))
    returned: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("track", lambda t: returned.done() or returned.set_result(t))
    reply = await peer.accept(await rtc.offer_of(client))
    await rtc.answer(client, reply)
    return client, messages, returned


def joined(frames: list[rm.AudioFrame]) -> np.ndarray:
    return np.concatenate([f.samples[0] for f in frames])


async def test_tone_arrives_whole_in_order_at_the_asked_rate(rtc: Any) -> None:
    peer = Peer(sample_rate=16000)
    frames = peer.frames()
    track = ArrayAudioTrack(rtc.tone(440.0, 1.0))
    client, _ = await call(rtc, peer, track)
    try:
        got = await rtc.take(frames, track.frames, timeout=4.0)
    finally:
        await client.close()
        await peer.close()
    assert len(got) == track.frames
    assert all(isinstance(f, rm.AudioFrame) for f in got)
    assert {(f.sample_rate, f.samples.shape) for f in got} == {(16000, (1, 320))}
    assert [round(f.timestamp, 6) for f in got] == [
        round(i * 0.02, 6) for i in range(len(got))
    ]
    duration = sum(f.duration for f in got)
    assert abs(duration - 1.0) <= 0.02 + 1e-9  # the tone, within one frame
    audio = joined(got)
    assert rtc.peak_hz(audio[1600:], 16000) == pytest.approx(440.0, abs=3.0)
    assert rtc.rms_db(audio[1600:14400]) == pytest.approx(
        rtc.rms_db(np.full(1, 0.5 / 2**0.5)), abs=1.0
    )
    stats = peer.stats()
    assert stats["lost"] == stats["concealed"] == stats["late"] == 0
    assert stats["dropped"] == 0
    assert stats["frames"] == len(got)
    assert stats["delay_ms"] < 5.0
    assert peer.state == "closed"


async def test_speech_clip_keeps_its_duration_and_content(rtc: Any) -> None:
    source = rm.Pipeline([nodes.AudioFileSource(str(rm.data.speech()))])
    clip = rm.AudioFrame.concatenate(await source.acollect())
    peer = Peer(sample_rate=16000)
    frames = peer.frames()
    track = ArrayAudioTrack(clip)
    client, _ = await call(rtc, peer, track)
    try:
        got = await rtc.take(frames, track.frames, timeout=clip.duration + 3.0)
    finally:
        await client.close()
        await peer.close()
    received = sum(f.duration for f in got)
    assert abs(received - clip.duration) <= 0.02 + 1e-9
    # Same content: after the codec's delay (found by cross-correlation, < 30 ms)
    # the waveform and its 20 ms loudness contour match the source.
    resample = rm.Pipeline([nodes.Resample(target_rate=16000)])
    ref = rm.AudioFrame.concatenate(await resample.acollect([clip])).samples[0]
    out = joined(got)
    n = min(len(ref), len(out)) - 480
    lags = [float(np.dot(ref[:n], out[k : k + n])) for k in range(480)]
    lag = int(np.argmax(lags))
    assert lag < 480
    a, b = ref[:n], out[lag : lag + n]
    assert np.corrcoef(a, b)[0, 1] > 0.8
    m = n // 320
    env_in = np.sqrt(np.mean(a[: m * 320].reshape(m, 320) ** 2, axis=1))
    env_out = np.sqrt(np.mean(b[: m * 320].reshape(m, 320) ** 2, axis=1))
    assert np.corrcoef(env_in, env_out)[0, 1] > 0.95
    print(f"lag {lag / 16:.1f} ms, waveform r={np.corrcoef(a, b)[0, 1]:.3f}")
    assert peer.stats()["lost"] == 0


async def test_loss_and_reordering_are_concealed_and_counted(rtc: Any) -> None:
    peer = Peer(sample_rate=16000)
    frames = peer.frames()
    track = ArrayAudioTrack(rtc.tone(440.0, 2.0))
    client, sender = await call(rtc, peer, track)
    link = impair(sender, loss=0.02, reorder=0.02, seed=7)
    try:
        got = await rtc.take(frames, track.frames, timeout=4.0)
        stats = peer.stats()
    finally:
        await client.close()
        await peer.close()
    assert link.dropped and link.swapped, link
    # Drops after the last packet that got through cannot be seen by anyone.
    seen = [s for s in link.dropped if (link.last - s) % 65536 < 32768]
    assert stats["lost"] == len(seen)
    # A swapped packet either fills its gap in time or, before the target has
    # adapted, arrives late (its slot concealed): every one is counted once.
    assert stats["reordered"] + stats["late"] == len(link.swapped)
    assert stats["concealed"] == len(seen) + stats["late"]
    # No stall: every slot (concealed or not) came out, in order, on time.
    assert len(got) >= track.frames - (len(link.dropped) - len(seen)) - 1
    assert np.all(np.diff([f.timestamp for f in got]) == pytest.approx(0.02))
    assert stats["max_delay_ms"] < 60.0
    assert stats["dropped"] == 0


class _Tag(rm.Node):
    """Passes audio on and adds a text line every 25 frames."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def process(self, data: Any) -> Any:
        self.count += 1
        if self.count % 25 == 0:
            return rm.Outputs([data, f"frame {self.count}"])
        return data


async def test_return_track_carries_the_pipeline_audio_6_db_lower(rtc: Any) -> None:
    pipeline = rm.Pipeline([nodes.Gain(db=-6.0), _Tag()])
    peer = Peer(pipeline=pipeline, sample_rate=16000)
    outputs = peer.outputs()
    track = ArrayAudioTrack(rtc.tone(440.0, 2.0, amp=0.5))
    client, messages, returned = await call_with_return(rtc, peer, track)
    try:
        back = await asyncio.wait_for(returned, 5.0)
        audio = await rtc.read_track(back, 8.0)
        items = await rtc.take(outputs, 10, timeout=1.0)
    finally:
        await client.close()
        await peer.close()
    loud = np.flatnonzero(np.abs(audio) > 0.05)
    assert len(loud) > 48000, "the processed tone did not come back"
    steady = audio[loud[0] + 4800 : loud[-1] - 4800]
    expected = rtc.rms_db(np.full(1, 0.5 / 2**0.5)) - 6.0
    assert rtc.rms_db(steady) == pytest.approx(expected, abs=1.0)
    assert rtc.peak_hz(steady, 48000) == pytest.approx(440.0, abs=3.0)
    assert any(isinstance(i, rm.AudioFrame) for i in items)
    texts = [m for m in messages if m["type"] == "text"]
    assert texts and texts[0]["text"].startswith("frame ")
    assert peer.stats()["returned"] > 50


async def test_video_frames_arrive_when_asked(rtc: Any) -> None:
    from aiortc.mediastreams import VideoStreamTrack

    peer = Peer(video=True)
    frames = peer.frames()
    client = rtc.client_pc()
    client.addTrack(VideoStreamTrack())
    reply = await peer.accept(await rtc.offer_of(client))
    await rtc.answer(client, reply)
    try:
        got = await rtc.take(frames, 3, timeout=5.0)
    finally:
        await client.close()
        await peer.close()
    assert len(got) == 3
    assert all(isinstance(f, rm.VideoFrame) and f.image.ndim == 3 for f in got)
    assert got[0].timestamp == 0.0 and got[2].timestamp > got[1].timestamp


async def test_bad_offers_and_misuse_name_the_problem(rtc: Any) -> None:
    peer = Peer()
    with pytest.raises(ValueError, match="offer"):
        await peer.accept("v=0")
    with pytest.raises(ValueError, match="expected an offer"):
        await peer.accept({"sdp": "v=0\r\n", "type": "answer"})
    with pytest.raises(PeerError, match="no media section") as info:
        await peer.accept({"sdp": "not sdp", "type": "offer"})
    assert info.value.cause == "offer"
    no_ice = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
    with pytest.raises(PeerError, match="cannot answer the offer: ICE"):
        await peer.accept({"sdp": no_ice, "type": "offer"})
    assert peer.state == "failed"
    with pytest.raises(PeerError, match="already called"):
        await peer.accept({"sdp": "v=0\r\n", "type": "offer"})
    with pytest.raises(ValueError, match="no pipeline"):
        peer.outputs()
    with pytest.raises(ValueError, match="channels"):
        Peer(channels=3)
    with pytest.raises(ValueError, match="sample_rate"):
        Peer(sample_rate=16001)
    with pytest.raises(PeerError, match="ICE username"):  # the failure, named
        await rtc.take(peer.frames(), 1, timeout=1.0)
    await peer.close()
    unused = Peer()
    await unused.close()
    await unused.close()  # harmless
    assert await rtc.take(unused.frames(), 1, timeout=1.0) == []
    assert unused.state == "closed"


async def test_remote_hang_up_ends_the_frames(rtc: Any) -> None:
    peer = Peer()
    frames = peer.frames()
    client, _ = await call(rtc, peer, ArrayAudioTrack(rtc.tone(seconds=5.0)))
    first = await rtc.take(frames, 5, timeout=3.0)
    await client.close()
    rest = await rtc.take(frames, 1000, timeout=5.0)
    assert len(first) == 5
    assert len(rest) < 250, "frames() did not end when the remote peer left"
    assert peer.state in ("closed", "failed")
    await peer.close()


async def test_video_not_asked_for_is_not_decoded(rtc: Any) -> None:
    from aiortc.mediastreams import VideoStreamTrack

    peer = Peer(video=False)
    frames = peer.frames()
    client = rtc.client_pc()
    client.addTrack(VideoStreamTrack())
    track = ArrayAudioTrack(rtc.tone(seconds=0.6))
    client.addTrack(track)
    reply = await peer.accept(await rtc.offer_of(client))
    await rtc.answer(client, reply)
    try:
        got = await rtc.take(frames, track.frames, timeout=4.0)
        await asyncio.sleep(0.2)
        video = [t.receiver for t in peer._pc.getTransceivers() if t.kind == "video"][0]
    finally:
        await client.close()
        await peer.close()
    assert len(got) == track.frames
    assert all(isinstance(f, rm.AudioFrame) for f in got)
    # aiortc's decoder thread for the video was stopped: nothing decoded or queued.
    assert video._RTCRtpReceiver__decoder_thread is None
    assert video.track._queue.qsize() <= 1  # at most its end marker


class _Explode(rm.Node):
    """Fails on the tenth frame."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def process(self, data: Any) -> Any:
        self.count += 1
        if self.count == 10:
            raise RuntimeError("boom at frame 10")
        return data


async def test_pipeline_failure_reaches_outputs_and_the_channel(rtc: Any) -> None:
    peer = Peer(pipeline=rm.Pipeline([_Explode()]))
    outputs = peer.outputs()
    frames = peer.frames()
    client = rtc.client_pc()
    client.addTrack(ArrayAudioTrack(rtc.tone(seconds=1.0)))
    channel = client.createDataChannel("rm-results")
    messages: list[dict[str, Any]] = []
    channel.on("message", lambda m: messages.append(json.loads(m)))
    await rtc.answer(client, await peer.accept(await rtc.offer_of(client)))
    try:
        with pytest.raises(rm.PipelineError, match="boom at frame 10"):
            await rtc.take(outputs, 100, timeout=5.0)
        # The frames keep coming: a failed pipeline does not stop the peer.
        assert len(await rtc.take(frames, 30, timeout=3.0)) == 30
        await asyncio.sleep(0.2)
    finally:
        await client.close()
        await peer.close()
    errors = [m for m in messages if m["type"] == "error"]
    assert errors and "boom at frame 10" in errors[0]["message"]


async def test_frames_keep_flowing_while_the_consumer_loop_is_blocked(
    rtc: Any,
) -> None:
    """Like a notebook cell running: the consumer's loop blocks, reception goes on."""
    import threading
    import time

    peer = Peer()
    frames = peer.frames()
    track = ArrayAudioTrack(rtc.tone(seconds=1.5))
    offer: dict[str, str] = {}
    answered: asyncio.Future[dict[str, str]] = asyncio.Future()
    ready = threading.Event()
    done = threading.Event()

    async def client_side() -> None:  # the sender lives on its own loop and thread
        client = rtc.client_pc()
        client.addTrack(track)
        offer.update(await rtc.offer_of(client))
        ready.set()
        while not answered.done():
            await asyncio.sleep(0.01)
        await rtc.answer(client, answered.result())
        while not done.is_set():
            await asyncio.sleep(0.05)
        await client.close()

    thread = threading.Thread(target=asyncio.run, args=(client_side(),))
    thread.start()
    try:
        assert await asyncio.to_thread(ready.wait, 5.0)
        answered.set_result(await peer.accept(offer))
        first = await rtc.take(frames, 10, timeout=3.0)
        time.sleep(0.5)  # blocks this loop: 25 frames arrive meanwhile
        rest = await rtc.take(frames, track.frames - 10, timeout=3.0)
    finally:
        done.set()
        await asyncio.to_thread(thread.join, 5.0)
        await peer.close()
    got = first + rest
    assert len(got) == track.frames
    assert [round(f.timestamp, 6) for f in got] == [
        round(i * 0.02, 6) for i in range(len(got))
    ]
    stats = peer.stats()
    assert stats["dropped"] == 0 and stats["lost"] == 0
    assert stats["max_delay_ms"] < 5.0  # received on time, not when unblocked


class _Answer(rm.Node):
    """Speaks a 3 s answer at the first frame, then is barged in on 0.5 s later."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def process(self, data: Any) -> Any:
        self.count += 1
        if self.count == 1:
            t = np.arange(3 * 16000) / 16000
            tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
            return rm.AudioFrame(tone, 16000)  # faster than real time, like TTS
        if self.count == 26:
            return rm.Interrupt("speech")
        return None


async def test_an_interrupt_stops_the_answer_playing_on_the_return_track(
    rtc: Any,
) -> None:
    peer = Peer(pipeline=rm.Pipeline([_Answer()]), return_buffer_ms=10000)
    track = ArrayAudioTrack(rtc.tone(440.0, 3.0, amp=0.0))
    client, messages, returned = await call_with_return(rtc, peer, track)
    try:
        back = await asyncio.wait_for(returned, 5.0)
        audio = await rtc.read_track(back, 6.0)
    finally:
        await client.close()
        await peer.close()
    loud = np.flatnonzero(np.abs(audio) > 0.05)
    assert len(loud), "the answer never played"
    played = (loud[-1] - loud[0]) / 48000
    # 0.5 s of the 3 s answer, plus the trip of the Interrupt and the return
    # track's own queue: far from all of it.
    assert 0.2 < played < 1.5, played
    interrupts = [m for m in messages if m["type"] == "interrupt"]
    assert interrupts and interrupts[0]["reason"] == "speech"
    assert interrupts[0]["cleared"] > 50  # most of the answer was still queued
