"""Shared parts of the live-media browser tests: a tone WAV as the fake microphone,
Chromium's media flags, a JupyterLab on loopback and the live panel's selectors.

Uses the system Chromium at /usr/bin/chromium; never downloads a browser.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
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
TONE_HZ = 440.0
TONE_AMPLITUDE = 0.5
SERVER_START_S = 90


def media_args(wav: Path, fake_ui: bool = True, fake_device: bool = True) -> list[str]:
    """Chromium flags for a fake microphone playing ``wav`` (looped) on loopback.

    ``fake_ui=False`` leaves the permission prompt in place and denies it;
    ``fake_device=False`` leaves the browser without any microphone.
    """
    args = [*CHROMIUM_ARGS, "--allow-loopback-in-peer-connection"]
    args.append("--autoplay-policy=no-user-gesture-required")
    if fake_ui:
        args.append("--use-fake-ui-for-media-stream")
    else:
        args.append("--deny-permission-prompts")
    if fake_device:
        args.append("--use-fake-device-for-media-stream")
        args.append(f"--use-file-for-fake-audio-capture={wav}")
    return args


def write_tone(path: Path, freq: float = TONE_HZ, seconds: float = 3.0) -> Path:
    """A 48 kHz mono 16-bit WAV of a sine (a whole number of periods, so it loops)."""
    rate = 48000
    t = np.arange(int(rate * seconds)) / rate
    samples = TONE_AMPLITUDE * np.sin(2 * np.pi * freq * t)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="session")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake microphone's input: a 440 Hz tone at half scale."""
    return write_tone(tmp_path_factory.mktemp("media") / "tone440.wav")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def jupyter_lab(root: Path, notebook: str) -> Iterator[str]:
    """Runs JupyterLab on 127.0.0.1 over ``root``; yields the URL of ``notebook``.

    No user settings, no news or update checks, every cell rendered (so outputs can
    be found wherever they are on the page) and the default kernel started.
    """
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env["JUPYTER_RUNTIME_DIR"] = str(root / ".runtime")
    env["JUPYTER_CONFIG_DIR"] = str(root / ".config")
    settings = root / ".config/lab/user-settings/@jupyterlab/notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none", "autoStartDefaultKernel": true}'
    )
    news = root / ".config/lab/user-settings/@jupyterlab/apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    log = (root / "lab.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and jupyterlab
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(
                    f"{base}/api/status?token={token}", timeout=5
                ) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (root / "lab.log").read_text()[-3000:]
                pytest.fail(f"JupyterLab did not start:\n{tail}")
            time.sleep(0.5)
        yield f"{base}/lab/tree/{notebook}?token={token}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(root / ".runtime", ignore_errors=True)


def meter_db(text: str) -> float:
    """A level meter's label ("-12 dB" or "—") as a number (-inf for silence)."""
    text = text.strip()
    return float(text.removesuffix(" dB")) if text.endswith("dB") else float("-inf")


# In the page: the dominant frequency (Hz) and RMS level (dBFS) of the audio the
# panel plays back, measured for `ms` milliseconds by an analyser on its stream.
ANALYSE_RETURN_JS = """
async (ms) => {
  const audio = document.querySelector("audio.rm-live-audio");
  if (!audio || !audio.srcObject) return null;
  const context = new AudioContext();
  await context.resume();
  const source = context.createMediaStreamSource(audio.srcObject);
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  source.connect(analyser);
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  const power = new Float64Array(analyser.frequencyBinCount);
  const wave = new Float32Array(analyser.fftSize);
  let sum = 0, count = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    analyser.getFloatFrequencyData(spectrum);
    spectrum.forEach((db, i) => { power[i] += Math.pow(10, db / 10); });
    analyser.getFloatTimeDomainData(wave);
    for (const x of wave) { sum += x * x; count += 1; }
  }
  let best = 0;
  power.forEach((p, i) => { if (p > power[best]) best = i; });
  await context.close();
  return {
    hz: best * context.sampleRate / analyser.fftSize,
    db: 10 * Math.log10(sum / Math.max(1, count) || 1e-12),
  };
}
"""
