"""Real aiortc peers on loopback: a client that sends a track to a ``Peer``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

import remotemedia as rm

pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")

from aiortc import (  # noqa: E402
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from remotemedia.webrtc.ice import use_loopback_candidates  # noqa: E402


class Rtc:
    """Client-side helpers (the fixture ``rtc``)."""

    RATE = 16000

    @staticmethod
    def tone(
        freq: float = 440.0, seconds: float = 1.0, amp: float = 0.5
    ) -> rm.AudioFrame:
        """A sine at 48 kHz."""
        t = np.arange(int(48000 * seconds)) / 48000
        return rm.AudioFrame(
            (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), 48000
        )

    @staticmethod
    def client_pc() -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=[]))

    @staticmethod
    async def offer_of(pc: RTCPeerConnection) -> dict[str, str]:
        await pc.setLocalDescription(await pc.createOffer())
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    @staticmethod
    async def answer(pc: RTCPeerConnection, reply: dict[str, str]) -> None:
        await pc.setRemoteDescription(
            RTCSessionDescription(reply["sdp"], reply["type"])
        )

    @staticmethod
    async def take(stream: AsyncIterator[Any], count: int, timeout: float) -> list[Any]:
        """Up to ``count`` items of ``stream``, stopping after ``timeout`` seconds."""
        items: list[Any] = []

        async def run() -> None:
            async for item in stream:
                items.append(item)
                if len(items) >= count:
                    return

        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(run(), timeout)
        return items

    @staticmethod
    async def read_track(track: Any, seconds: float) -> np.ndarray:
        """Samples (mono float, 48 kHz) a client receives on ``track``.

        Reads for at most ``seconds``, and stops 0.3 s after a loud stretch ended
        (the sent tone is over), so a slow connection set-up costs no content.
        """
        chunks: list[np.ndarray] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        heard = False
        quiet = 0
        while loop.time() < end and not (heard and quiet >= 15):
            try:
                frame = await asyncio.wait_for(
                    track.recv(), max(0.01, end - loop.time())
                )
            except asyncio.TimeoutError:
                break
            pcm = frame.to_ndarray().reshape(-1, len(frame.layout.channels)).T
            chunk = pcm[0].astype(np.float32) / 32768.0
            chunks.append(chunk)
            loud = bool(np.max(np.abs(chunk)) > 0.05)
            heard = heard or loud
            quiet = 0 if loud else quiet + 1
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    @staticmethod
    def rms_db(samples: np.ndarray) -> float:
        return float(20 * np.log10(np.sqrt(np.mean(np.square(samples))) + 1e-12))

    @staticmethod
    def peak_hz(samples: np.ndarray, rate: int) -> float:
        spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
        return float(np.argmax(spectrum) * rate / len(samples))


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> None:
    use_loopback_candidates()


@pytest.fixture
def rtc() -> type[Rtc]:
    """The client-side helpers."""
    return Rtc
