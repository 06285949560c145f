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


def test_audio_html_has_player_and_plot(sine: rm.AudioFrame) -> None:
    html = sine._repr_html_()
    assert "<audio" in html and "AudioFrame(1ch, 48000 Hz" in html
    (wav_bytes,) = _data_uris(html, "audio/wav")
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert wav.getframerate() == 48000
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    np.testing.assert_array_equal(pcm, sine.to_int16()[0])
    (png,) = _data_uris(html, "image/png")
    assert _png_size(png) == (800, 480)
    assert sine._repr_png_() == png  # the second repr comes from the cache


def test_audio_player_limits(stereo_noise: rm.AudioFrame) -> None:
    with wave.open(io.BytesIO(display.audio_wav(stereo_noise))) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() == 8000
    four = rm.AudioFrame(np.zeros((4, 100), np.float32), 8000)
    with wave.open(io.BytesIO(display.audio_wav(four))) as wav:
        assert wav.getnchannels() == 1  # mixed down for the browser
    long = rm.AudioFrame(np.zeros((1, 8000 * 130), np.float32), 8000)
    html = display.audio_html(long)
    assert "player: first 120 s of 130.0 s" in html
    (wav_bytes,) = _data_uris(html, "audio/wav")
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert wav.getnframes() == 8000 * 120


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
    finally:
        if created:
            InteractiveShell.clear_instance()
    outputs = [o.data for o in captured.outputs]
    assert "<audio" in outputs[0]["text/html"]
    assert "rm-pipeline" in outputs[1]["text/html"]
    assert outputs[2] == {"text/plain": "hello"}
    assert "image/png" in outputs[3]


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
