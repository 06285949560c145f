"""Makes ``speech.ogg``, the shipped speech clip, offline.

Synthesises two English sentences with espeak-ng (with a pause between them, so a
voice activity detector finds two segments), resamples to 48 kHz mono and encodes
Ogg/Opus at 32 kbit/s with PyAV. Needs the ``espeak-ng`` program; the tests do not
run this script, they use the committed clip.

Usage::

    python remotemedia/data/make_speech.py [output.ogg]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import soundfile as sf

TEXT = (
    '<speak>Hello from remote media. <break time="700ms"/> '
    "This clip is processed by a pipeline of nodes.</speak>"
)
RATE = 48000
BITRATE = 32000
# Silence around the speech, in seconds, so trimming and VAD have something to cut.
PAD_S = 0.1


def synthesize(wav_path: Path) -> None:
    """Runs espeak-ng (SSML input, US English voice, 170 words/min) to a WAV file."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(
        [exe, "-m", "-v", "en-us", "-s", "170", "-w", str(wav_path), TEXT], check=True
    )


def encode_opus(samples: np.ndarray, rate: int, out_path: Path) -> None:
    """Resamples mono float samples to 48 kHz and encodes them as Ogg/Opus."""
    with av.open(str(out_path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=RATE, layout="mono")
        stream.bit_rate = BITRATE
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        pcm = (np.clip(samples, -1.0, 32767 / 32768) * 32768).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            pcm.reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = rate
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main(out_path: Path) -> None:
    """Synthesises, pads and encodes the clip to ``out_path``."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        synthesize(wav)
        samples, rate = sf.read(str(wav), dtype="float32")
    pad = np.zeros(int(PAD_S * rate), dtype=np.float32)
    samples = np.concatenate([pad, samples, pad])
    # Peak at -3 dBFS: loud enough to hear, with headroom for the Opus encoder.
    samples *= 10 ** (-3 / 20) / float(np.max(np.abs(samples)))
    encode_opus(samples, rate, out_path)
    print(
        f"wrote {out_path} ({out_path.stat().st_size} bytes, {len(samples) / rate:.2f} s)"
    )


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).with_name("speech.ogg")
    )
