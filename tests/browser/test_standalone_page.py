"""The standalone page of ``remotemedia serve --webrtc`` in headless Chromium.

The real command serves a Gain(-6 dB) manifest; Chromium's fake microphone plays a
440 Hz tone. Pressing Start streams it to the server and the page plays the
processed audio back: an analyser on the returned stream finds the tone 6 dB down.
Failures show a message in the page: no token, permission denied, no microphone,
server gone. Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import remotemedia as rm
from remotemedia import nodes
from tests.browser.conftest import (
    ANALYSE_RETURN_JS,
    ARTIFACTS,
    CHROMIUM,
    ROOT,
    TONE_HZ,
    media_args,
    meter_db,
)

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs the 'playwright' package"
)
pytest.importorskip("aiortc", reason="the webrtc extra (aiortc, aiohttp) is missing")
if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        "the browser test needs Chromium at /usr/bin/chromium (make system-deps)",
        allow_module_level=True,
    )
if not (ROOT / "remotemedia" / "static" / "standalone.js").is_file():
    pytest.skip(  # pragma: no cover - depends on the build
        "the page's front end is not built: make extension (needs npm)",
        allow_module_level=True,
    )

TOKEN = "standalone-page-token"
STEP_MS = 20_000


def _serve(manifest: Path) -> tuple[subprocess.Popen[str], str]:
    """Starts the real ``serve --webrtc``; returns it and the page URL (no token)."""
    command = [
        sys.executable, "-m", "remotemedia.cli", "serve", "--port", "0",
        "--token", TOKEN, "--workers", "0", "--webrtc", "--webrtc-port", "0",
        "--webrtc-pipeline", str(manifest), "--exit-with-parent", str(os.getpid()),
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own interpreter
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"webrtc page on (http://\S+?/)\?token=", line)
        if match:
            return process, match.group(1)
    process.kill()
    pytest.fail("serve --webrtc did not report its page:\n" + "".join(lines))


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("standalone") / "gain.json"
    path.write_text(json.dumps(rm.Pipeline([nodes.Gain(db=-6.0)]).to_manifest()))
    return path


@pytest.fixture(scope="module")
def server(manifest: Path) -> Iterator[str]:
    process, url = _serve(manifest)
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture
def browser_for(tone_wav: Path) -> Iterator[Any]:
    """Launches Chromium with the given media flags (see ``media_args``)."""
    launched: list[Any] = []
    with sync_api.sync_playwright() as playwright:

        def launch(**flags: bool) -> Any:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=media_args(tone_wav, **flags),
            )
            launched.append(browser)
            return browser.new_page(viewport={"width": 760, "height": 520})

        yield launch
        for browser in launched:
            browser.close()


def _error_after_start(page: Any) -> str:
    page.locator("button.rm-live-start").click()
    page.wait_for_selector(".rm-live-state[data-state='failed']", timeout=STEP_MS)
    error = page.locator(".rm-live-error")
    assert error.is_visible()
    return str(error.inner_text())


def test_the_page_streams_the_microphone_through_the_server_and_back(
    server: str, browser_for: Any
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser_for()
    page.set_default_timeout(STEP_MS)
    try:
        page.goto(f"{server}?token={TOKEN}")
        page.wait_for_selector(".rm-live")
        assert page.locator(".rm-live-state").inner_text() == "idle"
        page.screenshot(path=str(ARTIFACTS / "standalone_idle.png"))
        page.locator("button.rm-live-start").click()
        page.wait_for_selector(".rm-live-state[data-state='connected']")
        # The processed tone comes back: an analyser on the returned stream.
        measured = page.evaluate(ANALYSE_RETURN_JS, 1500)
        assert measured is not None, "no returned stream"
        assert abs(measured["hz"] - TONE_HZ) < 10.0, measured
        # Half scale is -9 dBFS RMS; Gain(-6) on the server: about -15 dBFS.
        assert -18.0 < measured["db"] < -12.0, measured
        mic = meter_db(page.locator(".rm-live-db").nth(0).inner_text())
        back = meter_db(page.locator(".rm-live-db").nth(1).inner_text())
        assert 3.0 < mic - back < 9.0, (mic, back)
        page.wait_for_function(
            "document.querySelector('.rm-live-counters').textContent"
            ".includes('back ') && !/back 0 /.test("
            "document.querySelector('.rm-live-counters').textContent)"
        )
        page.screenshot(path=str(ARTIFACTS / "standalone_connected.png"))
        page.locator("button.rm-live-stop").click()
        page.wait_for_selector(".rm-live-state[data-state='stopped']")
        assert not page.locator(".rm-live-error").is_visible()
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "standalone_failure.png"))
        raise


def test_permission_denied_and_no_microphone_are_explained(
    server: str, browser_for: Any
) -> None:
    denied = browser_for(fake_ui=False)
    denied.goto(f"{server}?token={TOKEN}")
    assert "permission" in _error_after_start(denied).lower()
    denied.screenshot(path=str(ARTIFACTS / "standalone_permission_denied.png"))
    missing = browser_for(fake_device=False)
    missing.goto(f"{server}?token={TOKEN}")
    assert "no microphone found" in _error_after_start(missing).lower()


def test_a_server_that_went_away_is_named(manifest: Path, browser_for: Any) -> None:
    process, url = _serve(manifest)
    page = browser_for()
    try:
        page.goto(f"{url}?token={TOKEN}")
        page.wait_for_selector(".rm-live")
    finally:
        _stop(process)
    assert "server did not answer" in _error_after_start(page)
    page.screenshot(path=str(ARTIFACTS / "standalone_server_gone.png"))
