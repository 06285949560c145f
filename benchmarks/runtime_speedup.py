"""Python engine vs Rust runtime on one audio manifest, 1, 2 and 4 streams.

The manifest (Resample 48k->16k, HighPass, Gain, EnergyVAD, log MelSpectrogram) runs
over synthetic speech-like audio (noise bursts and pauses) cut into 20 ms frames.
Each stream is a thread; the Rust runtime releases the GIL while it runs, the
Python engine holds it. Prints frames/s, x real time and the Rust/Python ratio.

Run after a release build of the runtime (``runtime/build.sh --release``)::

    .venv/bin/python benchmarks/runtime_speedup.py [--seconds 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import remotemedia as rm
from remotemedia import nodes
from remotemedia.core import rust_engine

RATE = 48000
FRAME_MS = 20.0


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Mono float32 audio: 0.3-1.5 s bursts of modulated noise between pauses."""
    rng = np.random.default_rng(seed)
    total = int(seconds * RATE)
    out = np.empty(total, dtype=np.float32)
    pos, loud = 0, False
    while pos < total:
        length = int(rng.uniform(0.3, 1.5 if loud else 0.8) * RATE)
        end = min(total, pos + length)
        t = np.arange(end - pos) / RATE
        if loud:
            envelope = 0.3 * (0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t))
            out[pos:end] = envelope * rng.standard_normal(end - pos)
        else:
            out[pos:end] = 1e-4 * rng.standard_normal(end - pos)
        pos, loud = end, not loud
    return out


def make_frames(seconds: float) -> list[rm.AudioFrame]:
    clip = rm.AudioFrame(speech_like(seconds), RATE)
    return [
        rm.AudioFrame(np.ascontiguousarray(c.samples), c.sample_rate, c.timestamp)
        for c in clip.chunks(FRAME_MS)
    ]


def make_pipeline() -> rm.Pipeline:
    return rm.Pipeline(
        [
            nodes.Resample(16000),
            nodes.HighPass(80.0),
            nodes.Gain(-3.0),
            nodes.EnergyVAD(),
            nodes.MelSpectrogram(n_mels=64, log=True),
        ],
        name="speedup",
    )


def timed_streams(work: Callable[[], Any], streams: int, repeat: int) -> float:
    """Median wall time of ``streams`` threads each running ``work`` once."""
    walls = []
    for _ in range(repeat):
        threads = [threading.Thread(target=work) for _ in range(streams)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per stream")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)

    if not rust_engine.available():
        print("remotemedia._runtime is not built; run 'make runtime' first")
        return 1
    frames = make_frames(args.seconds)
    manifest = make_pipeline().to_manifest()

    def python_stream() -> None:
        make_pipeline().collect(frames, engine="python")

    # Warm up both (imports, FFT plans, the tokio runtime) and check the outputs.
    py_out = make_pipeline().collect(frames, engine="python")
    rs_out = rust_engine.run_manifest(manifest, frames)
    start = time.perf_counter()
    rust_engine.run_manifest(manifest, frames)
    # One Rust pass takes milliseconds: time several back to back per stream, so
    # that thread start-up and scheduling noise do not decide the multi-stream
    # figures (each stream still runs the same audio, pass after pass).
    passes = max(1, math.ceil(0.2 / (time.perf_counter() - start)))

    def rust_stream() -> None:
        for _ in range(passes):
            rust_engine.run_manifest(manifest, frames)

    print(
        f"{len(frames)} frames of {FRAME_MS:g} ms ({args.seconds:g} s at {RATE} Hz); "
        f"segments out: python {len(py_out)}, rust {len(rs_out)}; "
        f"rust timed over {passes} passes per stream"
    )
    header = (
        f"{'streams':>7} {'engine':>7} {'wall s':>8} {'frames/s':>10} "
        f"{'x real time':>12} {'rust/python':>12}"
    )
    print(header)
    print("-" * len(header))
    for streams in args.streams:
        walls = {
            "python": timed_streams(python_stream, streams, args.repeat),
            "rust": timed_streams(rust_stream, streams, args.repeat) / passes,
        }
        for engine, wall in walls.items():
            rate = streams * len(frames) / wall
            realtime = streams * args.seconds / wall
            ratio = walls["python"] / walls["rust"] if engine == "rust" else 1.0
            print(
                f"{streams:>7} {engine:>7} {wall:>8.3f} {rate:>10.0f} "
                f"{realtime:>12.1f} {ratio:>11.1f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
