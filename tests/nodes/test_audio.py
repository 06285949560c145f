"""Audio processing nodes on real signals: streaming against batch, errors, manifests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soxr
from scipy import signal as sps

import remotemedia as rm
from remotemedia.nodes import (
    ChannelMix,
    Gain,
    HighPass,
    LowPass,
    NoiseSource,
    Normalize,
    Rebuffer,
    Resample,
    ToneSource,
)
from remotemedia.nodes.audio import _k_weighting_sos, integrated_loudness


def _tone(freq: float, rate: int, seconds: float, amp: float = 0.5) -> rm.AudioFrame:
    t = np.arange(int(round(rate * seconds))) / rate
    return rm.AudioFrame((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)


def _chirp(rate: int, seconds: float, f0: float, f1: float) -> rm.AudioFrame:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * sps.chirp(t, f0=f0, t1=seconds, f1=f1, method="logarithmic")
    return rm.AudioFrame(x.astype(np.float32), rate)


def _stream(
    node: rm.Node, frame: rm.AudioFrame, ms: float = 20.0
) -> list[rm.AudioFrame]:
    """Feeds ``frame`` in chunks of ``ms`` through ``node.process`` (then flush)."""
    out: list[rm.AudioFrame] = []
    for chunk in frame.chunks(ms):
        out.extend(rm.core.node.iter_outputs(node.process(chunk)))
    out.extend(rm.core.node.iter_outputs(node.flush()))
    return out


def _rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.asarray(x, dtype=np.float64) ** 2)) + 1e-20)


# -- Resample -------------------------------------------------------------------
@pytest.mark.parametrize(("src", "dst"), [(48000, 16000), (16000, 44100)])
def test_resample_streaming_matches_whole_signal_soxr(src: int, dst: int) -> None:
    chirp = _chirp(src, 1.0, 50.0, 0.4 * min(src, dst))
    out = _stream(Resample(dst), chirp)
    joined = rm.AudioFrame.concatenate(out)
    reference = soxr.resample(chirp.samples[0], src, dst, quality="HQ")
    assert joined.sample_rate == dst
    assert abs(joined.num_samples - reference.size) <= 1
    n = min(joined.num_samples, reference.size)
    error = joined.samples[0, :n] - reference[:n]
    snr = _rms_db(reference[:n]) - _rms_db(error)
    assert snr > 60.0
    # Timestamps continue from the input without gaps.
    starts = np.cumsum([0] + [f.num_samples for f in out[:-1]]) / dst
    np.testing.assert_allclose([f.timestamp for f in out], starts, atol=1e-9)


def test_resample_keeps_a_tone_in_place_and_handles_stereo() -> None:
    tone = _tone(1000.0, 48000, 0.5)
    stereo = tone.with_samples(np.vstack([tone.samples, -tone.samples]))
    out = rm.AudioFrame.concatenate(_stream(Resample(16000, quality="VHQ"), stereo))
    assert out.channels == 2 and out.sample_rate == 16000
    np.testing.assert_allclose(out.samples[0], -out.samples[1], atol=1e-6)
    mid = out.samples[0, 1000:7000].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(mid.size)))
    assert abs(np.argmax(spectrum) * 16000 / mid.size - 1000.0) < 3.0
    assert abs(_rms_db(mid) - _rms_db(tone.samples[0])) < 0.1


def test_resample_passes_frames_at_the_target_rate_untouched() -> None:
    frame = _tone(440.0, 16000, 0.02)
    out = Resample(16000).process(frame)
    assert len(out) == 1 and out[0] is frame


def test_resample_drains_on_rate_change_and_starts_again() -> None:
    node = Resample(16000)
    first = [o for c in _tone(440.0, 48000, 0.2).chunks(20) for o in node.process(c)]
    switched = node.process(_tone(440.0, 32000, 0.02))
    # The 48 kHz tail comes out before the new rate's first block.
    total_48k = sum(f.num_samples for f in first) + switched[0].num_samples
    assert abs(total_48k - 3200) <= 1
    assert node.flush() is not None
    assert node.flush() is None


def test_resample_rejects_bad_parameters_and_input() -> None:
    with pytest.raises(ValueError, match="target_rate"):
        Resample(0)
    with pytest.raises(ValueError, match="target_rate"):
        Resample(16000.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quality"):
        Resample(16000, quality="LQ")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AudioFrame"):
        Resample(16000)(np.zeros(10))


# -- Gain -----------------------------------------------------------------------
def test_gain_is_exact_to_float32_rounding(stereo_noise: rm.AudioFrame) -> None:
    out = Gain(db=-6.0)(stereo_noise)
    factor = np.float32(10 ** (-6.0 / 20))
    np.testing.assert_array_equal(out.samples, stereo_noise.samples * factor)
    assert out.samples.dtype == np.float32
    assert out.timestamp == stereo_noise.timestamp
    np.testing.assert_array_equal(Gain(0.0)(stereo_noise).samples, stereo_noise.samples)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "x", None, True])
def test_gain_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match="Gain: db"):
        Gain(db=bad)  # type: ignore[arg-type]


# -- Normalize ------------------------------------------------------------------
def test_normalize_peak(sine: rm.AudioFrame) -> None:
    out = Normalize()(sine)  # default: peak -1 dBFS
    assert math.isclose(
        float(np.max(np.abs(out.samples))), 10 ** (-1 / 20), rel_tol=1e-6
    )
    out = Normalize(peak_db=-20.0)(sine)
    assert math.isclose(float(np.max(np.abs(out.samples))), 0.1, rel_tol=1e-6)
    silence = rm.AudioFrame(np.zeros((2, 100), dtype=np.float32), 16000)
    assert Normalize()(silence) is silence


def test_k_weighting_matches_the_published_48k_coefficients() -> None:
    sos = _k_weighting_sos(48000)
    np.testing.assert_allclose(
        sos[0], [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0,
                 -1.69065929318241, 0.73248077421585], atol=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(
        sos[1], [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621], atol=1e-9
    )


def test_integrated_loudness_of_reference_signals() -> None:
    # BS.1770: a full-scale 997 Hz sine in one channel reads -3.01 LKFS.
    assert abs(integrated_loudness(_tone(997.0, 48000, 3.0, amp=1.0)) + 3.01) < 0.05
    assert abs(integrated_loudness(_tone(997.0, 44100, 3.0, amp=0.1)) + 23.01) < 0.05
    # The relative gate drops a much quieter half: only the blocks that straddle
    # the step count besides the loud half (ungated, the result would be 3 dB lower).
    loud, quiet = _tone(997.0, 48000, 2.0, 0.5), _tone(997.0, 48000, 2.0, 0.005)
    both = rm.AudioFrame.concatenate([loud, quiet])
    assert -0.5 < integrated_loudness(both) - integrated_loudness(loud) < 0.0
    silent = rm.AudioFrame(np.zeros(48000, dtype=np.float32), 48000)
    assert integrated_loudness(silent) == -math.inf


def test_normalize_lufs_hits_the_target(stereo_noise: rm.AudioFrame) -> None:
    out = Normalize(lufs=-23.0)(stereo_noise)
    assert abs(integrated_loudness(out) + 23.0) < 0.01
    short = _tone(440.0, 16000, 0.25)  # under one 400 ms block
    assert abs(integrated_loudness(Normalize(lufs=-30.0)(short)) + 30.0) < 0.01
    silence = rm.AudioFrame(np.zeros((1, 8000), dtype=np.float32), 16000)
    assert Normalize(lufs=-23.0)(silence) is silence


def test_normalize_rejects_two_targets_and_bad_values() -> None:
    with pytest.raises(ValueError, match="peak_db or lufs"):
        Normalize(peak_db=-1.0, lufs=-23.0)
    with pytest.raises(ValueError, match="lufs"):
        Normalize(lufs=float("nan"))
    with pytest.raises(ValueError, match="peak_db"):
        Normalize(peak_db="loud")  # type: ignore[arg-type]


# -- ChannelMix -----------------------------------------------------------------
def test_channel_mix_rules() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    frame = rm.AudioFrame(x, 8000, timestamp=1.5)
    np.testing.assert_array_equal(
        ChannelMix(1)(frame).samples, x.mean(0, keepdims=True)
    )
    np.testing.assert_array_equal(ChannelMix(2)(frame).samples, x[:2])
    np.testing.assert_array_equal(ChannelMix(5)(frame).samples, x[[0, 1, 2, 2, 2]])
    mono = rm.AudioFrame(x[:1], 8000)
    np.testing.assert_array_equal(ChannelMix(3)(mono).samples, x[[0, 0, 0]])
    assert ChannelMix(3)(frame) is frame
    assert ChannelMix(1)(frame).timestamp == 1.5
    with pytest.raises(ValueError, match="channels"):
        ChannelMix(0)


# -- filters ----------------------------------------------------------------------
def _steady_gain_db(node: rm.Node, freq: float, rate: int = 16000) -> float:
    tone = _tone(freq, rate, 1.0)
    out = rm.AudioFrame.concatenate(_stream(node, tone))
    half = rate // 2  # skip the start-up transient
    return _rms_db(out.samples[0, half:]) - _rms_db(tone.samples[0, half:])


def test_highpass_attenuates_mains_hum_and_passes_speech_band() -> None:
    assert _steady_gain_db(HighPass(300.0), 50.0) < -20.0
    assert abs(_steady_gain_db(HighPass(300.0), 300.0) + 3.0) < 0.2  # -3 dB point
    assert abs(_steady_gain_db(HighPass(300.0), 2000.0)) < 0.1


def test_lowpass_attenuates_above_cutoff() -> None:
    assert _steady_gain_db(LowPass(1000.0), 8000.0 - 500) < -20.0
    assert abs(_steady_gain_db(LowPass(1000.0, order=4), 100.0)) < 0.1
    assert _steady_gain_db(LowPass(1000.0, order=4), 4000.0) < -45.0


@pytest.mark.parametrize("cls", [HighPass, LowPass])
def test_filter_streaming_equals_batch_sosfilt(
    cls: type, stereo_noise: rm.AudioFrame
) -> None:
    node = cls(700.0, order=3)
    streamed = rm.AudioFrame.concatenate(_stream(node, stereo_noise, ms=7.0))
    btype = "highpass" if cls is HighPass else "lowpass"
    sos = sps.butter(3, 700.0, btype, fs=16000, output="sos")
    batch = sps.sosfilt(sos, stereo_noise.samples.astype(np.float64), axis=-1)
    assert np.max(np.abs(streamed.samples - batch)) < 1e-6
    # flush() reset the state: a second stream gives the same result.
    again = rm.AudioFrame.concatenate(_stream(node, stereo_noise, ms=20.0))
    np.testing.assert_allclose(again.samples, streamed.samples, atol=1e-6)


def test_order_two_highpass_is_the_rbj_cookbook_biquad() -> None:
    rate, f0 = 48000, 1000.0
    w0 = 2 * math.pi * f0 / rate
    alpha = math.sin(w0) / (2 / math.sqrt(2))
    cw = math.cos(w0)
    b = np.array([(1 + cw) / 2, -(1 + cw), (1 + cw) / 2])
    a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    sos = HighPass(f0).sos(rate)
    assert sos.shape == (1, 6)
    np.testing.assert_allclose(sos[0], np.concatenate([b, a]) / a[0], atol=1e-12)


def test_filters_reject_bad_cutoffs() -> None:
    with pytest.raises(ValueError, match="cutoff_hz"):
        HighPass(0.0)
    with pytest.raises(ValueError, match="cutoff_hz"):
        LowPass(float("nan"))
    with pytest.raises(ValueError, match="order"):
        LowPass(100.0, order=0)
    node = HighPass(9000.0)  # fine at 48 kHz, above Nyquist at 16 kHz
    node(_tone(100.0, 48000, 0.02))
    with pytest.raises(ValueError, match="cutoff_hz"):
        node(_tone(100.0, 16000, 0.02))


# -- Rebuffer -------------------------------------------------------------------
def test_rebuffer_rechunks_exactly(stereo_noise: rm.AudioFrame) -> None:
    node = Rebuffer(frame_ms=25.0)
    out = _stream(node, rm.AudioFrame(stereo_noise.samples, 16000, timestamp=2.0), 7.0)
    assert [f.num_samples for f in out[:-1]] == [400] * (len(out) - 1)
    assert out[-1].num_samples == 8000 - 400 * (len(out) - 1)
    np.testing.assert_array_equal(
        rm.AudioFrame.concatenate(out).samples, stereo_noise.samples
    )
    np.testing.assert_allclose(
        [f.timestamp for f in out], 2.0 + np.arange(len(out)) * 0.025, atol=1e-9
    )


def test_rebuffer_flushes_on_rate_change_and_validates() -> None:
    node = Rebuffer(20.0)
    assert len(node.process(_tone(440.0, 16000, 0.03))) == 1  # 480 = 320 + 160 queued
    out = node.process(_tone(440.0, 8000, 0.05))
    assert [(f.sample_rate, f.num_samples) for f in out] == [
        (16000, 160),
        (8000, 160),
        (8000, 160),
    ]
    assert node.flush().num_samples == 80
    assert node.flush() is None
    with pytest.raises(ValueError, match="frame_ms"):
        Rebuffer(0)
    with pytest.raises(ValueError, match="frame_ms"):
        Rebuffer(0.01).process(_tone(440.0, 8000, 0.01))


# -- generators -----------------------------------------------------------------
def test_tone_source_is_phase_continuous() -> None:
    frames = list(ToneSource(freq_hz=1000.0, duration_s=0.105, sample_rate=16000))
    assert [f.num_samples for f in frames] == [320] * 5 + [80]
    joined = rm.AudioFrame.concatenate(frames)
    np.testing.assert_allclose(
        joined.samples[0], _tone(1000.0, 16000, 0.105).samples[0], atol=1e-6
    )
    np.testing.assert_allclose([f.timestamp for f in frames], np.arange(6) * 0.02)


def test_noise_source_is_seeded_and_repeatable() -> None:
    source = NoiseSource(duration_s=0.1, sample_rate=8000, amplitude=0.2, seed=7)
    first, second = list(source), list(source)
    assert first == second
    joined = rm.AudioFrame.concatenate(first)
    assert 0.15 < float(np.max(np.abs(joined.samples))) <= 0.2
    other = rm.AudioFrame.concatenate(
        list(NoiseSource(duration_s=0.1, sample_rate=8000, seed=8))
    )
    assert not np.array_equal(joined.samples, other.samples)


def test_generators_reject_bad_parameters() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        ToneSource(sample_rate=0)
    with pytest.raises(ValueError, match="duration_s"):
        NoiseSource(duration_s=-1.0)
    with pytest.raises(ValueError, match="frame_ms"):
        ToneSource(frame_ms=0.001)
    with pytest.raises(ValueError, match="seed"):
        NoiseSource(seed=-3)


# -- pipelines and manifests ----------------------------------------------------------
def test_every_audio_node_round_trips_through_a_manifest() -> None:
    nodes = [
        ToneSource(freq_hz=330.0, duration_s=0.3, sample_rate=48000),
        Resample(16000, quality="MQ"),
        Gain(db=-3.0),
        Normalize(lufs=-20.0),
        ChannelMix(2),
        HighPass(100.0),
        LowPass(4000.0, order=4),
        Rebuffer(frame_ms=32.0),
        Normalize(peak_db=-6.0),
    ]
    pipeline = rm.Pipeline(nodes, name="audio")
    manifest = pipeline.to_manifest()
    assert [n["type"] for n in manifest["nodes"]][:3] == [
        "ToneSource",
        "Resample",
        "Gain",
    ]
    rebuilt = rm.Pipeline.from_manifest(pipeline.to_json())
    assert rebuilt.to_manifest() == manifest
    assert rebuilt.collect() == pipeline.collect()
    noise = rm.Pipeline([NoiseSource(duration_s=0.1, seed=3)])
    assert rm.Pipeline.from_manifest(noise.to_manifest()).collect() == noise.collect()


def test_registry_describes_the_audio_nodes() -> None:
    infos = {info.name: info for info in rm.list_nodes()}
    for name in ["Resample", "Gain", "Normalize", "ChannelMix", "HighPass", "LowPass",
                 "Rebuffer", "ToneSource", "NoiseSource"]:  # fmt: skip
        assert infos[name].summary
        assert all(p.doc for p in infos[name].parameters), name
    quality = {p.name: p for p in infos["Resample"].parameters}["quality"]
    assert quality.choices == ("HQ", "VHQ", "MQ")


def test_streaming_pipeline_runs_the_chain() -> None:
    pipeline = rm.Pipeline(
        [ToneSource(freq_hz=50.0, duration_s=1.0, sample_rate=48000), Resample(16000),
         HighPass(300.0), Rebuffer(100.0)]
    )  # fmt: skip
    out = pipeline.collect()
    assert all(f.sample_rate == 16000 for f in out)
    joined = rm.AudioFrame.concatenate(out)
    assert abs(joined.num_samples - 16000) <= 1
    assert (
        _rms_db(joined.samples[0, 8000:]) < _rms_db(np.full(1, 0.5 / math.sqrt(2))) - 20
    )
