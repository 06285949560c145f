"""Argument and input checks shared by the built-in nodes."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Node

__all__ = ["require_audio", "require_file", "check_number", "check_sample_rate"]


def require_audio(node: Node, data: Any) -> AudioFrame:
    """Returns ``data`` if it is an AudioFrame, else raises a TypeError naming node."""
    if not isinstance(data, AudioFrame):
        raise TypeError(
            f"{type(node).__name__} expects an AudioFrame, got {type(data).__name__}"
        )
    return data


def check_number(
    node: str,
    field: str,
    value: Any,
    *,
    positive: bool = False,
    minimum: float | None = None,
    integer: bool = False,
) -> None:
    """Validates a numeric parameter; the ValueError names the node and field."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )
    if ok and not math.isfinite(float(value)):
        ok = False
    if ok and integer and int(value) != value:
        ok = False
    what = "an integer" if integer else "a finite number"
    if not ok:
        raise ValueError(f"{node}: {field} must be {what}, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{node}: {field} must be > 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{node}: {field} must be >= {minimum}, got {value!r}")


#: Sample rates a source or reader accepts, in Hz: from telephone-band experiments
#: to the highest rate studio converters use.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000


def check_sample_rate(node: str, field: str, value: Any) -> None:
    """Validates a sample rate: an integer from 1,000 to 384,000 Hz.

    Raises:
        ValueError: Naming the node, the field and the accepted range.
    """
    check_number(node, field, value, positive=True, integer=True)
    if MIN_SAMPLE_RATE <= value <= MAX_SAMPLE_RATE:
        return
    hint = ""
    if MIN_SAMPLE_RATE <= value * 1000 <= MAX_SAMPLE_RATE:
        hint = f" (rates are in Hz: {value} kHz is {int(value) * 1000})"
    raise ValueError(
        f"{node}: {field} must be between {MIN_SAMPLE_RATE:,} and "
        f"{MAX_SAMPLE_RATE:,} Hz, got {value!r}{hint}"
    )


def require_file(who: str, kind: str, path: str | os.PathLike[str]) -> Path:
    """Returns ``path`` as a Path if it is an existing file.

    Audio and video sources word a missing file the same way:
    ``"AudioFileSource: audio file not found: 'x.wav'"``, with the working
    directory named when the path is relative.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
    """
    target = Path(os.fspath(path))
    if target.is_file():
        return target
    where = "" if target.is_absolute() else f" (relative to {Path.cwd()})"
    raise FileNotFoundError(f"{who}: {kind} file not found: '{target}'{where}")
