"""STFT, MelSpectrogram, MFCC and the Spectrogram value, checked against librosa."""

from __future__ import annotations

import pickle

import librosa
import numpy as np
import pytest

import remotemedia as rm
from remotemedia.nodes import (
    MFCC,
    STFT,
    AudioFileSource,
    EnergyVAD,
    MelSpectrogram,
    Resample,
    Spectrogram,
)

RATE = 16000


@pytest.fixture(scope="module")
def tone() -> rm.AudioFrame:
    """Half a second of a 1 kHz sine plus a little noise, 16 kHz, t=2.0."""
    rng = np.random.default_rng(3)
    t = np.arange(RATE // 2) / RATE
    x = 0.5 * np.sin(2 * np.pi * 1000 * t) + rng.normal(0, 0.01, t.size)
    return rm.AudioFrame(x.astype(np.float32), RATE, timestamp=2.0)


def _log_mel_reference(y: np.ndarray, **kwargs: object) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=y, sr=RATE, n_fft=512, hop_length=128, **kwargs
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)


# -- STFT -----------------------------------------------------------------------
def test_stft_matches_librosa_and_finds_the_tone(tone: rm.AudioFrame) -> None:
    spec = STFT()(tone)
    reference = np.abs(librosa.stft(tone.samples[0], n_fft=512, hop_length=128))
    assert isinstance(spec, Spectrogram)
    assert spec.kind == "stft" and not spec.db and spec.values.dtype == np.float32
    assert spec.values.shape == (257, 1 + tone.num_samples // 128)
    np.testing.assert_allclose(spec.values, reference, rtol=1e-5, atol=1e-5)
    peak_bin = int(np.argmax(spec.values[:, spec.num_frames // 2]))
    assert abs(spec.frequencies[peak_bin] - 1000.0) <= RATE / 512
    assert spec.times[0] == 2.0 and spec.times[1] == pytest.approx(2.0 + 128 / RATE)


def test_stft_options_and_stereo_mix(tone: rm.AudioFrame) -> None:
    stereo = tone.with_samples(np.vstack([tone.samples, np.zeros_like(tone.samples)]))
    spec = STFT(n_fft=256, hop_length=100, window="hamming", center=False)(stereo)
    mono = tone.samples[0] * np.float32(0.5)
    reference = np.abs(
        librosa.stft(mono, n_fft=256, hop_length=100, window="hamming", center=False)
    )
    np.testing.assert_allclose(spec.values, reference, rtol=1e-5, atol=1e-5)
    assert spec.hop_length == 100 and spec.n_fft == 256


def test_stft_errors() -> None:
    with pytest.raises(ValueError, match="n_fft"):
        STFT(n_fft=0)
    with pytest.raises(ValueError, match="hop_length"):
        STFT(hop_length=-1)
    with pytest.raises(ValueError, match="window"):
        STFT(window="kaiser")  # type: ignore[arg-type]
    short = rm.AudioFrame(np.zeros(100, dtype=np.float32), RATE)
    with pytest.raises(ValueError, match="shorter than n_fft"):
        STFT(center=False)(short)
    assert STFT()(short).num_frames == 1  # centred: zero padded
    with pytest.raises(TypeError, match="AudioFrame"):
        STFT()("audio")


# -- MelSpectrogram / MFCC ----------------------------------------------------------
def test_mel_matches_librosa(tone: rm.AudioFrame) -> None:
    spec = MelSpectrogram()(tone)
    assert spec.kind == "mel" and spec.db and spec.values.shape[0] == 64
    np.testing.assert_allclose(
        spec.values, _log_mel_reference(tone.samples[0], n_mels=64), atol=1e-3
    )
    assert spec.fmin == 0.0 and spec.fmax == RATE / 2
    power = MelSpectrogram(n_mels=40, fmin=100.0, fmax=6000.0, log=False)(tone)
    reference = librosa.feature.melspectrogram(
        y=tone.samples[0], sr=RATE, n_fft=512, hop_length=128, n_mels=40,
        fmin=100.0, fmax=6000.0,
    )  # fmt: skip
    np.testing.assert_allclose(power.values, reference, rtol=1e-4, atol=1e-6)
    assert not power.db and power.fmax == 6000.0
    # The loudest band is the one centred nearest 1 kHz.
    centres = spec.frequencies
    loudest = int(np.argmax(spec.values[:, spec.num_frames // 2]))
    assert loudest == int(np.argmin(np.abs(centres - 1000.0)))
    assert np.all(np.diff(centres) > 0) and centres[-1] < RATE / 2


def test_mfcc_matches_librosa(tone: rm.AudioFrame) -> None:
    spec = MFCC(n_mfcc=20)(tone)
    reference = librosa.feature.mfcc(
        S=_log_mel_reference(tone.samples[0], n_mels=64), n_mfcc=20
    )
    assert spec.kind == "mfcc" and spec.values.shape == (20, reference.shape[1])
    np.testing.assert_allclose(spec.values, reference, atol=5e-3)
    np.testing.assert_array_equal(spec.frequencies, np.arange(20))


def test_mel_and_mfcc_errors(tone: rm.AudioFrame) -> None:
    with pytest.raises(ValueError, match="n_mels"):
        MelSpectrogram(n_mels=0)
    with pytest.raises(ValueError, match="fmax"):
        MelSpectrogram(fmin=500.0, fmax=400.0)
    with pytest.raises(ValueError, match="fmin"):
        MelSpectrogram(fmin=-1.0)
    with pytest.raises(ValueError, match="fmax"):
        MelSpectrogram(fmax=12000.0)(tone)  # above 8 kHz Nyquist
    with pytest.raises(ValueError, match="n_mfcc"):
        MFCC(n_mfcc=80, n_mels=64)
    with pytest.raises(ValueError, match="log"):
        MelSpectrogram(log="yes")  # type: ignore[arg-type]


# -- Spectrogram -----------------------------------------------------------------
def test_spectrogram_value_semantics(tone: rm.AudioFrame) -> None:
    spec = MelSpectrogram()(tone)
    same = MelSpectrogram()(tone)
    assert spec == same and spec is not same
    assert spec != MelSpectrogram(n_mels=32)(tone)
    assert pickle.loads(pickle.dumps(spec)) == spec
    text = spec.describe()
    assert text.startswith("Spectrogram(mel, 64 bins x") and "dB" in text
    assert repr(spec) == text
    with pytest.raises(ValueError, match="bins, frames"):
        Spectrogram(np.zeros(5), RATE, 128, "mel")
    with pytest.raises(ValueError, match="kind"):
        Spectrogram(np.zeros((2, 2)), RATE, 128, "cqt")  # type: ignore[arg-type]


def test_spectrogram_renders_png(tone: rm.AudioFrame) -> None:
    png = MelSpectrogram()(tone)._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


# -- pipelines ------------------------------------------------------------------------
def test_clip_pipeline_source_resample_vad_mel() -> None:
    pipeline = rm.Pipeline(
        [AudioFileSource(rm.data.speech()), Resample(16000), EnergyVAD(),
         MelSpectrogram(n_mels=40)]
    )  # fmt: skip
    specs = pipeline.collect()
    assert len(specs) >= 2
    assert all(s.kind == "mel" and s.sample_rate == 16000 for s in specs)
    assert all(s.values.shape[0] == 40 and s.num_frames > 10 for s in specs)
    assert [s.timestamp for s in specs] == sorted(s.timestamp for s in specs)
    # Speech is far above the -100 dB floor of digital silence.
    assert all(float(np.max(s.values)) > -30.0 for s in specs)
    rebuilt = rm.Pipeline.from_manifest(pipeline.to_json())
    assert rebuilt.to_manifest() == pipeline.to_manifest()


def test_feature_nodes_round_trip_through_a_manifest(tone: rm.AudioFrame) -> None:
    pipeline = rm.Pipeline([STFT(n_fft=256, window="blackman")])
    for node in [MelSpectrogram(fmin=50.0, fmax=7000.0, log=False), MFCC(n_mfcc=8)]:
        single = rm.Pipeline([node])
        rebuilt = rm.Pipeline.from_manifest(single.to_manifest())
        assert rebuilt.to_manifest() == single.to_manifest()
        assert rebuilt.run(tone) == single.run(tone)
    assert rm.Pipeline.from_manifest(pipeline.to_manifest()).run(tone) == pipeline.run(
        tone
    )
