"""Native nodes against the Python nodes on generated signals, within tolerance.

Tolerances (documented in runtime/README.md): Gain, Normalize, ChannelMix,
Rebuffer, TrimSilence and EnergyVAD are exact; HighPass/LowPass within 1e-4;
STFT within 1e-5 of the largest magnitude; mel power within 1e-4 of the largest
value and log-mel within 0.01 dB where the power is within 60 dB of the largest;
Resample at >= 40 dB SNR against soxr after aligning delay.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import remotemedia as rm
from remotemedia import nodes
from remotemedia.core import rust_engine

pytest.importorskip(
    "remotemedia._runtime",
    reason="Rust runtime not built (run 'make runtime' or runtime/build.sh)",
)

FAST = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
RATES = st.sampled_from([8000, 16000, 22050, 44100, 48000])


def frames_of(samples: np.ndarray, rate: int, ms: float = 20.0) -> list[rm.AudioFrame]:
    """Cuts ``samples`` (channels, n) into contiguous frames of ``ms``."""
    clip = rm.AudioFrame(samples.astype(np.float32), rate)
    return [
        rm.AudioFrame(np.ascontiguousarray(c.samples), rate, c.timestamp)
        for c in clip.chunks(ms)
    ]


def run_both(node: rm.Node, inputs: list[Any]) -> tuple[list[Any], list[Any]]:
    """Outputs of a one-node pipeline on the Python engine and on the runtime."""
    pipeline = rm.Pipeline([node])
    python = pipeline.collect(inputs, engine="python")
    rust = rust_engine.run_manifest(pipeline.to_manifest(), inputs)
    return python, rust


def noise(seed: int, channels: int, n: int, amp: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.standard_normal((channels, n))).astype(np.float32)


def bursts(seed: int, rate: int, seconds: float) -> np.ndarray:
    """Mono noise bursts and near-silent gaps of random lengths (VAD input)."""
    rng = np.random.default_rng(seed)
    total = int(seconds * rate)
    out = np.zeros(total, dtype=np.float32)
    pos, loud = 0, bool(rng.integers(2))
    while pos < total:
        end = min(total, pos + int(rng.uniform(0.03, 0.5) * rate))
        amp = 0.3 if loud else 1e-4
        out[pos:end] = amp * rng.standard_normal(end - pos)
        pos, loud = end, not loud
    return out.reshape(1, -1)


def assert_frames_equal(python: list, rust: list, atol: float = 0.0) -> None:
    assert len(python) == len(rust)
    for a, b in zip(python, rust):
        assert isinstance(b, rm.AudioFrame)
        assert b.sample_rate == a.sample_rate
        assert b.samples.shape == a.samples.shape
        assert b.samples.dtype == np.float32
        assert b.timestamp == pytest.approx(a.timestamp, abs=1e-9)
        if atol == 0.0:
            np.testing.assert_array_equal(b.samples, a.samples)
        else:
            np.testing.assert_allclose(b.samples, a.samples, rtol=0, atol=atol)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    channels=st.integers(1, 3),
    db=st.floats(-40, 20, allow_nan=False),
    rate=RATES,
)
def test_gain_is_exact(seed: int, channels: int, db: float, rate: int) -> None:
    inputs = frames_of(noise(seed, channels, rate // 5), rate)
    assert_frames_equal(*run_both(nodes.Gain(db), inputs))


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    channels=st.integers(1, 3),
    amp=st.floats(1e-3, 2.0),
    target=st.one_of(
        st.builds(lambda v: {"peak_db": v}, st.floats(-30, 0)),
        st.builds(lambda v: {"lufs": v}, st.floats(-40, -10)),
    ),
)
def test_normalize_matches(seed: int, channels: int, amp: float, target: dict) -> None:
    clip = rm.AudioFrame(noise(seed, channels, 12000, amp), 16000)
    python, rust = run_both(nodes.Normalize(**target), [clip])
    # Peak is exact; loudness sums blocks in another order (gain within 1e-6).
    atol = 0.0 if "peak_db" in target else 1e-6 * float(np.abs(python[0].samples).max())
    assert_frames_equal(python, rust, atol)


def test_normalize_passes_silence_through() -> None:
    silent = rm.AudioFrame(np.zeros((1, 800), dtype=np.float32), 16000)
    python, rust = run_both(nodes.Normalize(lufs=-23.0), [silent])
    assert python[0] is silent and rust[0] is silent


@FAST
@given(seed=st.integers(0, 2**32 - 1), have=st.integers(1, 4), want=st.integers(1, 4))
def test_channel_mix_is_exact(seed: int, have: int, want: int) -> None:
    inputs = frames_of(noise(seed, have, 1600), 16000)
    assert_frames_equal(*run_both(nodes.ChannelMix(want), inputs))


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    channels=st.integers(1, 2),
    rate=RATES,
    ratio=st.floats(0.005, 0.45),
    order=st.integers(1, 8),
    high=st.booleans(),
    frame_ms=st.sampled_from([5.0, 10.0, 20.0, 33.0]),
)
def test_butterworth_within_1e_4(
    seed: int,
    channels: int,
    rate: int,
    ratio: float,
    order: int,
    high: bool,
    frame_ms: float,
) -> None:
    cls = nodes.HighPass if high else nodes.LowPass
    inputs = frames_of(noise(seed, channels, rate // 4), rate, frame_ms)
    assert_frames_equal(*run_both(cls(ratio * rate, order=order), inputs), atol=1e-4)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=12),
    frame_ms=st.sampled_from([5.0, 10.0, 20.0, 32.5]),
    channels=st.integers(1, 2),
)
def test_rebuffer_is_exact(
    seed: int, sizes: list[int], frame_ms: float, channels: int
) -> None:
    data = noise(seed, channels, sum(sizes))
    inputs, pos = [], 0
    for size in sizes:
        inputs.append(
            rm.AudioFrame(data[:, pos : pos + size].copy(), 16000, pos / 16000)
        )
        pos += size
    assert_frames_equal(*run_both(nodes.Rebuffer(frame_ms), inputs))


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    frame_ms=st.sampled_from([7.0, 20.0, 50.0]),
    hangover_ms=st.sampled_from([0.0, 50.0, 200.0]),
    min_speech_ms=st.sampled_from([0.0, 60.0, 150.0]),
    pre_roll_ms=st.sampled_from([0.0, 30.0, 300.0]),
    window_ms=st.sampled_from([10.0, 20.0, 30.0]),
)
def test_energy_vad_is_exact(
    seed: int,
    frame_ms: float,
    hangover_ms: float,
    min_speech_ms: float,
    pre_roll_ms: float,
    window_ms: float,
) -> None:
    inputs = frames_of(bursts(seed, 16000, 3.0), 16000, frame_ms)
    node = nodes.EnergyVAD(
        window_ms=window_ms,
        hangover_ms=hangover_ms,
        min_speech_ms=min_speech_ms,
        pre_roll_ms=pre_roll_ms,
    )
    python, rust = run_both(node, inputs)
    assert_frames_equal(python, rust)


@FAST
@given(seed=st.integers(0, 2**32 - 1), window_ms=st.sampled_from([7.0, 20.0]))
def test_trim_silence_is_exact(seed: int, window_ms: float) -> None:
    clips = [rm.AudioFrame(bursts(seed + k, 8000, 0.6), 8000, k) for k in range(3)]
    clips.append(rm.AudioFrame(np.zeros((1, 500), dtype=np.float32), 8000))
    python, rust = run_both(nodes.TrimSilence(window_ms=window_ms), clips)
    assert_frames_equal(python, rust)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    channels=st.integers(1, 2),
    n=st.integers(200, 6000),
    n_fft=st.sampled_from([128, 256, 512, 1024]),
    hop=st.sampled_from([None, 64, 100]),
    window=st.sampled_from(["hann", "hamming", "blackman"]),
    center=st.booleans(),
)
def test_stft_within_tolerance(
    seed: int,
    channels: int,
    n: int,
    n_fft: int,
    hop: int | None,
    window: str,
    center: bool,
) -> None:
    n = max(n, n_fft)
    clip = rm.AudioFrame(noise(seed, channels, n), 16000, 0.25)
    node = nodes.STFT(n_fft=n_fft, hop_length=hop, window=window, center=center)
    [a], [b] = run_both(node, [clip])
    assert isinstance(b, type(a))
    for field in ("sample_rate", "hop_length", "kind", "db", "timestamp", "n_fft"):
        assert getattr(b, field) == getattr(a, field), field
    assert b.values.shape == a.values.shape and b.values.dtype == np.float32
    np.testing.assert_allclose(b.values, a.values, rtol=0, atol=1e-5 * a.values.max())


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    rate=st.sampled_from([16000, 22050, 44100]),
    n_mels=st.sampled_from([20, 40, 64, 128]),
    n_fft=st.sampled_from([512, 1024, 2048]),
    fmin=st.sampled_from([0.0, 30.0, 300.0]),
    fmax_ratio=st.sampled_from([None, 0.8]),
    log=st.booleans(),
)
def test_mel_within_tolerance(
    seed: int,
    rate: int,
    n_mels: int,
    n_fft: int,
    fmin: float,
    fmax_ratio: float | None,
    log: bool,
) -> None:
    fmax = None if fmax_ratio is None else fmax_ratio * rate / 2
    clip = rm.AudioFrame(noise(seed, 1, rate // 2), rate, 1.5)
    node = nodes.MelSpectrogram(
        n_mels=n_mels, n_fft=n_fft, fmin=fmin, fmax=fmax, log=log
    )
    [a], [b] = run_both(node, [clip])
    for field in ("sample_rate", "hop_length", "kind", "db", "timestamp", "n_fft"):
        assert getattr(b, field) == getattr(a, field), field
    assert b.fmin == pytest.approx(a.fmin) and b.fmax == pytest.approx(a.fmax)
    assert b.values.shape == a.values.shape
    if log:
        loud = a.values > a.values.max() - 60.0
        np.testing.assert_allclose(b.values[loud], a.values[loud], rtol=0, atol=0.01)
    else:
        np.testing.assert_allclose(
            b.values, a.values, rtol=0, atol=1e-4 * a.values.max()
        )


def _aligned_snr(reference: np.ndarray, test: np.ndarray, max_lag: int = 32) -> float:
    """Best SNR (dB) of ``test`` against ``reference`` over small lags, middle part."""
    n = min(len(reference), len(test))
    edge = n // 8
    best = -np.inf
    for lag in range(-max_lag, max_lag + 1):
        a = reference[edge : n - edge]
        b = test[edge + lag : n - edge + lag]
        err = float(np.sum((a - b) ** 2.0)) + 1e-30
        best = max(best, 10 * np.log10(float(np.sum(a**2.0)) / err))
    return best


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rates=st.sampled_from(
        [(48000, 16000), (44100, 16000), (16000, 48000), (22050, 44100)]
    ),
    quality=st.sampled_from(["HQ", "VHQ", "MQ"]),
    frame_ms=st.sampled_from([10.0, 20.0]),
    stereo=st.booleans(),
)
def test_resample_40db_against_soxr(
    seed: int, rates: tuple[int, int], quality: str, frame_ms: float, stereo: bool
) -> None:
    src, dst = rates
    rng = np.random.default_rng(seed)
    t = np.arange(src) / src  # one second
    # Band-limited: a few tones below 40 % of the lower Nyquist.
    top = 0.4 * min(src, dst) / 2
    x = np.stack(
        [
            sum(
                0.2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
                for f in rng.uniform(50, top, 4)
            )
            for _ in range(2 if stereo else 1)
        ]
    )
    python, rust = run_both(
        nodes.Resample(dst, quality=quality),
        frames_of(x.astype(np.float32), src, frame_ms),
    )
    a = np.concatenate([f.samples for f in python], axis=1)
    b = np.concatenate([f.samples for f in rust], axis=1)
    assert a.shape[0] == b.shape[0] == x.shape[0]
    assert abs(a.shape[1] - b.shape[1]) <= 1
    assert all(f.sample_rate == dst for f in rust)
    # Timestamps continue from the input: first timestamp + samples so far / rate.
    emitted = 0
    for frame in rust:
        assert frame.timestamp == pytest.approx(emitted / dst, abs=1e-9)
        emitted += frame.num_samples
    for channel in range(a.shape[0]):
        assert _aligned_snr(a[channel], b[channel]) >= 40.0


def test_resample_at_target_rate_passes_frames_through() -> None:
    frame = rm.AudioFrame(noise(1, 2, 320), 16000, 3.0)
    python, rust = run_both(nodes.Resample(16000), [frame])
    assert python[0] is frame and rust[0] is frame
