"""Throughput of the Python engine on a 5-node streaming audio pipeline.

Streams 60 s of 48 kHz mono audio in 20 ms frames through
Gain -> HighPass -> LowPass -> Gain -> Rebuffer, then runs the same nodes' process()
as a hand-written loop in the same process, and prints frames/s, x real time, the
engine/loop ratio and the engine's overhead per node per frame.

    python benchmarks/pipeline_throughput.py [--seconds 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
from scipy import signal

import remotemedia as rm
from remotemedia import nodes
from remotemedia.core.node import iter_outputs

RATE = 48000
FRAME_MS = 20


def make_frames(seconds: float) -> list[rm.AudioFrame]:
    """Chirp plus noise, cut in 20 ms frames."""
    rng = np.random.default_rng(0)
    t = np.arange(int(RATE * seconds)) / RATE
    audio = 0.3 * signal.chirp(t, 50, t[-1], 8000) + 0.05 * rng.standard_normal(t.size)
    return list(rm.AudioFrame(audio.astype(np.float32), RATE).chunks(FRAME_MS))


def build_pipeline() -> rm.Pipeline:
    return rm.Pipeline(
        [
            nodes.Gain(db=-6.0),
            nodes.HighPass(cutoff_hz=100.0),
            nodes.LowPass(cutoff_hz=8000.0),
            nodes.Gain(db=6.0),
            nodes.Rebuffer(frame_ms=FRAME_MS),
        ],
        name="throughput",
    )


def run_engine(frames: list[rm.AudioFrame]) -> tuple[float, rm.Pipeline, int]:
    pipeline = build_pipeline()

    async def go() -> int:
        count = 0
        async for _ in pipeline.stream(frames):
            count += 1
        return count

    start = time.perf_counter()
    count = asyncio.run(go())
    return time.perf_counter() - start, pipeline, count


def run_hand_loop(frames: list[rm.AudioFrame]) -> tuple[float, int]:
    """The same numpy/scipy work with no engine: each node's process() in a loop."""
    chain = list(build_pipeline())
    for node in chain:
        node.initialize()
    out = 0
    start = time.perf_counter()
    for frame in frames:
        items = [frame]
        for node in chain:
            items = [y for x in items for y in iter_outputs(node.process(x))]
        out += len(items)
    for node in chain:
        out += len(iter_outputs(node.flush()))
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frames = make_frames(args.seconds)
    engine_times, loop_times = [], []
    pipeline: rm.Pipeline | None = None
    for _ in range(args.repeat):  # interleaved so both see the same machine load
        elapsed, pipeline, count = run_engine(frames)
        engine_times.append(elapsed)
        loop_elapsed, loop_count = run_hand_loop(frames)
        loop_times.append(loop_elapsed)
        assert count == loop_count == len(frames), (count, loop_count, len(frames))
    assert pipeline is not None
    engine_s, loop_s = min(engine_times), min(loop_times)
    n = len(frames)
    n_nodes = len(pipeline)
    print(
        f"pipeline_throughput: {args.seconds:.0f} s of {RATE} Hz audio, "
        f"{n} frames of {FRAME_MS} ms, {n_nodes} nodes, best of {args.repeat}"
    )
    print(f"{'runner':<22}{'seconds':>9}{'frames/s':>11}{'x realtime':>12}")
    for label, secs in (
        ("remotemedia engine", engine_s),
        ("hand-written loop", loop_s),
    ):
        print(f"{label:<22}{secs:>9.3f}{n / secs:>11.0f}{args.seconds / secs:>12.1f}")
    overhead_us = (engine_s - loop_s) / (n * n_nodes) * 1e6
    print(f"engine / loop time ratio: {engine_s / loop_s:.2f}x")
    print(f"engine overhead per node per frame: {overhead_us:.1f} us")
    print("per-node time inside process() (last run):")
    for name, stats in pipeline.stats.items():
        print(
            f"  {name:<12}{stats.calls:>7} calls {stats.mean_ms * 1000:>8.1f} us/call"
        )


if __name__ == "__main__":
    main()
