from __future__ import annotations

import pickle
from pathlib import Path

import av
import numpy as np
import pytest

import remotemedia as rm


def test_audio_frame_properties(stereo_noise: rm.AudioFrame) -> None:
    assert stereo_noise.channels == 2
    assert stereo_noise.num_samples == 8000
    assert stereo_noise.duration == pytest.approx(0.5)
    mono = stereo_noise.to_mono()
    assert mono.channels == 1
    np.testing.assert_allclose(
        mono.samples[0], stereo_noise.samples.mean(axis=0), atol=1e-7
    )


def test_audio_frame_accepts_1d_and_float64() -> None:
    frame = rm.AudioFrame(np.zeros(160), 16000, timestamp=1.5)
    assert frame.samples.shape == (1, 160)
    assert frame.samples.dtype == np.float32
    assert frame.timestamp == 1.5


@pytest.mark.parametrize(
    ("samples", "rate", "message"),
    [
        (np.zeros(10, dtype=np.int16), 16000, "float32"),
        (np.zeros((1, 2, 3), dtype=np.float32), 16000, "(channels, n)"),
        (np.zeros((0, 5), dtype=np.float32), 16000, "at least one channel"),
        (np.zeros(10, dtype=np.float32), 0, "sample_rate"),
        (np.zeros(10, dtype=np.float32), -8000, "sample_rate"),
        (np.zeros(10, dtype=np.float32), 441.5, "sample_rate"),
        ([0.0, 1.0], 16000, "numpy array"),
    ],
)
def test_audio_frame_validation(samples: object, rate: object, message: str) -> None:
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        rm.AudioFrame(samples, rate)  # type: ignore[arg-type]


def test_chunks_cover_the_frame_with_continuous_timestamps(sine: rm.AudioFrame) -> None:
    chunks = list(sine.chunks(20))
    assert len(chunks) == 50
    assert all(c.num_samples == 960 for c in chunks)
    assert chunks[1].timestamp == pytest.approx(0.02)
    assert rm.AudioFrame.concatenate(chunks) == sine
    with pytest.raises(ValueError, match="> 0 ms"):
        list(sine.chunks(0))


def test_concatenate_refuses_mixed_formats(
    sine: rm.AudioFrame, stereo_noise: rm.AudioFrame
) -> None:
    with pytest.raises(ValueError, match="different formats"):
        rm.AudioFrame.concatenate([sine, stereo_noise])
    with pytest.raises(ValueError, match="empty"):
        rm.AudioFrame.concatenate([])


def test_int16_round_trip(sine: rm.AudioFrame) -> None:
    pcm = sine.to_int16()
    assert pcm.dtype == np.int16
    back = rm.AudioFrame.from_int16(pcm, sine.sample_rate)
    np.testing.assert_allclose(back.samples, sine.samples, atol=1 / 32768)
    with pytest.raises(ValueError, match="int16"):
        rm.AudioFrame.from_int16(pcm.astype(np.int32), 48000)


def test_audio_pyav_round_trip(stereo_noise: rm.AudioFrame) -> None:
    av_frame = stereo_noise.to_av()
    assert isinstance(av_frame, av.AudioFrame)
    assert av_frame.sample_rate == 16000
    back = rm.AudioFrame.from_av(av_frame)
    np.testing.assert_array_equal(back.samples, stereo_noise.samples)


def test_audio_from_packed_int16_pyav_frame() -> None:
    pcm = (np.arange(200, dtype=np.int16) * 100).reshape(1, -1)
    av_frame = av.AudioFrame.from_ndarray(
        np.repeat(pcm, 2, axis=1), format="s16", layout="stereo"
    )
    av_frame.sample_rate = 8000
    frame = rm.AudioFrame.from_av(av_frame)
    assert frame.channels == 2
    np.testing.assert_allclose(frame.samples[0], pcm[0] / 32768.0)
    np.testing.assert_allclose(frame.samples[1], pcm[0] / 32768.0)


def test_video_frame_validation_and_pyav() -> None:
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    frame = rm.VideoFrame(image, timestamp=0.04)
    assert (frame.width, frame.height) == (64, 48)
    back = rm.VideoFrame.from_av(frame.to_av())
    np.testing.assert_array_equal(back.image, image)
    with pytest.raises(ValueError, match="uint8"):
        rm.VideoFrame(image.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        rm.VideoFrame(image[:, :, :2])


def test_frames_pickle_and_compare(sine: rm.AudioFrame) -> None:
    assert pickle.loads(pickle.dumps(sine)) == sine
    assert sine != rm.AudioFrame(sine.samples * 0.5, sine.sample_rate)
    video = rm.VideoFrame(np.zeros((2, 2, 3), np.uint8))
    assert pickle.loads(pickle.dumps(video)) == video


def test_audio_frame_save_takes_the_format_from_the_suffix(
    tmp_path: Path, stereo_noise: rm.AudioFrame
) -> None:
    from remotemedia.nodes import read_audio

    wav = stereo_noise.save(tmp_path / "new" / "dir" / "noise.wav")
    assert wav == tmp_path / "new" / "dir" / "noise.wav"
    np.testing.assert_array_equal(read_audio(wav).samples, stereo_noise.samples)
    flac = read_audio(stereo_noise.save(str(tmp_path / "noise.flac")))
    np.testing.assert_allclose(flac.samples, stereo_noise.samples, atol=2**-22)
    for suffix in ("ogg", "mp3"):
        with av.open(str(stereo_noise.save(tmp_path / f"noise.{suffix}"))) as f:
            stream = f.streams.audio[0]
            assert stream.codec_context.name in ("opus", "mp3", "mp3float")
            assert stream.codec_context.channels == 2
    forced = stereo_noise.save(tmp_path / "noise.bin", format="wav")
    assert read_audio(forced).num_samples == 8000
    with pytest.raises(ValueError, match="cannot tell the audio format of"):
        stereo_noise.save(tmp_path / "noise.xyz")
