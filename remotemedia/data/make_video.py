"""Renders ``clip.mp4``: the synthetic test video shipped with the package.

Three seconds at 25 fps, 320x240: a red disc moving left to right, a green square
moving up and down, a blue bar growing along the bottom and the frame number drawn in
the top-left corner, with a mono 48 kHz AAC chirp (220 Hz to 880 Hz) as audio. The
frame number makes decoded frames easy to check by eye; the clip is small enough to
ship (well under 150 KB).

Run it from the repository root to rebuild the file::

    python -m remotemedia.data.make_video
"""

from __future__ import annotations

import argparse
import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

logger = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS, SECONDS = 320, 240, 25, 3.0
AUDIO_RATE = 48000

# 3x5 bitmap digits: enough for a frame counter without any font dependency.
_DIGITS = {
    "0": ["111", "101", "101", "101", "111"],
    "1": ["010", "110", "010", "010", "111"],
    "2": ["111", "001", "111", "100", "111"],
    "3": ["111", "001", "111", "001", "111"],
    "4": ["101", "101", "111", "001", "001"],
    "5": ["111", "100", "111", "001", "111"],
    "6": ["111", "100", "111", "101", "111"],
    "7": ["111", "001", "010", "010", "010"],
    "8": ["111", "101", "111", "101", "111"],
    "9": ["111", "101", "111", "001", "111"],
}


def draw_number(image: np.ndarray, number: int, x: int, y: int, scale: int) -> None:
    """Draws ``number`` in white with its top-left corner at (x, y), in place."""
    for index, char in enumerate(str(number)):
        left = x + index * 4 * scale
        for row, bits in enumerate(_DIGITS[char]):
            for col, bit in enumerate(bits):
                if bit == "1":
                    top, col_x = y + row * scale, left + col * scale
                    image[top : top + scale, col_x : col_x + scale] = 255


def render_frame(index: int) -> np.ndarray:
    """Returns frame ``index`` of the clip as a uint8 (h, w, 3) RGB image."""
    t = index / FPS
    progress = t / SECONDS
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[..., 2] = (40 + 40 * yy / HEIGHT).astype(np.uint8)  # dark blue gradient

    cx, cy, radius = 20 + progress * (WIDTH - 40), HEIGHT // 2, 18
    image[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = (230, 40, 40)

    top = int(30 + (HEIGHT - 90) * 0.5 * (1 - np.cos(2 * np.pi * t / SECONDS)))
    image[top : top + 30, WIDTH - 70 : WIDTH - 40] = (40, 200, 60)

    image[HEIGHT - 12 : HEIGHT - 4, 4 : 4 + int(progress * (WIDTH - 8))] = (
        60,
        120,
        255,
    )
    draw_number(image, index, 6, 6, 3)
    return image


def chirp(seconds: float = SECONDS, rate: int = AUDIO_RATE) -> np.ndarray:
    """A linear 220 Hz to 880 Hz chirp at -10 dBFS with 20 ms fades, float32."""
    t = np.arange(int(seconds * rate)) / rate
    f0, f1 = 220.0, 880.0
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    signal = 0.316 * np.sin(phase)
    fade = int(0.02 * rate)
    ramp = np.linspace(0.0, 1.0, fade)
    signal[:fade] *= ramp
    signal[-fade:] *= ramp[::-1]
    return signal.astype(np.float32)


def make_clip(path: Path) -> Path:
    """Writes the clip to ``path`` and returns it."""
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        # No B-frames and a fixed CRF keep the file small and the decode simple.
        video.options = {"crf": "30", "preset": "veryslow", "bf": "0"}
        audio = container.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "mono"
        audio.bit_rate = 32000

        for index in range(int(SECONDS * FPS)):
            frame = av.VideoFrame.from_ndarray(render_frame(index), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))

        samples = chirp()
        block = 1024
        for start in range(0, samples.size, block):
            chunk = samples[start : start + block].reshape(1, -1)
            block_frame = av.AudioFrame.from_ndarray(
                chunk, format="fltp", layout="mono"
            )
            block_frame.sample_rate = AUDIO_RATE
            block_frame.pts = start
            block_frame.time_base = Fraction(1, AUDIO_RATE)
            container.mux(audio.encode(block_frame))
        container.mux(audio.encode(None))
    return path


def main() -> None:
    """Command-line entry: writes the clip next to this script (or to --out)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("clip.mp4")
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    path = make_clip(args.out)
    logger.info("wrote %s (%d bytes)", path, path.stat().st_size)


if __name__ == "__main__":
    main()
