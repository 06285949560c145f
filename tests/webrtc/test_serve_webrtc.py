"""``remotemedia serve --webrtc``: the real command, an aiortc client posting offers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.webrtc.testing import ArrayAudioTrack

aiohttp = pytest.importorskip("aiohttp", reason="the webrtc extra is not installed")

TOKEN = "webrtc-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Runs ``serve --webrtc`` with a Gain(-6) manifest; yields the page URL."""
    manifest = Path(tmp_path_factory.mktemp("webrtc")) / "gain.json"
    manifest.write_text(json.dumps(rm.Pipeline([nodes.Gain(db=-6.0)]).to_manifest()))
    command = [
        sys.executable, "-m", "remotemedia.cli", "serve", "--port", "0",
        "--token", TOKEN, "--workers", "0", "--webrtc", "--webrtc-port", "0",
        "--webrtc-pipeline", str(manifest), "--exit-with-parent", str(os.getpid()),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = None
    deadline = time.monotonic() + 30.0
    lines: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline and url is None:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"webrtc page on (http://\S+?/)\?token=", line)
        if match:
            url = match.group(1)
    try:
        assert url, "serve --webrtc did not report its page:\n" + "".join(lines)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_without_the_token_the_page_and_offer_are_401(server: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(server + "offer", json={"sdp": "", "type": "offer"}) as r:
            assert r.status == 401
            assert "token" in await r.text()
        headers = {"Authorization": "Bearer wrong"}
        async with http.post(server + "offer", json={}, headers=headers) as r:
            assert r.status == 401
        async with http.get(server) as r:
            assert r.status == 401
        async with http.get(server + f"?token={TOKEN}") as r:
            assert r.status == 200
            page = await r.text()
            assert 'id="rm-app"' in page
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(server + "offer", data=b"{", headers=headers) as r:
            assert r.status == 400
        # The page's <script> request carries no token: the bundle is public.
        async with http.get(server + "static/no-such-file.js") as r:
            assert r.status == 404


async def test_offer_streams_a_tone_through_the_manifest_and_back(
    server: str, rtc: Any
) -> None:
    client = rtc.client_pc()
    client.addTrack(ArrayAudioTrack(rtc.tone(440.0, 2.0, amp=0.5)))
    returned: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("track", lambda t: returned.done() or returned.set_result(t))
    offer = await rtc.offer_of(client)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(server + "offer", json=offer, headers=headers) as r:
                assert r.status == 200, await r.text()
                reply = await r.json()
        assert reply["type"] == "answer"
        await rtc.answer(client, reply)
        back = await asyncio.wait_for(returned, 5.0)
        audio = await rtc.read_track(back, 8.0)
    finally:
        await client.close()
    loud = np.flatnonzero(np.abs(audio) > 0.05)
    assert len(loud) > 48000, "the processed tone did not come back"
    steady = audio[loud[0] + 4800 : loud[-1] - 4800]
    expected = rtc.rms_db(np.full(1, 0.5 / 2**0.5)) - 6.0
    assert rtc.rms_db(steady) == pytest.approx(expected, abs=1.0)
    assert rtc.peak_hz(steady, 48000) == pytest.approx(440.0, abs=3.0)
