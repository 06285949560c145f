"""AudioFileSource, AudioFileSink, read_audio/write_audio and the shipped speech clip."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

import remotemedia as rm
from remotemedia.nodes import AudioFileSink, AudioFileSource, ToneSource
from remotemedia.nodes.audio_io import read_audio, write_audio


def _sine(freq: float, rate: int, seconds: float, channels: int = 1) -> rm.AudioFrame:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    return rm.AudioFrame(np.tile(mono, (channels, 1)).astype(np.float32), rate)


def _dominant_hz(frame: rm.AudioFrame) -> float:
    x = frame.samples[0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * frame.sample_rate / x.size)


# -- the shipped clip -------------------------------------------------------------------
def test_shipped_speech_clip_is_small_opus_mono_48k() -> None:
    path = rm.data.speech()
    assert path.name == "speech.ogg" and path.is_file()
    assert path.stat().st_size < 60_000
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        assert stream.codec_context.sample_rate == 48000
        assert len(stream.layout.channels) == 1
    clip = read_audio(path)
    assert 3.0 <= clip.duration <= 5.0
    # Real speech, not silence: a healthy level with headroom.
    assert 0.3 < float(np.max(np.abs(clip.samples))) <= 1.0


def test_make_speech_script_is_shipped_beside_the_clip() -> None:
    script = rm.data.speech().with_name("make_speech.py")
    text = script.read_text(encoding="utf-8")
    assert "espeak-ng" in text and "libopus" in text


# -- AudioFileSource ----------------------------------------------------------------
def test_source_frames_are_exact_and_continuous() -> None:
    frames = list(AudioFileSource(rm.data.speech()))
    total = read_audio(rm.data.speech())
    assert all(f.sample_rate == 48000 and f.channels == 1 for f in frames)
    assert all(f.num_samples == 960 for f in frames[:-1])
    assert 0 < frames[-1].num_samples <= 960
    expected_t = np.arange(len(frames)) * 0.02
    np.testing.assert_allclose([f.timestamp for f in frames], expected_t, atol=1e-9)
    joined = rm.AudioFrame.concatenate(frames)
    assert joined == total


def test_source_resamples_and_mixes_channels() -> None:
    frames = list(AudioFileSource(rm.data.speech(), sample_rate=16000, channels=2))
    assert {f.sample_rate for f in frames} == {16000}
    assert all(f.num_samples == 320 for f in frames[:-1])
    joined = rm.AudioFrame.concatenate(frames)
    assert joined.channels == 2
    np.testing.assert_array_equal(joined.samples[0], joined.samples[1])
    original = read_audio(rm.data.speech())
    assert abs(joined.num_samples - original.num_samples / 3) <= 64


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3", "ogg"])
def test_source_reads_each_format(tmp_path: Path, ext: str) -> None:
    signal = _sine(1000.0, 48000, 1.0, channels=2)
    path = write_audio(tmp_path / f"tone.{ext}", signal)
    frames = list(AudioFileSource(str(path), frame_ms=10))
    joined = rm.AudioFrame.concatenate(frames)
    assert joined.sample_rate == 48000 and joined.channels == 2
    assert abs(joined.duration - 1.0) < 0.03
    assert abs(_dominant_hz(joined) - 1000.0) < 5.0
    if ext in ("wav", "flac"):
        tolerance = 0.0 if ext == "wav" else 2.0**-22  # 32-bit float / 24-bit PCM
        n = signal.num_samples
        assert np.max(np.abs(joined.samples[:, :n] - signal.samples)) <= tolerance


def test_source_reads_the_audio_of_a_video_file() -> None:
    frames = list(AudioFileSource(rm.data.video(), sample_rate=16000))
    assert frames and {f.sample_rate for f in frames} == {16000}


def test_source_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    source = AudioFileSource(str(missing))
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        list(source)
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        rm.Pipeline([source]).collect()


def test_source_rejects_files_without_audio(tmp_path: Path) -> None:
    video_only = tmp_path / "silent.mp4"
    with av.open(str(video_only), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(3):
            image = np.full((32, 32, 3), index * 40, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(ValueError, match="no audio stream"):
        list(AudioFileSource(str(video_only)))
    not_media = tmp_path / "notes.ogg"
    not_media.write_text("not audio at all")
    with pytest.raises(ValueError, match="notes.ogg"):
        read_audio(not_media)


@pytest.mark.parametrize("bad", [0, -5, float("nan"), "20"])
def test_source_rejects_bad_frame_ms(bad: object) -> None:
    with pytest.raises(ValueError, match="frame_ms"):
        AudioFileSource("x.wav", frame_ms=bad)  # type: ignore[arg-type]


def test_source_rejects_frames_shorter_than_a_sample() -> None:
    source = AudioFileSource(rm.data.speech(), sample_rate=8000, frame_ms=0.01)
    with pytest.raises(ValueError, match="frame_ms"):
        next(iter(source))


def test_source_rejects_bad_rate_and_channels() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        AudioFileSource("x.wav", sample_rate=-1)
    with pytest.raises(ValueError, match="channels"):
        AudioFileSource("x.wav", channels=0)
    with pytest.raises(ValueError, match="path"):
        AudioFileSource("")


# -- AudioFileSink --------------------------------------------------------------------
def test_sink_writes_wav_and_passes_frames_through(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    tone = ToneSource(freq_hz=300, duration_s=0.5, sample_rate=16000)
    expected = list(tone)
    out = rm.Pipeline([tone, AudioFileSink(str(target))]).collect()
    assert out == expected  # unchanged, in order
    written = read_audio(target)
    assert written == rm.AudioFrame.concatenate(expected)


@pytest.mark.parametrize("ext", ["flac", "mp3", "ogg", "opus"])
def test_sink_encodes_compressed_formats(tmp_path: Path, ext: str) -> None:
    target = tmp_path / f"out.{ext}"
    tone = ToneSource(freq_hz=440, duration_s=0.5, sample_rate=48000)
    rm.Pipeline([tone, AudioFileSink(str(target))]).collect()
    back = read_audio(target)
    assert back.sample_rate == 48000
    assert abs(back.duration - 0.5) < 0.03
    assert abs(_dominant_hz(back) - 440.0) < 5.0


def test_sink_opus_stores_unsupported_rates_at_a_supported_one(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.ogg", _sine(500.0, 44100, 0.5))
    back = read_audio(path)
    assert back.sample_rate == 48000
    assert abs(_dominant_hz(back) - 500.0) < 5.0


def test_sink_format_argument_overrides_extension(tmp_path: Path) -> None:
    target = tmp_path / "audio.bin"
    sink = AudioFileSink(str(target), format="flac")
    sink(_sine(440.0, 16000, 0.2))
    sink.flush()
    with av.open(str(target)) as container:
        assert container.streams.audio[0].codec_context.name == "flac"


def test_sink_rejects_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        AudioFileSink(str(tmp_path / "x.xyz"))
    with pytest.raises(ValueError, match="format"):
        AudioFileSink(str(tmp_path / "x.wav"), format="aiff")  # type: ignore[arg-type]


def test_sink_rejects_a_format_change_mid_stream(tmp_path: Path) -> None:
    sink = AudioFileSink(str(tmp_path / "x.wav"))
    frames = [_sine(440.0, 16000, 0.1), _sine(440.0, 48000, 0.1)]
    with pytest.raises(rm.PipelineError, match="16000 Hz"):
        rm.Pipeline([sink]).collect(frames)
    # cleanup() closed the file: what was written before the error is readable.
    assert read_audio(tmp_path / "x.wav").num_samples == 1600
    sink2 = AudioFileSink(str(tmp_path / "y.wav"))
    sink2.process(_sine(440.0, 16000, 0.1, channels=1))
    with pytest.raises(ValueError, match="x1"):
        sink2.process(_sine(440.0, 16000, 0.1, channels=2))
    sink2.cleanup()


def test_sink_rejects_non_audio(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="AudioFrame"):
        AudioFileSink(str(tmp_path / "x.wav"))("text")


def test_sink_new_stream_overwrites_the_file(tmp_path: Path) -> None:
    target = tmp_path / "x.wav"
    pipeline = rm.Pipeline([AudioFileSink(str(target))])
    pipeline.collect([_sine(440.0, 16000, 0.3)])
    pipeline.collect([_sine(440.0, 16000, 0.1)])
    assert read_audio(target).num_samples == 1600


# -- helpers and manifests ----------------------------------------------------------
def test_read_audio_resamples_and_write_audio_checks_type(tmp_path: Path) -> None:
    clip = read_audio(rm.data.speech(), sample_rate=16000)
    assert clip.sample_rate == 16000 and clip.timestamp == 0.0
    with pytest.raises(TypeError, match="AudioFrame"):
        write_audio(tmp_path / "x.wav", np.zeros(10))  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="missing.flac"):
        read_audio(tmp_path / "missing.flac")


def test_file_nodes_round_trip_through_a_manifest(tmp_path: Path) -> None:
    pipeline = rm.Pipeline(
        [
            AudioFileSource(rm.data.speech(), sample_rate=16000, frame_ms=30),
            AudioFileSink(str(tmp_path / "copy.flac")),
        ]
    )
    manifest = pipeline.to_manifest()
    assert manifest["nodes"][0]["config"]["path"] == str(rm.data.speech())
    rebuilt = rm.Pipeline.from_manifest(rm.Pipeline.from_manifest(manifest).to_json())
    assert rebuilt.to_manifest() == manifest
    frames = rebuilt.collect()
    assert {f.num_samples for f in frames[:-1]} == {480}
    assert abs(read_audio(tmp_path / "copy.flac").duration - 4.87) < 0.05


@pytest.mark.parametrize("rate", [44, 999, 384_001, 10**7])
def test_source_refuses_implausible_sample_rates(rate: int) -> None:
    with pytest.raises(ValueError, match="between 1,000 and 384,000 Hz") as info:
        AudioFileSource(str(rm.data.speech()), sample_rate=rate)
    assert "AudioFileSource: sample_rate" in str(info.value)
    if rate == 44:
        assert "44 kHz is 44000" in str(info.value)
    with pytest.raises(ValueError, match="read_audio: sample_rate must be between"):
        read_audio(rm.data.speech(), sample_rate=rate)
    with pytest.raises(ValueError, match="ToneSource: sample_rate must be between"):
        ToneSource(sample_rate=rate)


def test_source_accepts_the_edges_of_the_rate_range() -> None:
    for rate in (1_000, 384_000):
        AudioFileSource(str(rm.data.speech()), sample_rate=rate)
    assert read_audio(rm.data.speech(), sample_rate=1_000).sample_rate == 1_000


def test_missing_audio_and_video_files_read_alike(tmp_path: Path) -> None:
    from remotemedia.nodes import VideoFileSource

    messages = []
    for source in (
        AudioFileSource(str(tmp_path / "a.wav")),
        VideoFileSource(str(tmp_path / "a.mp4")),
    ):
        with pytest.raises(FileNotFoundError) as info:
            rm.Pipeline([source]).collect()
        messages.append(str(info.value))
    assert messages == [
        f"AudioFileSource: audio file not found: '{tmp_path / 'a.wav'}'",
        f"VideoFileSource: video file not found: '{tmp_path / 'a.mp4'}'",
    ]
    with pytest.raises(
        FileNotFoundError,
        match=r"read_audio: audio file not found: " r"'b.wav' \(relative to ",
    ):
        read_audio("b.wav")
