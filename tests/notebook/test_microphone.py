"""The Microphone widget's kernel side, driven by a real aiortc peer on loopback.

The browser's part (the offer over the comm channel) is played by an aiortc client:
its offer goes through the same comm handler the front end's message reaches, and the
messages the widget sends back are recorded (there is no front end in these tests).
The browser itself is covered by tests/browser/test_microphone.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.core._sync import run_sync
from remotemedia.notebook import microphone
from remotemedia.notebook.microphone import Microphone

aiortc = pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is missing")
if not microphone._BUNDLE.is_file():  # pragma: no cover - depends on the build
    pytest.skip(
        "the widget's front end is not built: make extension (needs npm)",
        allow_module_level=True,
    )

from remotemedia.webrtc.testing import ArrayAudioTrack  # noqa: E402

RATE = 16000


class RecordingMicrophone(Microphone):
    """A Microphone that keeps what it sends to the (absent) front end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent: list[dict[str, Any]] = []
        super().__init__(*args, **kwargs)

    def send(self, content: Any, buffers: Any = None) -> None:
        self.sent.append(content)


def tone(freq: float, seconds: float) -> rm.AudioFrame:
    t = np.arange(int(48000 * seconds)) / 48000
    return rm.AudioFrame((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 48000)


def dominant_hz(frame: rm.AudioFrame) -> float:
    x = frame.samples[0] * np.hanning(frame.num_samples)
    return float(np.argmax(np.abs(np.fft.rfft(x))) * frame.sample_rate / len(x))


class Browser:
    """The front end's role: an aiortc peer that offers a tone and a results channel."""

    def __init__(self, audio: rm.AudioFrame) -> None:
        self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        self.track = ArrayAudioTrack(audio, lead_in=0.2)
        self.pc.addTransceiver(self.track, direction="sendrecv")
        self.channel = self.pc.createDataChannel("rm-results")
        self.results: list[str] = []
        self.channel.on("message", self.results.append)

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def answer(self, message: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(
            aiortc.RTCSessionDescription(message["sdp"], message["sdp_type"])
        )


@pytest.fixture
def browser() -> Iterator[Browser]:
    # The client lives on the SDK's loop, like the kernel's Peer: these tests block
    # the main thread (as a notebook cell does) while media flows.
    client = run_sync(_make_browser(tone(440.0, 4.0)))
    yield client
    run_sync(client.pc.close())


async def _make_browser(audio: rm.AudioFrame) -> Browser:
    return Browser(audio)


def start(mic: RecordingMicrophone, client: Browser, request: int = 1) -> None:
    """What pressing Start does: the offer over the comm, the answer back."""
    offer = run_sync(client.offer())
    mic._on_custom_msg(
        mic,
        {"type": "offer", "id": request, "sdp": offer["sdp"], "sdp_type": "offer"},
        [],
    )
    reply = mic.sent[-1]
    assert reply["type"] == "answer", reply
    assert reply["id"] == request
    run_sync(client.answer(reply))


def test_start_over_the_comm_brings_the_audio_into_the_kernel(
    browser: Browser,
) -> None:
    mic = RecordingMicrophone(loopback=True, stats_interval=0.2)
    start(mic, browser)
    clip = mic.record(0.6)
    assert clip.sample_rate == RATE
    assert abs(clip.duration - 0.6) < 0.021  # whole 20 ms frames
    assert abs(dominant_hz(clip) - 440.0) < 20.0
    assert float(np.sqrt(np.mean(clip.samples**2))) > 0.1  # not silence
    # The widget's statistics line follows the peer's stats().
    deadline = time.monotonic() + 5.0
    while mic.kernel_stats.get("frames", 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mic.kernel_stats["frames"] > 0
    assert set(mic.kernel_stats) >= {"frames", "lost", "concealed", "dropped"}
    assert mic.stats()["state"] == "connected"
    # Stop from the browser closes the kernel's peer.
    peer = mic.peer
    assert peer is not None
    mic._on_custom_msg(mic, {"type": "stop"}, [])
    assert peer.state == "closed"
    mic.close()


def bursts(freq: float, seconds: float) -> rm.AudioFrame:
    """A tone switched on and off every 0.4 s: speech segments for the VAD."""
    audio = tone(freq, seconds)
    on = (np.arange(audio.num_samples) // int(0.4 * 48000)) % 2 == 0
    return audio.with_samples(audio.samples * on)


def describe_segment(segment: rm.AudioFrame) -> str:
    return f"speech {segment.duration:.1f} s"


def test_a_pipeline_streams_the_live_audio_and_results_reach_the_browser() -> None:
    client = run_sync(_make_browser(bursts(440.0, 4.0)))
    pipeline = rm.Pipeline(
        [nodes.EnergyVAD(threshold_db=-30.0), nodes.Lambda(describe_segment)]
    )
    mic = RecordingMicrophone(pipeline, loopback=True, stats_interval=0)
    try:
        start(mic, client)
        outputs = run_sync(_take(mic.outputs(), 2, 8.0))
        assert len(outputs) == 2, f"VAD outputs within 8 s: {outputs}"
        assert all(text.startswith("speech 0.") for text in outputs), outputs
        deadline = time.monotonic() + 5.0
        while len(client.results) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The same text, as JSON on the results channel the widget shows.
        assert '"type": "text"' in client.results[0], client.results
        assert "speech 0." in client.results[0]
    finally:
        mic.close()
        run_sync(client.pc.close())


async def _take(stream: Any, count: int, timeout: float) -> list[Any]:
    items: list[Any] = []

    async def run() -> None:
        async for item in stream:
            items.append(item)
            if len(items) >= count:
                return

    try:
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        pass
    return items


def test_a_new_start_replaces_the_previous_connection(browser: Browser) -> None:
    mic = RecordingMicrophone(loopback=True, stats_interval=0)
    start(mic, browser)
    first = mic.peer
    second_browser = run_sync(_make_browser(tone(1000.0, 3.0)))
    try:
        start(mic, second_browser, request=2)
        assert first is not None and first.state == "closed"
        assert abs(dominant_hz(mic.record(0.4)) - 1000.0) < 20.0
    finally:
        mic.close()
        run_sync(second_browser.pc.close())


def test_a_bad_offer_is_reported_to_the_widget() -> None:
    mic = RecordingMicrophone(stats_interval=0)
    mic._on_custom_msg(
        mic, {"type": "offer", "id": 7, "sdp": "v=0\r\n", "sdp_type": "offer"}, []
    )
    (reply,) = mic.sent
    assert reply["type"] == "error" and reply["id"] == 7
    assert "could not answer the offer" in reply["message"]
    mic._on_custom_msg(mic, {"type": "unknown"}, [])  # ignored
    mic._on_custom_msg(mic, ["not", "a", "dict"], [])  # ignored
    assert len(mic.sent) == 1


def test_before_start_frames_and_stats_say_to_press_start() -> None:
    mic = Microphone()
    for call in (mic.frames, mic.outputs, mic.stats):
        with pytest.raises(RuntimeError, match="press Start"):
            call()
    with pytest.raises(ValueError, match="seconds must be > 0"):
        mic.record(0)
    assert "state='idle'" in repr(mic)
    mic.stop()  # harmless before Start
    mic.close()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        Microphone(sample_rate=12345)
    with pytest.raises(ValueError, match="pipeline"):
        Microphone(pipeline="not a pipeline")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stats_interval"):
        Microphone(stats_interval=-1)


def test_traits_mirror_the_arguments_and_carry_the_bundle() -> None:
    mic = Microphone(sample_rate=48000, video=True, play_output=False)
    state = mic.get_state()
    assert state["sample_rate"] == 48000
    assert state["video"] is True and state["play_output"] is False
    assert state["state"] == "idle" and state["error"] == ""
    assert state["_esm"] == microphone.bundle_path().read_text(encoding="utf-8")
    assert "export" in state["_esm"] and "render" in state["_esm"]
    mic.close()


def test_a_missing_bundle_names_the_build_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(microphone, "_BUNDLE", tmp_path / "microphone.js")
    with pytest.raises(FileNotFoundError, match="make extension"):
        Microphone()
