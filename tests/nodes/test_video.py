"""Video nodes on real files: the shipped clip and MP4s written to tmp_path."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

import remotemedia as rm
from remotemedia.nodes.video import (
    ColorConvert,
    FrameRateDecimate,
    Resize,
    VideoFileSink,
    VideoFileSource,
)


def _frames(count: int, fps: float = 25.0, size: tuple[int, int] = (64, 48)) -> list:
    """Moving gradient frames with timestamps on a 1/fps grid."""
    width, height = size
    xx = np.arange(width, dtype=np.int32)[None, :]
    out = []
    for index in range(count):
        image = np.zeros((height, width, 3), dtype=np.uint8)
        image[..., 0] = (xx * 4 + index * 8) % 256
        image[..., 1] = np.arange(height, dtype=np.uint8)[:, None] * 5
        image[..., 2] = 128
        out.append(rm.VideoFrame(image, index / fps))
    return out


# -- shipped clip and source ---------------------------------------------------------
def test_shipped_clip_is_small_and_has_video_and_audio() -> None:
    path = rm.data.video()
    assert path.suffix == ".mp4" and path.stat().st_size < 150_000
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == (320, 240)
        assert video.average_rate == 25
        assert audio.codec_context.sample_rate == 48000
        audio_frames = [rm.AudioFrame.from_av(f) for f in container.decode(audio)]
    samples = rm.AudioFrame.concatenate(audio_frames).samples
    assert 2.5 < samples.shape[1] / 48000 < 3.5
    # A sine chirp at about -10 dBFS peak has an RMS near 0.22.
    rms = float(np.sqrt(np.mean(samples**2)))
    assert 0.15 < rms < 0.3


def test_source_decodes_clip_with_timestamps() -> None:
    frames = list(VideoFileSource(rm.data.video()))
    assert len(frames) == 75
    assert all(isinstance(f, rm.VideoFrame) for f in frames)
    assert frames[0].image.shape == (240, 320, 3)
    times = np.array([f.timestamp for f in frames])
    np.testing.assert_allclose(times, np.arange(75) / 25, atol=1e-6)

    # The red disc moves right: its centroid column grows between first and last.
    def red_x(frame: rm.VideoFrame) -> float:
        img = frame.image.astype(int)
        mask = (img[..., 0] > 180) & (img[..., 1] < 100)
        return float(np.nonzero(mask)[1].mean())

    assert red_x(frames[-1]) - red_x(frames[0]) > 200


def test_source_max_frames_and_pipeline() -> None:
    source = VideoFileSource(rm.data.video(), max_frames=5)
    out = rm.Pipeline([source, Resize(32, 24)]).collect()
    assert [f.image.shape for f in out] == [(24, 32, 3)] * 5


def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_frames"):
        VideoFileSource(rm.data.video(), max_frames=0)
    with pytest.raises(ValueError, match="path"):
        VideoFileSource(3)  # type: ignore[arg-type]
    with pytest.raises(
        FileNotFoundError, match="VideoFileSource: video file not found: "
    ):
        list(VideoFileSource(tmp_path / "missing.mp4"))
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ValueError, match="cannot open"):
        list(VideoFileSource(bogus))


def test_source_rejects_audio_only_file(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = rm.AudioFrame(np.zeros((1, 800), np.float32), 8000).to_av()
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(ValueError, match="no video stream"):
        list(VideoFileSource(path))


def test_source_in_failing_pipeline_raises_pipeline_error(tmp_path: Path) -> None:
    pipeline = rm.Pipeline([VideoFileSource(tmp_path / "nope.mp4"), Resize(8, 8)])
    with pytest.raises(FileNotFoundError):
        pipeline.collect()


# -- sink --------------------------------------------------------------------------
def test_sink_writes_readable_mp4_and_passes_frames(tmp_path: Path) -> None:
    path = tmp_path / "out" / "moving.mp4"
    frames = _frames(20)
    sink = VideoFileSink(path, fps=25)
    out = rm.Pipeline([sink]).collect(frames)
    assert out == frames  # passthrough, same objects in order
    assert sink.frames_written == 20
    back = list(VideoFileSource(path))
    assert len(back) == 20
    assert back[0].image.shape == (48, 64, 3)
    np.testing.assert_allclose([f.timestamp for f in back], np.arange(20) / 25)
    # Lossy, but close to the original on a smooth image.
    error = np.abs(back[10].image.astype(int) - frames[10].image.astype(int))
    assert error.mean() < 8
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_sink_mpeg4_codec_and_odd_size(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    frames = _frames(6, size=(33, 21))
    rm.Pipeline([VideoFileSink(path, codec="mpeg4")]).collect(frames)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "mpeg4"
        # Padded by one pixel to even dimensions.
        assert (stream.codec_context.width, stream.codec_context.height) == (34, 22)
    assert len(list(VideoFileSource(path))) == 6


def test_sink_keeps_timing_of_decimated_stream(tmp_path: Path) -> None:
    path = tmp_path / "decimated.mp4"
    pipeline = rm.Pipeline(
        [
            VideoFileSource(rm.data.video(), max_frames=25),
            FrameRateDecimate(5),
            VideoFileSink(path, fps=25),
        ]
    )
    out = pipeline.collect()
    assert len(out) == 5
    back = list(VideoFileSource(path))
    np.testing.assert_allclose(
        [f.timestamp for f in back], [f.timestamp for f in out], atol=1e-6
    )


def test_sink_rescales_later_frames_and_passes_other_types(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mixed.mp4"
    audio = rm.AudioFrame(np.zeros((1, 160), np.float32), 16000)
    frames = _frames(2, size=(64, 48)) + _frames(2, size=(32, 24))
    with caplog.at_level(logging.WARNING, logger="remotemedia.nodes.video"):
        out = rm.Pipeline([VideoFileSink(path)]).collect([audio, *frames])
    assert out[0] is audio
    assert "AudioFrame through unwritten" in caplog.text
    back = list(VideoFileSource(path))
    assert [f.image.shape for f in back] == [(48, 64, 3)] * 4


def test_sink_flush_finalises_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "twice.mp4"
    sink = VideoFileSink(path)
    pipeline = rm.Pipeline([sink])
    pipeline.collect(_frames(3))
    assert len(list(VideoFileSource(path))) == 3
    pipeline.collect(_frames(5))  # a new stream rewrites the file
    assert len(list(VideoFileSource(path))) == 5


def test_sink_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fps"):
        VideoFileSink(tmp_path / "x.mp4", fps=0)
    with pytest.raises(ValueError, match="fps"):
        VideoFileSink(tmp_path / "x.mp4", fps=float("nan"))
    with pytest.raises(ValueError, match="codec 'no-such-codec'"):
        VideoFileSink(tmp_path / "x.mp4", codec="no-such-codec")


# -- transforms ------------------------------------------------------------------------
def test_resize_bilinear_keeps_timestamp() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 20:] = 200
    frame = rm.VideoFrame(image, 1.25)
    out = Resize(20, 10)(frame)
    assert out.image.shape == (10, 20, 3) and out.timestamp == 1.25
    assert out.image[:, :9].max() < 20 and out.image[:, 11:].min() > 180
    big = Resize(80, 40)(frame).image
    # Bilinear upscaling makes intermediate values at the edge.
    assert 20 < int(big[20, 40, 0]) < 180 or 20 < int(big[20, 39, 0]) < 180
    assert Resize(40, 20)(frame) is frame  # already the size: untouched


def test_resize_errors() -> None:
    with pytest.raises(ValueError, match="width"):
        Resize(0, 10)
    with pytest.raises(ValueError, match="height"):
        Resize(10, 2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects a VideoFrame"):
        Resize(4, 4)("text")


def test_color_convert_modes() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    image[0, 0] = (255, 0, 0)
    image[0, 1] = (0, 255, 0)
    image[0, 2] = (0, 0, 255)
    image[1] = 255
    frame = rm.VideoFrame(image, 0.5)
    gray = ColorConvert("gray")(frame)
    assert gray.image.shape == (2, 3, 3) and gray.timestamp == 0.5
    assert (gray.image[..., 0] == gray.image[..., 2]).all()
    assert gray.image[0, :, 0].tolist() == [76, 150, 29]  # BT.601 weights
    assert gray.image[1, 0, 0] == 255
    bgr = ColorConvert("bgr")(frame)
    assert bgr.image[0, 0].tolist() == [0, 0, 255]
    assert ColorConvert("bgr")(bgr) == frame
    assert ColorConvert("rgb")(frame) is frame
    with pytest.raises(ValueError, match="mode"):
        ColorConvert("hsv")  # type: ignore[arg-type]


def test_frame_rate_decimate_average_rate() -> None:
    node = FrameRateDecimate(10)
    frames = _frames(100, fps=25)  # 4 s at 25 fps
    kept = [f for f in frames if node.process(f) is not None]
    assert len(kept) == 40
    gaps = np.diff([f.timestamp for f in kept])
    assert gaps.min() >= 0.08 - 1e-9 and gaps.max() <= 0.12 + 1e-9
    # A slower stream passes untouched.
    slow = FrameRateDecimate(30)
    assert all(slow.process(f) is f for f in _frames(10, fps=25))


def test_frame_rate_decimate_resyncs_and_resets() -> None:
    node = FrameRateDecimate(2)
    stamps = [0.0, 0.1, 0.5, 0.6, 3.0, 3.2, 3.5]  # a gap after 0.6
    kept = [t for t in stamps if node.process(rm.VideoFrame(_img(), t)) is not None]
    assert kept == [0.0, 0.5, 3.0, 3.5]
    node.flush()
    assert node.process(rm.VideoFrame(_img(), 0.1)) is not None  # fresh state
    with pytest.raises(ValueError, match="fps"):
        FrameRateDecimate(-1)


def _img() -> np.ndarray:
    return np.zeros((2, 2, 3), np.uint8)


# -- registry and manifests ------------------------------------------------------------
def test_manifest_round_trip(tmp_path: Path) -> None:
    pipeline = rm.Pipeline(
        [
            VideoFileSource(rm.data.video(), max_frames=3),
            FrameRateDecimate(12.5),
            Resize(16, 12),
            ColorConvert("gray"),
            VideoFileSink(tmp_path / "rt.mp4", fps=12.5, codec="mpeg4"),
        ],
        name="video",
    )
    manifest = pipeline.to_manifest()
    assert manifest["nodes"][0]["config"]["path"] == str(rm.data.video())
    rebuilt = rm.Pipeline.from_manifest(pipeline.to_json())
    assert rebuilt.to_manifest() == manifest
    out = rebuilt.collect()
    assert len(out) == 2 and out[0].image.shape == (12, 16, 3)
    assert (tmp_path / "rt.mp4").stat().st_size > 0


def test_manifest_rejects_bad_choice() -> None:
    manifest = {
        "version": 1,
        "nodes": [{"id": "c", "type": "ColorConvert", "config": {"mode": "hsv"}}],
    }
    with pytest.raises(rm.ManifestError, match="mode"):
        rm.Pipeline.from_manifest(manifest)


def test_registry_lists_video_nodes_with_docs() -> None:
    infos = {info.name: info for info in rm.list_nodes()}
    for name in ("VideoFileSource", "VideoFileSink", "Resize", "ColorConvert"):
        assert name in infos
    mode = next(p for p in infos["ColorConvert"].parameters if p.name == "mode")
    assert mode.choices == ("gray", "bgr", "rgb")
    fps = next(p for p in infos["FrameRateDecimate"].parameters if p.name == "fps")
    assert "frame rate" in fps.doc


def test_sink_falls_back_to_mpeg4_without_h264(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import remotemedia.nodes.video as video

    real = video._encoder_available
    monkeypatch.setattr(
        video, "_encoder_available", lambda c: c != "libx264" and real(c)
    )
    with caplog.at_level(logging.WARNING, logger="remotemedia.nodes.video"):
        sink = VideoFileSink(tmp_path / "fallback.mp4")
    assert sink.codec == "mpeg4" and "mpeg4 instead" in caplog.text
    assert sink.config["codec"] == "libx264"  # the manifest keeps the request
    rm.Pipeline([sink]).collect(_frames(3))
    with av.open(str(tmp_path / "fallback.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"


def test_sink_starts_file_at_first_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "late.mp4"
    frames = [rm.VideoFrame(f.image, 10.0 + f.timestamp) for f in _frames(4)]
    rm.Pipeline([VideoFileSink(path)]).collect(frames)
    back = list(VideoFileSource(path))
    np.testing.assert_allclose([f.timestamp for f in back], np.arange(4) / 25)


def test_resize_keep_aspect_fits_inside_the_box() -> None:
    frame = rm.VideoFrame(np.full((40, 80, 3), 90, np.uint8), 0.5)  # 2:1
    assert Resize(40, 40, keep_aspect=True)(frame).image.shape == (20, 40, 3)
    assert Resize(100, 30, keep_aspect=True)(frame).image.shape == (30, 60, 3)
    assert Resize(80, 40, keep_aspect=True)(frame) is frame
    stretched = Resize(40, 40)(frame)
    assert stretched.image.shape == (40, 40, 3)  # the default still stretches
    # One side given: the other follows the aspect ratio.
    assert Resize(width=20)(frame).image.shape == (10, 20, 3)
    out = Resize(height=7)(frame)
    assert out.image.shape == (7, 14, 3) and out.timestamp == 0.5
    tall = rm.VideoFrame(np.zeros((300, 3, 3), np.uint8))
    assert Resize(50, 50, keep_aspect=True)(tall).image.shape == (50, 1, 3)
    again = rm.Pipeline.from_manifest(
        rm.Pipeline([Resize(64, keep_aspect=True)]).to_manifest()
    )
    assert again.nodes[0].config == {"width": 64, "height": None, "keep_aspect": True}


def test_resize_keep_aspect_errors() -> None:
    with pytest.raises(ValueError, match="Resize: give width, height or both"):
        Resize()
    with pytest.raises(ValueError, match="keep_aspect must be True or False"):
        Resize(10, 10, keep_aspect="yes")  # type: ignore[arg-type]
