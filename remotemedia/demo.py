"""End-to-end demo: ``python -m remotemedia.demo`` (what ``make demo`` runs).

Takes the shipped speech clip through source -> resample -> VAD -> mel-spectrogram,
first all local, then with the heavy node on an embedded remote server, writes the
processed audio and pictures to ``demo-out/`` and reports how fast each run was.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import remotemedia as rm
from remotemedia import nodes

logger = logging.getLogger(__name__)


def build(remote_session: Any = None) -> rm.Pipeline:
    """The demo pipeline; with a session, the mel-spectrogram node runs remotely."""
    mel: rm.Node = nodes.MelSpectrogram(n_mels=64)
    if remote_session is not None:
        mel = rm.remote(mel, session=remote_session)
    return rm.Pipeline(
        [
            nodes.AudioFileSource(str(rm.data.speech())),
            nodes.Resample(target_rate=16000),
            nodes.EnergyVAD(threshold_db=-35.0),
            mel,
        ],
        name="speech-demo",
    )


def run_timed(pipeline: rm.Pipeline) -> tuple[list[Any], float]:
    """Runs the pipeline to the end; returns its outputs and the wall time."""
    start = time.perf_counter()
    outputs = pipeline.collect()
    return outputs, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Runs the demo and prints what it did."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-out", help="output folder")
    parser.add_argument("--local-only", action="store_true", help="skip the remote run")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    clip = rm.data.speech()
    audio = nodes.read_audio(str(clip))
    print(
        f"input: {clip.name}, {audio.duration:.2f} s, {audio.sample_rate} Hz, "
        f"{audio.channels} channel(s)"
    )

    local = build()
    print(f"pipeline: {' -> '.join(type(n).__name__ for n in local)}")
    # Warm-up run: librosa compiles with numba on first use; time the second run.
    run_timed(build())
    specs, local_s = run_timed(local)
    print(
        f"local run: {len(specs)} speech segment(s) in {local_s * 1000:.0f} ms "
        f"= {audio.duration / local_s:.1f}x real time"
    )
    for index, spec in enumerate(specs):
        print(f"  segment {index}: {spec.describe()}")

    segments = rm.Pipeline(
        [
            nodes.AudioFileSource(str(clip)),
            nodes.Resample(16000),
            nodes.EnergyVAD(threshold_db=-35.0),
        ]
    ).collect()
    speech = rm.AudioFrame.concatenate(segments)
    nodes.write_audio(str(out / "speech_segments.wav"), speech)
    resampled = rm.AudioFrame.concatenate(
        rm.Pipeline([nodes.AudioFileSource(str(clip)), nodes.Resample(16000)]).collect()
    )
    nodes.write_audio(str(out / "resampled_16k.wav"), resampled)
    rm.show(resampled, save=out / "waveform_spectrogram.png")
    if specs:
        rm.show(specs[0], save=out / "mel_segment0.png")
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/")

    if args.local_only:
        return
    start = time.perf_counter()
    with rm.connect() as session:
        print(
            f"embedded server at {session.address} "
            f"(started in {time.perf_counter() - start:.2f} s)"
        )
        run_timed(build(session))  # warm the remote node (numba compile there too)
        remote_specs, remote_s = run_timed(build(session))
    same = len(remote_specs) == len(specs) and all(
        a == b for a, b in zip(remote_specs, specs)
    )
    print(
        f"remote run (MelSpectrogram on the server): {len(remote_specs)} segment(s) in "
        f"{remote_s * 1000:.0f} ms = {audio.duration / remote_s:.1f}x real time; "
        f"identical to local: {same}"
    )
    print(f"timings: local {local_s * 1000:.0f} ms, remote {remote_s * 1000:.0f} ms")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
