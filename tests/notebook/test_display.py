"""Inline display: PNG files, HTML reprs, pipeline diagrams, no figure leaks."""

from __future__ import annotations

import base64
import concurrent.futures
import gc
import io
import re
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import remotemedia as rm
from remotemedia.nodes.text import TextTransform
from remotemedia.nodes.utility import Lambda, Passthrough
from remotemedia.nodes.video import Resize, VideoFileSource
from remotemedia.notebook import display

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.size


def _data_uris(html: str, mime: str) -> list[bytes]:
    pattern = rf'"data:{re.escape(mime)};base64,([A-Za-z0-9+/=]+)"'
    return [base64.b64decode(m) for m in re.findall(pattern, html)]


class FakeSpectrogram:
    """Duck-typed like remotemedia.nodes.features.Spectrogram."""

    def __init__(self, values: np.ndarray, kind: str, db: bool) -> None:
        self.values = values.astype(np.float32)
        self.sample_rate = 16000
        self.hop_length = 128
        self.kind = kind
        self.db = db
        self.fmin = 0.0
        self.fmax = None
        self.timestamp = 0.25


def _chirp(seconds: float = 1.0, rate: int = 16000) -> rm.AudioFrame:
    t = np.arange(int(seconds * rate)) / rate
    return rm.AudioFrame(
        (0.5 * np.sin(2 * np.pi * (300 * t + 1500 * t**2))).astype(np.float32), rate
    )


# -- audio -----------------------------------------------------------------------------
def test_show_audio_saves_png(tmp_path: Path, sine: rm.AudioFrame) -> None:
    target = tmp_path / "plots" / "sine.png"
    assert rm.show(sine, save=target) is None
    width, height = _png_size(target.read_bytes())
    assert (width, height) == (800, 480)


def _decode(data: bytes) -> rm.AudioFrame:
    """Decodes embedded audio bytes with PyAV."""
    import av

    with av.open(io.BytesIO(data)) as container:
        blocks = [rm.AudioFrame.from_av(f).samples for f in container.decode(audio=0)]
        rate = container.streams.audio[0].codec_context.sample_rate
    return rm.AudioFrame(np.concatenate(blocks, axis=1), rate)


def test_audio_html_has_a_compressed_player_and_the_plot(sine: rm.AudioFrame) -> None:
    html = sine._repr_html_()
    assert "<audio" in html and "AudioFrame(1ch, 48000 Hz" in html
    assert "MP3 preview; rm.show(x, full=True) for the original" in html
    assert _data_uris(html, "audio/wav") == []
    (mp3,) = _data_uris(html, "audio/mpeg")
    # 48 kbit/s: a twentieth of the 96 kB of 16-bit WAV for this second of audio.
    assert len(mp3) < 8_000
    heard = _decode(mp3)
    assert heard.sample_rate == 48000 and heard.channels == 1
    assert abs(heard.duration - 1.0) < 0.1
    spectrum = np.abs(np.fft.rfft(heard.samples[0, 4800:43200]))
    assert abs(np.argmax(spectrum) * 48000 / 38400 - 440.0) < 2.0
    (png,) = _data_uris(html, "image/png")
    assert _png_size(png) == (800, 480)
    assert sine._repr_png_() == png  # the second repr comes from the cache


def test_audio_html_full_embeds_the_exact_wav(sine: rm.AudioFrame) -> None:
    html = display.audio_html(sine, full=True)
    assert "player: full-rate WAV" in html and _data_uris(html, "audio/mpeg") == []
    (wav_bytes,) = _data_uris(html, "audio/wav")
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert wav.getframerate() == 48000
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    np.testing.assert_array_equal(pcm, sine.to_int16()[0])


def test_long_clip_player_is_small() -> None:
    rng = np.random.default_rng(5)
    clip = rm.AudioFrame(
        rng.uniform(-0.3, 0.3, (1, 48000 * 20)).astype(np.float32), 48000
    )
    mime, data = display.audio_preview(clip)
    assert mime == "audio/mpeg"
    wav_size = len(display.audio_wav(clip))  # what the player embedded before
    assert wav_size > 1_900_000
    assert len(data) < 20 * 48_000 / 8 * 1.1  # 48 kbit/s, 10% container slack
    assert abs(_decode(data).duration - 20.0) < 0.1


def test_audio_player_limits(stereo_noise: rm.AudioFrame) -> None:
    with wave.open(io.BytesIO(display.audio_wav(stereo_noise))) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() == 8000
    four = rm.AudioFrame(np.zeros((4, 100), np.float32), 8000)
    with wave.open(io.BytesIO(display.audio_wav(four))) as wav:
        assert wav.getnchannels() == 1  # mixed down for the browser
    assert _decode(display.audio_preview(four)[1]).channels == 1
    stereo = _decode(display.audio_preview(stereo_noise)[1])
    assert stereo.channels == 2 and stereo.sample_rate == 16000
    odd_rate = rm.AudioFrame(np.zeros((1, 7000), np.float32), 7000)
    assert _decode(display.audio_preview(odd_rate)[1]).sample_rate == 8000
    long = rm.AudioFrame(np.zeros((1, 8000 * 130), np.float32), 8000)
    html = display.audio_html(long)
    assert "first 120 s of 130.0 s" in html
    (mp3,) = _data_uris(html, "audio/mpeg")
    assert abs(_decode(mp3).duration - 120.0) < 0.2


@pytest.mark.parametrize("samples", [1, 10, 300, 8000 * 90])
def test_audio_png_any_length(samples: int) -> None:
    rng = np.random.default_rng(samples)
    frame = rm.AudioFrame(rng.uniform(-0.1, 0.1, (2, samples)).astype(np.float32), 8000)
    assert _png_size(display.audio_png(frame)) == (800, 480)


def test_audio_silence_renders() -> None:
    silent = rm.AudioFrame(np.zeros((1, 4000), np.float32), 16000)
    assert _png_size(display.audio_png(silent)) == (800, 480)


# -- video -----------------------------------------------------------------------------
def test_video_png_is_pixel_exact(tmp_path: Path) -> None:
    frame = next(iter(VideoFileSource(rm.data.video(), max_frames=1)))
    rm.show(frame, save=tmp_path / "frame.png")
    with Image.open(tmp_path / "frame.png") as image:
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), frame.image)
    assert frame._repr_png_()[:8] == PNG_MAGIC


def test_show_video_frames_as_one_filmstrip(tmp_path: Path) -> None:
    frames = list(VideoFileSource(rm.data.video(), max_frames=15))
    assert len(frames) == 15
    target = tmp_path / "strip.png"
    rm.show(frames, save=target)
    assert not (tmp_path / "strip_0.png").exists()  # one picture, not 15
    width, height = _png_size(target.read_bytes())
    thumb_w = round(frames[0].width * min(96, frames[0].height) / frames[0].height)
    assert height == min(96, frames[0].height)
    assert width == 12 * thumb_w + 11 * 2  # 12 thumbnails, 2 px apart
    html = display.filmstrip_html(frames)
    assert f"15 VideoFrames, {frames[0].width}x{frames[0].height}" in html
    assert "(12 shown; rm.show(frames, full=True) shows all)" in html
    (png,) = _data_uris(html, "image/png")
    full_size = sum(len(display.video_png(f)) for f in frames)
    assert len(png) < full_size / 4
    rm.show(frames[:3], save=tmp_path / "each.png", full=True)
    assert _png_size((tmp_path / "each_2.png").read_bytes()) == (
        frames[0].width,
        frames[0].height,
    )
    with pytest.raises(ValueError, match="non-empty list of VideoFrames"):
        display.filmstrip_png([])


def test_show_image_array(tmp_path: Path) -> None:
    image = np.zeros((5, 7, 3), np.uint8)
    rm.show(image, save=tmp_path / "array.png")
    assert _png_size((tmp_path / "array.png").read_bytes()) == (7, 5)


# -- spectrograms ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "bins", "db"),
    [("stft", 257, False), ("mel", 64, True), ("mfcc", 13, False)],
)
def test_spectrogram_png(tmp_path: Path, kind: str, bins: int, db: bool) -> None:
    rng = np.random.default_rng(0)
    spec = FakeSpectrogram(rng.uniform(0.0, 1.0, (bins, 120)), kind, db)
    target = tmp_path / f"{kind}.png"
    rm.show(spec, save=target)
    width, height = _png_size(target.read_bytes())
    assert (width, height) == (800, 360)


def test_spectrogram_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="2-D"):
        display.spectrogram_png(FakeSpectrogram(np.zeros(5), "stft", False))


# -- pipelines -------------------------------------------------------------------------
def _pipeline() -> rm.Pipeline:
    pipeline = rm.Pipeline(
        [
            VideoFileSource(rm.data.video()),
            Resize(32, 24),
            Lambda(lambda frame: frame, name="<b>odd name</b>"),
            TextTransform("upper"),
            Passthrough(),
        ],
        name="demo",
    )
    pipeline.nodes[1].is_remote = True  # type: ignore[attr-defined]
    return pipeline


def test_pipeline_html_diagram() -> None:
    html = _pipeline()._repr_html_()
    assert "Pipeline demo (5 nodes" in html
    for name in ("VideoFileSource", "Resize", "TextTransform", "Passthrough"):
        assert name in html
    assert "&lt;b&gt;odd name&lt;/b&gt;" in html and "<b>odd" not in html
    assert html.count("rm-node rm-remote") == 1
    assert "width=32" in html and "&#x27;upper&#x27;" in html
    assert html.count("&#8594;") == 4  # arrows between five boxes


@pytest.mark.parametrize("count", [0, 1, 5, 9])
def test_pipeline_png_diagram(tmp_path: Path, count: int) -> None:
    pipeline = rm.Pipeline([Passthrough() for _ in range(count)], name="p$1$")
    target = tmp_path / "pipeline.png"
    rm.show(pipeline, save=target)
    width, height = _png_size(target.read_bytes())
    assert width >= 300 and height >= 100
    if count >= 5:  # wraps onto a second row: taller than a single row
        assert height > _png_size(display.pipeline_png(rm.Pipeline([Passthrough()])))[1]


# -- show() in general -------------------------------------------------------------------
def test_show_lists_and_text(tmp_path: Path, sine: rm.AudioFrame) -> None:
    rm.show([sine, "a transcript"], save=tmp_path / "items.png")
    assert _png_size((tmp_path / "items_0.png").read_bytes()) == (800, 480)
    assert _png_size((tmp_path / "items_1.png").read_bytes())[0] >= 200
    rm.show(["only"], save=tmp_path / "one.png")
    assert (tmp_path / "one.png").exists()


def test_show_outside_ipython_prints_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sine: rm.AudioFrame,
) -> None:
    if "IPython" in sys.modules:  # another test may have started a shell
        from IPython.core.interactiveshell import InteractiveShell

        monkeypatch.setattr(InteractiveShell, "_instance", None)
    assert rm.show(sine) is None
    assert rm.show("text") is None
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_show_in_ipython_publishes_rich_output(sine: rm.AudioFrame) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    created = not InteractiveShell.initialized()
    shell = InteractiveShell.instance(config=config)
    assert shell is not None
    try:
        with capture_output() as captured:
            rm.show(sine)
            rm.show(_pipeline())
            rm.show("hello")
            rm.show(next(iter(VideoFileSource(rm.data.video(), max_frames=1))))
            rm.show(sine, full=True)
            rm.show(list(VideoFileSource(rm.data.video(), max_frames=15)))
    finally:
        if created:
            InteractiveShell.clear_instance()
    outputs = [o.data for o in captured.outputs]
    assert "<audio" in outputs[0]["text/html"]
    assert "rm-pipeline" in outputs[1]["text/html"]
    assert outputs[2] == {"text/plain": "hello"}
    assert "image/png" in outputs[3]
    assert "audio/mpeg" in outputs[0]["text/html"]
    assert "data:audio/wav" in outputs[4]["text/html"]  # full=True
    assert len(outputs) == 6 and "rm-filmstrip" in outputs[5]["text/html"]


def test_renders_release_figures(sine: rm.AudioFrame) -> None:
    from matplotlib.figure import Figure

    def figures() -> int:
        gc.collect()
        # type() rather than isinstance(): dead weak proxies raise on isinstance.
        return sum(issubclass(type(obj), Figure) for obj in gc.get_objects())

    display.audio_png(sine)  # warm-up: imports and caches
    before = figures()
    pipeline = _pipeline()
    for index in range(10):  # 20 renders; new content each time defeats the cache
        frame = rm.AudioFrame(sine.samples[:, : 4800 + index], 48000)
        display.audio_png(frame)
        display.pipeline_png(pipeline)
    import matplotlib.pyplot as plt

    assert figures() <= before
    assert plt.get_fignums() == []  # nothing went through pyplot


def test_renders_from_threads(sine: rm.AudioFrame) -> None:
    frames = [rm.AudioFrame(sine.samples[:, : 2000 * (i + 1)], 48000) for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        pngs = list(pool.map(display.audio_png, frames))
    assert all(_png_size(png) == (800, 480) for png in pngs)


def test_real_spectrogram_class_renders(tmp_path: Path) -> None:
    from remotemedia.nodes.features import Spectrogram

    values = np.abs(np.random.default_rng(3).standard_normal((257, 40)))
    spec = Spectrogram(values.astype(np.float32), 16000, 128, "stft", n_fft=512)
    assert _png_size(spec._repr_png_()) == (800, 360)
    rm.show(spec, save=tmp_path / "spec.png")
    assert _png_size((tmp_path / "spec.png").read_bytes()) == (800, 360)
