"""The tutorials in a real JupyterLab, driven by headless Chromium (Playwright).

Starts JupyterLab on 127.0.0.1 with a token in a temporary root holding a copy of the
pipeline-editor tutorial (outputs cleared, plus a ``%%remote`` cell), runs all cells
from the Run menu, and checks in the rendered page that the editor widget renders and
runs when its Run button is clicked, that ``%%remote`` output appears and that a
spectrogram image is shown. Screenshots go to ``test-artifacts/browser/``.

Uses the system Chromium at /usr/bin/chromium; never downloads a browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.browser.conftest import jupyter_lab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "notebooks" / "04_pipeline_editor.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REMOTE_MARKER = "hello from the server"
# Bounds of every wait (ms for Playwright, s for the server).
SERVER_START_S = 90
RUN_ALL_MS = int(os.environ.get("RM_BROWSER_RUN_ALL_S", "240")) * 1000
STEP_MS = 60_000

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs the 'playwright' package"
)
if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        "the browser test needs Chromium at /usr/bin/chromium (make system-deps)",
        allow_module_level=True,
    )


def _prepare_notebook(target: Path) -> None:
    """A copy of the tutorial without outputs, plus a ``%%remote`` cell."""
    nb = nbformat.read(TUTORIAL, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nb.cells.append(nbformat.v4.new_code_cell("%load_ext remotemedia"))
    nb.cells.append(
        nbformat.v4.new_code_cell(
            f"%%remote\nimport time\nfor i in range(2):\n"
            f"    print('{REMOTE_MARKER}', i)\n    time.sleep(0.2)"
        )
    )
    nbformat.write(nb, target)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (with token) of a JupyterLab serving the prepared notebook."""
    root = tmp_path_factory.mktemp("lab")
    _prepare_notebook(root / "editor.ipynb")
    with jupyter_lab(root, "editor.ipynb") as url:
        yield url


def test_tutorial_runs_in_jupyterlab(lab: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.set_default_timeout(STEP_MS)
            page.goto(lab, timeout=STEP_MS)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=STEP_MS)
            # Older JupyterLabs ask which kernel to start: take the preselected one.
            select = page.locator(".jp-Dialog button", has_text="Select")
            try:
                select.wait_for(timeout=5_000)
                select.click()
            except sync_api.TimeoutError:
                pass
            # The kernel must be ready before "Run All Cells".
            page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(
                timeout=STEP_MS
            )

            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

            # %%remote output streams in, line by line: the last cell has run.
            remote_output = page.locator(
                ".jp-OutputArea-output", has_text=f"{REMOTE_MARKER} 1"
            ).first
            remote_output.wait_for(timeout=RUN_ALL_MS)
            assert f"{REMOTE_MARKER} 0" in remote_output.inner_text()
            remote_output.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "remote_cell.png"))

            # A spectrogram image in an ordinary output (rm.show(outputs[0])).
            images = page.locator(".jp-OutputArea-output img")
            assert images.count() >= 1

            # The editor rendered: node rows, controls and its Run button.
            editor = page.locator(".rm-pipeline-editor").first
            editor.wait_for(timeout=STEP_MS)
            editor.scroll_into_view_if_needed()
            assert "HighPass" in editor.inner_text()
            assert "MelSpectrogram" in editor.inner_text()
            page.screenshot(path=str(ARTIFACTS / "editor_after_run_all.png"))

            # Drive the UI: stream the input frame by frame, then press Run.
            join = editor.locator("label", has_text="join the input").locator("input")
            join.uncheck()
            editor.locator("button", has_text="Run").first.click()
            summary = editor.locator(
                ".jp-OutputArea-output", has_text="outputs; showing"
            )
            summary.first.wait_for(timeout=STEP_MS)
            editor_images = editor.locator(".jp-OutputArea-output img")
            editor_images.nth(2).wait_for(timeout=STEP_MS)  # the last three spectra
            assert editor_images.count() == 3
            assert "output(s) in" in editor.inner_text()
            editor.screenshot(path=str(ARTIFACTS / "editor_after_click.png"))
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))
            raise
        finally:
            browser.close()
