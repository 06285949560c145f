"""The documentation site builds with warnings as errors (what `make docs` runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip(
        "mkdocs", reason="docs extra not installed: pip install .[docs]"
    )
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for page in (
        "install/index.html",
        "troubleshooting/index.html",
        "deploy/index.html",
        "performance/index.html",
        "api/core/index.html",
        "tutorials/01_quickstart/index.html",
    ):
        assert (site / page).is_file(), page
    api = (site / "api" / "core" / "index.html").read_text()
    assert "Pipeline" in api and "AudioFrame" in api  # rendered from docstrings
    performance = (site / "performance" / "index.html").read_text()
    assert "<table>" in performance  # benchmarks/README.md included
