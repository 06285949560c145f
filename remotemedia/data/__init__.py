"""Media shipped with the package, so examples, tests and the demo need no download.

Both clips were made offline (espeak-ng speech, PyAV-rendered video) and are small.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["speech", "video", "path"]


def path(name: str) -> Path:
    """Returns the path of a shipped media file.

    Raises:
        FileNotFoundError: If no such file ships with the package.
    """
    candidate = Path(str(resources.files("remotemedia.data").joinpath(name)))
    if not candidate.is_file():
        available = sorted(
            p.name for p in candidate.parent.iterdir() if not p.name.endswith(".py")
        )
        raise FileNotFoundError(f"no shipped media file '{name}' (have: {available})")
    return candidate


def speech() -> Path:
    """A short English speech clip (Ogg/Opus, mono, 48 kHz), a few seconds long."""
    return path("speech.ogg")


def video() -> Path:
    """A short synthetic video clip (MP4/H.264, with a test tone audio track)."""
    return path("clip.mp4")
