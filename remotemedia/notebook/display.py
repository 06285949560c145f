"""Inline display of frames, spectrograms and pipelines.

:func:`show` displays a value in IPython/Jupyter (and does nothing elsewhere) and can
save it as a PNG. The ``audio_*``, ``video_png``, ``pipeline_*`` and
``spectrogram_png`` functions build the rich reprs of the core types
(``AudioFrame._repr_html_`` and so on).

Figures are drawn on matplotlib's Agg canvas without pyplot's global figure list, so
rendering works headless and from any thread, and every figure is released after
use.

Notebooks keep every output, so the inline player embeds a compressed preview (MP3
at :data:`PREVIEW_KBPS` kbit/s per channel, at most :data:`MAX_PLAYER_SECONDS`
seconds): a 60 s clip costs about 0.5 MB of notebook instead of 8 MB of WAV. The
full-rate WAV is embedded only on request (``rm.show(frame, full=True)``). A list of
VideoFrames shows as one filmstrip of thumbnails (``full=True`` shows every frame).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import logging
import math
import sys
import threading
import wave
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.core.pipeline import Pipeline

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "show",
    "to_png",
    "audio_html",
    "audio_png",
    "audio_preview",
    "audio_wav",
    "video_png",
    "filmstrip_html",
    "filmstrip_png",
    "pipeline_html",
    "pipeline_png",
    "spectrogram_png",
    "text_png",
]

logger = logging.getLogger(__name__)

#: The audio player embeds at most this many seconds (the plot shows everything).
MAX_PLAYER_SECONDS = 120.0
#: Bit rate of the player's compressed preview, in kbit/s per channel.
PREVIEW_KBPS = 48
#: A list of VideoFrames shows at most this many thumbnails, evenly spaced.
FILMSTRIP_FRAMES = 12
#: Thumbnail height in pixels in a filmstrip (the width keeps the aspect ratio).
FILMSTRIP_HEIGHT = 96
#: Waveforms longer than this many samples are drawn as a min/max envelope.
_MAX_PLOT_POINTS = 4000
#: The audio spectrogram is limited to about this many STFT frames.
_MAX_SPEC_FRAMES = 1500

# matplotlib is not thread-safe across figures that share font caches; one lock
# keeps renders from several node threads or kernels' comm threads apart.
_RENDER_LOCK = threading.RLock()
# Jupyter asks an AudioFrame for both HTML (which embeds the PNG) and PNG; a small
# cache keyed by content keeps that to one render.
_AUDIO_PNG_CACHE: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_CACHE_SIZE = 4


# -- public entry point ------------------------------------------------------------
def show(x: Any, save: str | Path | None = None, full: bool = False) -> None:
    """Displays a value inline and/or saves it as a PNG.

    AudioFrames show a player, a waveform and a spectrogram; VideoFrames an image;
    a list of several VideoFrames one filmstrip; pipelines a diagram of their nodes;
    spectrograms a time/frequency plot; strings their text. Other lists and tuples
    show each item. Outside IPython nothing is displayed (only ``save`` has an
    effect).

    Args:
        x: The value to show.
        save: Write the PNG rendering here. For a list of several items (other
            than a filmstrip) the files are numbered: ``plot.png`` becomes
            ``plot_0.png``, ``plot_1.png``, ...
        full: Embed the full data: the audio player gets the whole clip as
            full-rate WAV instead of the compressed preview, and a list of
            VideoFrames shows every frame at full size instead of a filmstrip.

    Example:
        >>> rm.show(frame, save="frame.png")
        >>> rm.show(frame, full=True)  # the original samples, as WAV
    """
    if isinstance(x, (list, tuple)):
        items = list(x)
        if not full and _is_filmstrip(items):
            if save is not None:
                _write_png(save, filmstrip_png(items))
            _display_filmstrip(items)
            return None
        for index, item in enumerate(items):
            target: Path | None = None
            if save is not None:
                target = Path(save)
                if len(items) > 1:
                    target = target.with_name(f"{target.stem}_{index}{target.suffix}")
            show(item, save=target, full=full)
        return None
    if save is not None:
        _write_png(save, to_png(x))
    _display(x, full)
    return None


def _write_png(save: str | Path, png: bytes) -> None:
    path = Path(save)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


def to_png(x: Any) -> bytes:
    """Renders any value :func:`show` understands as PNG bytes."""
    if isinstance(x, AudioFrame):
        return audio_png(x)
    if isinstance(x, VideoFrame):
        return video_png(x)
    if isinstance(x, Pipeline):
        return pipeline_png(x)
    if _is_spectrogram(x):
        return spectrogram_png(x)
    if isinstance(x, str):
        return text_png(x)
    if _is_image_array(x):
        return video_png(VideoFrame(x))
    repr_png = getattr(x, "_repr_png_", None)
    if callable(repr_png):
        data = repr_png()
        if isinstance(data, bytes):
            return data
    return text_png(repr(x))


def _in_ipython() -> Any:
    # Only look at IPython when it is already loaded: importing it costs time and
    # means nothing outside a kernel or shell.
    module = sys.modules.get("IPython")
    return module.get_ipython() if module is not None else None


def _display(x: Any, full: bool = False) -> None:
    if _in_ipython() is None:
        return
    from IPython.display import HTML, Image, display

    if isinstance(x, AudioFrame):
        display(HTML(audio_html(x, full=full)))
    elif isinstance(x, Pipeline):
        display(HTML(pipeline_html(x)))
    elif isinstance(x, VideoFrame) or _is_image_array(x):
        frame = x if isinstance(x, VideoFrame) else VideoFrame(x)
        display(Image(data=video_png(frame), format="png"))
    elif _is_spectrogram(x):
        display(Image(data=spectrogram_png(x), format="png"))
    elif isinstance(x, str):
        display({"text/plain": x}, raw=True)
    else:
        display(x)


def _is_filmstrip(items: list[Any]) -> bool:
    return len(items) > 1 and all(isinstance(item, VideoFrame) for item in items)


def _display_filmstrip(frames: list[VideoFrame]) -> None:
    if _in_ipython() is None:
        return
    from IPython.display import HTML, display

    display(HTML(filmstrip_html(frames)))


def _is_spectrogram(x: Any) -> bool:
    return all(
        hasattr(x, attr) for attr in ("values", "sample_rate", "hop_length", "kind")
    ) and isinstance(getattr(x, "values", None), np.ndarray)


def _is_image_array(x: Any) -> bool:
    return (
        isinstance(x, np.ndarray)
        and x.dtype == np.uint8
        and x.ndim == 3
        and x.shape[2] == 3
        and x.size > 0
    )


# -- figure plumbing -----------------------------------------------------------------
def _figure(
    width_in: float,
    height_in: float,
    dpi: int = 100,
    layout: Literal["constrained"] | None = "constrained",
) -> Figure:
    """A figure on its own Agg canvas, outside pyplot (nothing global to close)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=fig.dpi)
    finally:
        # Break the artist <-> figure references so the memory goes at once.
        fig.clear()
    return buffer.getvalue()


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# -- audio -----------------------------------------------------------------------------
def audio_wav(
    frame: AudioFrame, max_seconds: float | None = MAX_PLAYER_SECONDS
) -> bytes:
    """Encodes a frame as 16-bit PCM WAV bytes (more than 2 channels are mixed down).

    Args:
        frame: The audio.
        max_seconds: Keep only this many seconds (None keeps everything).
    """
    source = frame if frame.channels <= 2 else frame.to_mono()
    pcm = source.to_int16()
    if max_seconds is not None:
        pcm = pcm[:, : int(max_seconds * frame.sample_rate)]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(pcm.shape[0])
        wav.setsampwidth(2)
        wav.setframerate(frame.sample_rate)
        wav.writeframes(np.ascontiguousarray(pcm.T).astype("<i2").tobytes())
    return buffer.getvalue()


def audio_preview(
    frame: AudioFrame, max_seconds: float | None = MAX_PLAYER_SECONDS
) -> tuple[str, bytes]:
    """The player's compressed preview: ``(mime type, bytes)``.

    MP3 (libmp3lame through PyAV) at :data:`PREVIEW_KBPS` kbit/s per channel, at
    the frame's rate when MP3 stores it (else the nearest rate above, or 48 kHz);
    more than 2 channels are mixed down. Should this FFmpeg build lack the encoder,
    the preview is 16 kHz 16-bit WAV instead.

    Args:
        frame: The audio.
        max_seconds: Keep only this many seconds (None keeps everything).
    """
    source = frame if frame.channels <= 2 else frame.to_mono()
    if max_seconds is not None and source.duration > max_seconds:
        keep = int(max_seconds * source.sample_rate)
        source = AudioFrame._trusted(
            source.samples[:, :keep], source.sample_rate, source.timestamp
        )
    try:
        return "audio/mpeg", _encode_mp3(source)
    except Exception as exc:  # noqa: BLE001 - any encoder failure: plain WAV
        logger.info("MP3 preview unavailable (%s); embedding 16 kHz WAV", exc)
    import soxr

    mono = source.to_mono()
    low = soxr.resample(mono.samples[0], mono.sample_rate, 16000)
    return "audio/wav", audio_wav(AudioFrame(low, 16000), max_seconds=None)


def _encode_mp3(frame: AudioFrame) -> bytes:
    import av

    codec = av.codec.Codec("libmp3lame", "w")
    rates = sorted(codec.audio_rates or [frame.sample_rate])
    rate = frame.sample_rate
    if rate not in rates:
        rate = min([r for r in rates if r >= rate] or [rates[-1]])
    buffer = io.BytesIO()
    layout = "mono" if frame.channels == 1 else "stereo"
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout=layout)
        stream.bit_rate = PREVIEW_KBPS * 1000 * frame.channels
        if frame.num_samples:
            for packet in stream.encode(frame.to_av()):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def audio_html(frame: AudioFrame, full: bool = False) -> str:
    """HTML for an AudioFrame: a description, an audio player and the plot.

    Args:
        frame: The audio.
        full: Embed the whole clip as full-rate 16-bit WAV instead of the
            compressed preview (see :func:`audio_preview`).
    """
    if full:
        mime, data = "audio/wav", audio_wav(frame, max_seconds=None)
        note = " (player: full-rate WAV)"
    else:
        mime, data = audio_preview(frame)
        kind = "MP3" if mime == "audio/mpeg" else "16 kHz WAV"
        note = f" (player: {kind} preview; rm.show(x, full=True) for the original"
        if frame.duration > MAX_PLAYER_SECONDS:
            note += f"; first {MAX_PLAYER_SECONDS:.0f} s of {frame.duration:.1f} s"
        note += ")"
    return (
        '<div class="rm-audio-frame">'
        f'<div style="font-family:monospace">{html.escape(frame.describe())}'
        f'<span style="color:#888">{html.escape(note)}</span></div>'
        f'<audio controls preload="metadata" src="{_data_uri(mime, data)}">'
        "</audio><br>"
        f'<img alt="waveform and spectrogram" style="max-width:100%" '
        f'src="{_data_uri("image/png", audio_png(frame))}"/>'
        "</div>"
    )


def audio_png(frame: AudioFrame) -> bytes:
    """PNG of an AudioFrame: waveform on top, log-frequency spectrogram below."""
    digest = hashlib.blake2b(
        np.ascontiguousarray(frame.samples).tobytes(), digest_size=16
    ).digest()
    key = (digest, frame.samples.shape, frame.sample_rate, frame.timestamp)
    with _RENDER_LOCK:
        cached = _AUDIO_PNG_CACHE.get(key)
        if cached is not None:
            _AUDIO_PNG_CACHE.move_to_end(key)
            return cached
        png = _render_audio(frame)
        _AUDIO_PNG_CACHE[key] = png
        while len(_AUDIO_PNG_CACHE) > _CACHE_SIZE:
            _AUDIO_PNG_CACHE.popitem(last=False)
    return png


def _envelope(
    samples: np.ndarray, rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max per bucket so that long audio plots with a few thousand points."""
    n = samples.shape[-1]
    bucket = math.ceil(n / (_MAX_PLOT_POINTS // 2))
    count = math.ceil(n / bucket)
    padded = np.pad(samples, ((0, 0), (0, count * bucket - n)), mode="edge")
    blocks = padded.reshape(samples.shape[0], count, bucket)
    times = (np.arange(count) * bucket + bucket / 2) / rate
    return times, blocks.min(axis=2), blocks.max(axis=2)


def _stft_magnitude(signal: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| with a periodic Hann window and centred, zero-padded frames.

    Matches ``librosa.stft`` defaults; done in numpy because importing librosa's
    spectral module (numba) takes seconds, too slow for a first display.
    """
    padded = np.pad(signal.astype(np.float32), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(
        np.float32
    )
    return np.abs(np.fft.rfft(frames * window, axis=1)).T.astype(np.float32)


def _to_db(values: np.ndarray, power: bool, top_db: float = 80.0) -> np.ndarray:
    """dB relative to the peak, floored ``top_db`` below it (librosa's ``*_to_db``)."""
    scale = 10.0 if power else 20.0
    amin = 1e-10 if power else 1e-5
    floor = np.maximum(values, amin)
    db = scale * np.log10(floor) - scale * np.log10(max(float(floor.max()), amin))
    return np.maximum(db, db.max() - top_db).astype(np.float32)


def _render_audio(frame: AudioFrame) -> bytes:
    import librosa.display

    fig = _figure(8.0, 4.8)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.6], width_ratios=[1, 0.025])
    wave_ax = fig.add_subplot(grid[0, 0])
    spec_ax = fig.add_subplot(grid[1, 0], sharex=wave_ax)
    fig.add_subplot(grid[0, 1]).set_axis_off()  # keeps the two plots aligned
    bar_ax = fig.add_subplot(grid[1, 1])

    rate, n = frame.sample_rate, frame.num_samples
    duration = max(frame.duration, 1.0 / rate)
    wave_ax.set_title(frame.describe(), fontsize=10)
    wave_ax.set_ylabel("amplitude")
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    for channel in range(frame.channels):
        color = colors[channel % len(colors)]
        label = f"ch {channel}" if frame.channels > 1 else None
        samples = frame.samples[channel : channel + 1]
        if n > _MAX_PLOT_POINTS:
            times, low, high = _envelope(samples, rate)
            wave_ax.fill_between(
                times, low[0], high[0], color=color, alpha=0.7, lw=0, label=label
            )
        elif n:
            wave_ax.plot(
                np.arange(n) / rate, samples[0], color=color, lw=0.8, label=label
            )
    if frame.channels > 1:
        wave_ax.legend(loc="upper right", fontsize=8)
    peak = float(np.max(np.abs(frame.samples))) if n else 0.0
    limit = 1.0 if peak > 0.5 or peak == 0 else peak * 1.1
    wave_ax.set_ylim(-limit, limit)
    wave_ax.tick_params(labelbottom=False)
    wave_ax.grid(alpha=0.3)

    mono = frame.to_mono().samples[0]
    if n >= 16:
        # ~40 ms window (a power of two), hop chosen so long audio stays light.
        n_fft = min(4096, 2 ** math.ceil(math.log2(max(64, rate * 0.04))))
        n_fft = min(n_fft, 2 ** int(math.log2(n)))
        hop = max(n_fft // 4, math.ceil(n / _MAX_SPEC_FRAMES))
        db = _to_db(_stft_magnitude(mono, n_fft, hop), power=False)
        image = librosa.display.specshow(
            db,
            sr=rate,
            hop_length=hop,
            n_fft=n_fft,
            x_axis="s",
            y_axis="log",
            ax=spec_ax,
            cmap="magma",
        )
        fig.colorbar(image, cax=bar_ax, format="%+2.0f dB", label="dB (re peak)")
    else:
        spec_ax.text(
            0.5,
            0.5,
            "too short for a spectrogram",
            ha="center",
            va="center",
            transform=spec_ax.transAxes,
        )
        bar_ax.set_axis_off()
    spec_ax.set_xlim(0.0, duration)
    spec_ax.set_xlabel("time (s)")
    spec_ax.set_ylabel("frequency (Hz)")
    return _png_bytes(fig)


# -- video ---------------------------------------------------------------------------
def video_png(frame: VideoFrame) -> bytes:
    """The frame's image as PNG bytes, pixel for pixel."""
    from PIL import Image  # pillow is a matplotlib dependency

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame.image), mode="RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _thumbnails(frames: list[VideoFrame]) -> list[VideoFrame]:
    """Up to :data:`FILMSTRIP_FRAMES` frames, evenly spaced, first and last kept."""
    if len(frames) <= FILMSTRIP_FRAMES:
        return frames
    picks = np.linspace(0, len(frames) - 1, FILMSTRIP_FRAMES).round().astype(int)
    return [frames[i] for i in picks]


def filmstrip_png(frames: list[VideoFrame]) -> bytes:
    """One PNG of evenly spaced thumbnails of ``frames``, side by side.

    At most :data:`FILMSTRIP_FRAMES` thumbnails, each :data:`FILMSTRIP_HEIGHT`
    pixels high (never enlarged), separated by a 2-pixel gap.

    Raises:
        ValueError: If ``frames`` is empty or holds something other than VideoFrames.
    """
    from PIL import Image

    if not frames or not all(isinstance(f, VideoFrame) for f in frames):
        raise ValueError("filmstrip_png expects a non-empty list of VideoFrames")
    thumbs = []
    for frame in _thumbnails(frames):
        image = Image.fromarray(np.ascontiguousarray(frame.image), mode="RGB")
        height = min(FILMSTRIP_HEIGHT, frame.height)
        width = max(1, round(frame.width * height / frame.height))
        thumbs.append(image.resize((width, height), Image.Resampling.BILINEAR))
    gap = 2
    strip = Image.new(
        "RGB",
        (
            sum(t.width for t in thumbs) + gap * (len(thumbs) - 1),
            max(t.height for t in thumbs),
        ),
        (255, 255, 255),
    )
    x = 0
    for thumb in thumbs:
        strip.paste(thumb, (x, 0))
        x += thumb.width + gap
    buffer = io.BytesIO()
    strip.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def filmstrip_html(frames: list[VideoFrame]) -> str:
    """HTML for a list of VideoFrames: a one-line summary and :func:`filmstrip_png`."""
    shown = len(_thumbnails(frames))
    first, last = frames[0], frames[-1]
    summary = (
        f"{_count(len(frames), 'VideoFrame')}, {first.width}x{first.height}, "
        f"t={first.timestamp:.3f}-{last.timestamp:.3f}s"
    )
    if shown < len(frames):
        summary += f" ({shown} shown; rm.show(frames, full=True) shows all)"
    return (
        '<div class="rm-filmstrip">'
        f'<div style="font-family:monospace">{html.escape(summary)}</div>'
        f'<img alt="filmstrip" style="max-width:100%" '
        f'src="{_data_uri("image/png", filmstrip_png(frames))}"/>'
        "</div>"
    )


# -- spectrograms ----------------------------------------------------------------------
def spectrogram_png(spec: Any) -> bytes:
    """PNG of a Spectrogram (``remotemedia.nodes.features``) with labelled axes.

    Works on any object with ``values`` (bins, frames), ``sample_rate``,
    ``hop_length`` and ``kind`` ("stft", "mel" or "mfcc"); ``db``, ``fmin``,
    ``fmax``, ``n_fft`` and ``timestamp`` are used when present.
    """
    import librosa.display

    values = np.asarray(spec.values, dtype=np.float32)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(
            f"spectrogram values must be a non-empty 2-D array, got {values.shape}"
        )
    kind = str(spec.kind)
    is_db = bool(getattr(spec, "db", False))
    kwargs: dict[str, Any] = {}
    bar_label = "dB"
    if kind == "stft":
        y_axis: str | None = "log"
        if not is_db:
            values = _to_db(values, power=False)
            bar_label = "dB (re peak)"
        n_fft = getattr(spec, "n_fft", None)
        if n_fft:
            kwargs["n_fft"] = int(n_fft)
    elif kind == "mel":
        y_axis = "mel"
        if not is_db:
            values = _to_db(values, power=True)
            bar_label = "dB (re peak)"
        for attr in ("fmin", "fmax"):
            if getattr(spec, attr, None) is not None:
                kwargs[attr] = float(getattr(spec, attr))
    else:
        y_axis = None
        bar_label = "value"

    with _RENDER_LOCK:
        fig = _figure(8.0, 3.6)
        ax = fig.add_subplot()
        image = librosa.display.specshow(
            values,
            sr=int(spec.sample_rate),
            hop_length=int(spec.hop_length),
            x_axis="s",
            y_axis=y_axis,
            ax=ax,
            cmap="magma" if y_axis else "coolwarm",
            **kwargs,
        )
        fmt = "%+2.0f dB" if bar_label.startswith("dB") else None
        fig.colorbar(image, ax=ax, format=fmt, label=bar_label)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(
            "frequency (Hz)"
            if y_axis
            else ("MFCC coefficient" if kind == "mfcc" else "bin")
        )
        if y_axis is None:
            # specshow hides the ticks of a plain axis; rows are worth numbering.
            from matplotlib.ticker import MaxNLocator, ScalarFormatter

            ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
            ax.yaxis.set_major_formatter(ScalarFormatter())
        start = float(getattr(spec, "timestamp", 0.0) or 0.0)
        ax.set_title(
            f"{kind} ({values.shape[0]} x {values.shape[1]}, {spec.sample_rate} Hz, "
            f"hop {spec.hop_length}, t={start:.3f}s)",
            fontsize=10,
        )
        return _png_bytes(fig)


# -- pipelines -----------------------------------------------------------------------
def _short(value: Any, limit: int = 24) -> str:
    """A compact text for a config value (long paths keep their file name end)."""
    if isinstance(value, str):
        if len(value) + 2 <= limit:
            return repr(value)
        return "'\u2026" + value[-(limit - 3) :] + "'"
    if callable(value) and hasattr(value, "__name__"):
        text = f"{value.__name__}()" if value.__name__ != "<lambda>" else "lambda"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _config_lines(node: Any, max_items: int = 3) -> list[str]:
    config = getattr(node, "config", {}) or {}
    lines = [
        f"{key}={_short(value)}" for key, value in list(config.items())[:max_items]
    ]
    if len(config) > max_items:
        lines.append(f"+{len(config) - max_items} more")
    return lines


def _node_tags(node: Any) -> list[str]:
    from remotemedia.core.node import Source

    tags = []
    if getattr(node, "is_remote", False) is True:
        tags.append("remote")
    if isinstance(node, Source):
        tags.append("source")
    return tags


def _type_name(node: Any) -> str:
    registry_name = getattr(type(node), "registry_name", None)
    return str(registry_name()) if callable(registry_name) else type(node).__name__


def pipeline_html(pipeline: Pipeline) -> str:
    """HTML diagram of a pipeline: one box per node, arrows in data-flow order.

    Remote nodes (``is_remote`` true) have a dashed orange border and a "remote" tag.
    """
    header = (
        f'<div style="font-weight:bold;margin-bottom:4px">Pipeline '
        f"{html.escape(pipeline.name)} ({_count(len(pipeline), 'node')}, "
        f"on_error={html.escape(pipeline.on_error)})</div>"
    )
    parts = []
    for index, node in enumerate(pipeline.nodes):
        tags = _node_tags(node)
        remote = "remote" in tags
        border = "2px dashed #e07b00" if remote else "2px solid #4a6fa5"
        background = "#fff4e5" if remote else "#eef3fb"
        badges = "".join(
            '<span style="font-size:75%;border-radius:3px;padding:0 4px;'
            f'margin-left:4px;background:{"#e07b00" if t == "remote" else "#4a6fa5"};'
            f'color:white">{html.escape(t)}</span>'
            for t in tags
        )
        config = "<br>".join(html.escape(line) for line in _config_lines(node))
        parts.append(
            f'<div class="rm-node{" rm-remote" if remote else ""}" '
            f'style="border:{border};border-radius:6px;padding:4px 8px;'
            f'background:{background};color:#222;min-width:90px">'
            f'<div style="font-weight:bold">{html.escape(node.name)}{badges}</div>'
            f'<div style="font-size:85%;color:#555">{html.escape(_type_name(node))}'
            "</div>"
            f'<div style="font-size:80%;font-family:monospace">{config}</div></div>'
        )
        if index < len(pipeline) - 1:
            parts.append('<div style="font-size:20px;color:#888">&#8594;</div>')
    if not parts:
        parts.append('<div style="color:#888">(empty pipeline)</div>')
    return (
        '<div class="rm-pipeline" style="font-family:sans-serif;font-size:13px">'
        f"{header}"
        '<div style="display:flex;flex-wrap:wrap;align-items:center;gap:6px">'
        f'{"".join(parts)}</div></div>'
    )


def pipeline_png(pipeline: Pipeline) -> bytes:
    """PNG diagram of a pipeline (the same boxes and arrows as :func:`pipeline_html`)."""
    from matplotlib.patches import FancyBboxPatch

    nodes = list(pipeline.nodes)
    per_row = max(1, min(len(nodes), 4))
    rows = max(1, math.ceil(len(nodes) / per_row))
    box_w, box_h, gap_x, gap_y = 2.6, 1.3, 0.9, 0.8
    width = per_row * box_w + (per_row - 1) * gap_x
    height = rows * box_h + (rows - 1) * gap_y
    with _RENDER_LOCK:
        fig = _figure(max(3.0, 0.9 * width + 0.4), 0.9 * height + 0.8)
        ax = fig.add_subplot()
        ax.set_xlim(-0.1, width + 0.1)
        ax.set_ylim(-0.1, height + 0.1)
        ax.set_axis_off()
        ax.set_title(
            f"Pipeline {pipeline.name} ({_count(len(nodes), 'node')})",
            fontsize=10,
            parse_math=False,
        )
        if not nodes:
            ax.text(width / 2, height / 2, "(empty pipeline)", ha="center", va="center")
        corners = []
        for index, node in enumerate(nodes):
            row, col = divmod(index, per_row)
            x = col * (box_w + gap_x)
            y = height - (row + 1) * box_h - row * gap_y
            corners.append((x, y))
            tags = _node_tags(node)
            remote = "remote" in tags
            ax.add_patch(
                FancyBboxPatch(
                    (x, y),
                    box_w,
                    box_h,
                    boxstyle="round,pad=0.02,rounding_size=0.12",
                    facecolor="#fff4e5" if remote else "#eef3fb",
                    edgecolor="#e07b00" if remote else "#4a6fa5",
                    linestyle="--" if remote else "-",
                    linewidth=1.5,
                )
            )
            title = _clip(node.name, 20) + (f" [{', '.join(tags)}]" if tags else "")
            ax.text(
                x + 0.1,
                y + box_h - 0.12,
                title,
                va="top",
                fontsize=9,
                fontweight="bold",
                parse_math=False,
            )
            ax.text(
                x + 0.1,
                y + box_h - 0.42,
                _type_name(node),
                va="top",
                fontsize=8,
                color="#555555",
                parse_math=False,
            )
            ax.text(
                x + 0.1,
                y + box_h - 0.68,
                "\n".join(_config_lines(node, 2)),
                va="top",
                fontsize=7,
                family="monospace",
                parse_math=False,
            )
        for (x0, y0), (x1, y1) in zip(corners, corners[1:]):
            if abs(y0 - y1) < 1e-9:  # same row: right edge to left edge
                start, end = (x0 + box_w, y0 + box_h / 2), (x1, y1 + box_h / 2)
            else:  # next row: bottom of the last box to the top of the first
                start, end = (x0 + box_w / 2, y0), (x1 + box_w / 2, y1 + box_h)
            ax.annotate(
                "",
                xy=end,
                xytext=start,
                arrowprops={"arrowstyle": "-|>", "color": "#666666", "lw": 1.2},
            )
        return _png_bytes(fig)


# -- text --------------------------------------------------------------------------------
def text_png(text: str, max_lines: int = 40, width: int = 100) -> bytes:
    """Renders text (monospace, wrapped) as a PNG."""
    import textwrap

    lines: list[str] = []
    for line in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(line, width) or [""])
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [
            f"... ({len(lines) - max_lines + 1} more lines)"
        ]
    longest = max(len(line) for line in lines)
    with _RENDER_LOCK:
        fig = _figure(
            max(2.0, 0.075 * longest + 0.4), 0.18 * len(lines) + 0.3, layout=None
        )
        fig.text(
            0.02,
            0.98,
            "\n".join(lines),
            va="top",
            ha="left",
            family="monospace",
            fontsize=9,
            parse_math=False,
        )
        return _png_bytes(fig)
