"""Shared fixtures: real signals and the shipped media."""

from __future__ import annotations

import numpy as np
import pytest

import remotemedia as rm


@pytest.fixture
def sine() -> rm.AudioFrame:
    """One second of a 440 Hz sine at 48 kHz, mono."""
    t = np.arange(48000, dtype=np.float64) / 48000
    return rm.AudioFrame((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 48000)


@pytest.fixture
def stereo_noise() -> rm.AudioFrame:
    """Half a second of seeded stereo white noise at 16 kHz."""
    rng = np.random.default_rng(1234)
    return rm.AudioFrame(rng.uniform(-0.5, 0.5, (2, 8000)).astype(np.float32), 16000)
