"""``rm.widgets.Microphone`` in a real JupyterLab, driven by headless Chromium.

Chromium's fake microphone plays a 440 Hz tone. The notebook shows a Microphone with
a Gain(-6 dB) pipeline; the test presses Start in the widget (the offer goes over the
comm channel while the kernel is idle), then runs a cell that records a second of the
live audio in the kernel and prints its dominant frequency and level. The returned
(processed) audio plays in the page, where the widget's meters show it 6 dB down.
Stop releases the kernel's peer. Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.browser.conftest import (
    ANALYSE_RETURN_JS,
    ARTIFACTS,
    CHROMIUM,
    ROOT,
    TONE_HZ,
    jupyter_lab,
    media_args,
    meter_db,
)

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs the 'playwright' package"
)
pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is missing")
if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        "the browser test needs Chromium at /usr/bin/chromium (make system-deps)",
        allow_module_level=True,
    )
if not (ROOT / "remotemedia" / "static" / "microphone.js").is_file():
    pytest.skip(  # pragma: no cover - depends on the build
        "the widget's front end is not built: make extension (needs npm)",
        allow_module_level=True,
    )

STEP_MS = 60_000
CELLS = [
    # 1: the widget (loopback: Chromium and the kernel share this machine). The
    # pipeline returns the audio 6 dB down and, every half second, a line of text.
    "import remotemedia as rm\n"
    "from remotemedia import nodes\n"
    "def label(frame, count=[0]):\n"
    "    count[0] += 1\n"
    "    if count[0] % 25:\n"
    "        return frame\n"
    "    return rm.Outputs([frame, f'heard {count[0] * 0.02:.1f} s'])\n"
    "pipeline = rm.Pipeline([nodes.Gain(db=-6.0), nodes.Lambda(label)])\n"
    "mic = rm.widgets.Microphone(pipeline, loopback=True, stats_interval=0.5)\n"
    "mic",
    # 2: after Start: a second of live audio, analysed in the kernel.
    "import numpy as np\n"
    "clip = mic.record(1.0)\n"
    "x = clip.samples[0] * np.hanning(clip.num_samples)\n"
    "hz = np.argmax(np.abs(np.fft.rfft(x))) * clip.sample_rate / len(x)\n"
    "db = 20 * np.log10(np.sqrt(np.mean(clip.samples ** 2)))\n"
    "stats = mic.stats()\n"
    "print(f'RM-AUDIO hz={hz:.1f} db={db:.1f} rate={clip.sample_rate} '\n"
    "      f'seconds={clip.duration:.2f} lost={stats[\"lost\"]} '\n"
    "      f'dropped_return={stats[\"dropped_return\"]} '\n"
    "      f'dropped_consumers={stats[\"dropped_consumers\"]}')",
    # 3: after Stop.
    "print('RM-PEER', mic.peer.state, mic.state)",
    # 4, 5: with the camera.
    "cam = rm.widgets.Microphone(video=True, loopback=True)\ncam",
    "import asyncio\n"
    "async def first_video():\n"
    "    async for frame in cam.frames():\n"
    "        if isinstance(frame, rm.VideoFrame):\n"
    "            return frame\n"
    "video = await asyncio.wait_for(first_video(), 20)\n"
    "print(f'RM-VIDEO {video.width}x{video.height}')\n"
    "cam.stop()",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("lab-mic")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(nb, root / "microphone.ipynb")
    with jupyter_lab(root, "microphone.ipynb") as url:
        yield url


def _run_cell(page: Any, index: int) -> None:
    """Selects cell ``index`` (0-based) and runs it with Shift+Enter."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def _output(page: Any, index: int, marker: str) -> str:
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    output = cell.locator(".jp-OutputArea-output", has_text=marker).first
    output.wait_for(timeout=STEP_MS)
    return str(output.inner_text())


def test_start_in_the_widget_streams_the_microphone_into_the_kernel(
    lab: str, tone_wav: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=media_args(tone_wav)
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.set_default_timeout(STEP_MS)
            page.goto(lab, timeout=STEP_MS)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=STEP_MS)
            select = page.locator(".jp-Dialog button", has_text="Select")
            try:
                select.wait_for(timeout=5_000)
                select.click()
            except sync_api.TimeoutError:
                pass
            page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for()

            _run_cell(page, 0)
            widget = page.locator(".rm-live").first
            widget.wait_for()
            assert widget.locator(".rm-live-state").inner_text() == "idle"
            widget.screenshot(path=str(ARTIFACTS / "microphone_idle.png"))

            # Start: getUserMedia, the offer over the comm, the answer, ICE.
            page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for()
            widget.locator("button.rm-live-start").click()
            widget.locator(".rm-live-state[data-state='connected']").wait_for()
            options = widget.locator("select.rm-live-device option").all_inner_texts()
            assert len(options) >= 2, options  # "default" + the fake device

            # The kernel has the live audio: the tone, at the browser's level.
            _run_cell(page, 1)
            line = _output(page, 1, "RM-AUDIO")
            print(line)  # the kernel's view, in the test log
            values = dict(re.findall(r"(\w+)=(-?[\d.]+)", line))
            assert abs(float(values["hz"]) - TONE_HZ) < 5.0, line
            assert float(values["rate"]) == 16000 and values["seconds"] == "1.00"
            assert -12.0 < float(values["db"]) < -6.0, line  # half scale: -9 dBFS
            assert values["lost"] == "0", line

            # The Gain(-6) output plays back in the page: the tone, 6 dB down
            # (half scale is -9 dBFS RMS), and the widget's return meter moves.
            measured = page.evaluate(ANALYSE_RETURN_JS, 1500)
            assert measured is not None, "no returned stream"
            assert abs(measured["hz"] - TONE_HZ) < 10.0, measured
            assert -18.0 < measured["db"] < -12.0, measured
            back = meter_db(widget.locator(".rm-live-db").nth(1).inner_text())
            assert back > -40.0, back
            # The pipeline's text results show as the last line, and are counted.
            widget.locator(".rm-live-transcript", has_text="heard").wait_for()
            widget.locator(".rm-live-counters", has_text="text ").wait_for()
            # The kernel's statistics reach the widget.
            widget.locator(".rm-live-kernel", has_text="frames").wait_for()
            widget.scroll_into_view_if_needed()
            widget.screenshot(path=str(ARTIFACTS / "microphone_connected.png"))

            # Stop: the browser releases the mic and the kernel closes its peer.
            widget.locator("button.rm-live-stop").click()
            widget.locator(".rm-live-state[data-state='stopped']").wait_for()
            page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for()
            _run_cell(page, 2)
            assert "RM-PEER closed stopped" in _output(page, 2, "RM-PEER")
            widget.screenshot(path=str(ARTIFACTS / "microphone_stopped.png"))

            # video=True: the camera preview shows and the kernel gets VideoFrames.
            _run_cell(page, 3)
            camera = page.locator(".rm-live").nth(1)
            camera.wait_for()
            page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for()
            camera.locator("button.rm-live-start").click()
            camera.locator(".rm-live-state[data-state='connected']").wait_for()
            preview = camera.locator("video.rm-live-preview")
            assert preview.is_visible()
            preview.evaluate(
                "v => new Promise(r => v.readyState >= 2 ? r(0) : v.onloadeddata = r)"
            )
            camera.scroll_into_view_if_needed()
            camera.screenshot(path=str(ARTIFACTS / "microphone_video.png"))
            _run_cell(page, 4)
            assert re.search(r"RM-VIDEO \d+x\d+", _output(page, 4, "RM-VIDEO"))
            camera.locator(".rm-live-state[data-state='stopped']").wait_for()
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "microphone_failure.png"))
            raise
        finally:
            browser.close()


def test_a_kernel_restart_while_streaming_is_shown_in_the_widget(
    lab: str, tone_wav: Path
) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=media_args(tone_wav)
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.set_default_timeout(STEP_MS)
            page.goto(lab, timeout=STEP_MS)
            page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for()
            _run_cell(page, 0)
            widget = page.locator(".rm-live").first
            widget.wait_for()
            page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for()
            widget.locator("button.rm-live-start").click()
            widget.locator(".rm-live-state[data-state='connected']").wait_for()

            page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel…").first.click()
            page.locator(".jp-Dialog button", has_text="Restart").first.click()
            # The peer died with the kernel: the widget says so and frees the mic.
            error = widget.locator(".rm-live-error")
            error.wait_for(state="visible")
            assert "kernel restarted" in error.inner_text()
            widget.locator(".rm-live-state[data-state='failed']").wait_for()
            assert "try again" in error.inner_text()
            assert widget.locator(".rm-live-db").nth(0).inner_text() == "—"
            assert widget.locator("button.rm-live-start").is_enabled()
            widget.screenshot(path=str(ARTIFACTS / "microphone_kernel_restarted.png"))
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "microphone_failure.png"))
            raise
        finally:
            browser.close()
