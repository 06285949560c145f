"""Audio files in and out: a file source node, a file sink node and two helpers.

Decoding goes through PyAV (FFmpeg), so any format it reads works: wav, flac, mp3,
ogg/opus, m4a, and the audio track of video files. WAV is written with soundfile;
other formats are encoded with PyAV, chosen by the file extension.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Node, Source
from remotemedia.core.registry import register_node
from remotemedia.nodes._checks import (
    check_number,
    check_sample_rate,
    require_audio,
    require_file,
)
from remotemedia.nodes.audio import frame_samples, mix_channels

__all__ = ["AudioFileSource", "AudioFileSink", "read_audio", "write_audio"]

logger = logging.getLogger(__name__)

AudioFormat = Literal["wav", "flac", "mp3", "ogg", "opus"]

# format -> (container, encoder). Ogg always carries Opus here: FFmpeg's own Vorbis
# encoder is experimental.
_PYAV_FORMATS: dict[str, tuple[str, str]] = {
    "flac": ("flac", "flac"),
    "mp3": ("mp3", "libmp3lame"),
    "ogg": ("ogg", "libopus"),
    "opus": ("ogg", "libopus"),
}
_FORMATS = ("wav", *_PYAV_FORMATS)


def _open(target: Path) -> Any:
    """Opens a media file with PyAV and returns (container, first audio stream).

    Raises:
        ValueError: If it is not a media file PyAV reads or has no audio stream.
    """
    import av

    try:
        container = av.open(str(target))
    except (av.error.FFmpegError, EOFError) as exc:
        raise ValueError(f"cannot open '{target}' as media: {exc}") from exc
    if not container.streams.audio:
        container.close()
        raise ValueError(f"'{target}' has no audio stream")
    return container, container.streams.audio[0]


def _decode(
    path: str | os.PathLike[str], sample_rate: int | None, channels: int | None
) -> Iterator[np.ndarray]:
    """Yields the decoded audio of ``path`` as float32 ``(channels, n)`` blocks.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file has no audio stream or cannot be decoded.
    """
    import av

    target = Path(os.fspath(path))
    container, stream = _open(target)
    with container:
        resampler: Any = None
        try:
            for frame in container.decode(stream):
                if sample_rate is not None and resampler is None:
                    resampler = av.AudioResampler(
                        format="fltp", layout=frame.layout.name, rate=sample_rate
                    )
                converted = resampler.resample(frame) if resampler else [frame]
                for item in converted:
                    yield _to_array(item, channels)
            if resampler is not None:
                for item in resampler.resample(None):
                    yield _to_array(item, channels)
        except av.error.FFmpegError as exc:
            raise ValueError(f"cannot decode audio of '{target}': {exc}") from exc


def _to_array(frame: Any, channels: int | None) -> np.ndarray:
    samples = AudioFrame.from_av(frame).samples
    return samples if channels is None else mix_channels(samples, channels)


def _rate_of(path: Path) -> int:
    container, stream = _open(path)
    with container:
        return int(stream.codec_context.sample_rate)


@register_node
class AudioFileSource(Source):
    """Reads an audio file and emits it as a stream of fixed-length frames.

    The file is decoded with PyAV (any format FFmpeg reads: wav, mp3, flac,
    ogg/opus, m4a, the audio of a video). With ``sample_rate`` the audio is
    converted by PyAV's ``AudioResampler`` (planar float) to that rate; with
    ``channels`` the channels are mapped as :class:`ChannelMix` does. Frames hold
    exactly ``round(rate * frame_ms / 1000)`` samples (the last may be shorter) and
    their timestamps run continuously from 0 (the container's start time is
    ignored). Each run reads the file anew.

    Args:
        path: Path of the audio file.
        sample_rate: Output sample rate in Hz (1,000 to 384,000); None keeps the
            file's rate.
        frame_ms: Frame duration in milliseconds.
        channels: Number of output channels; None keeps the file's channels.

    Raises:
        ValueError: If a parameter is invalid; while reading, if the file has no
            audio stream or cannot be decoded.
        FileNotFoundError: While reading, if the file does not exist.
    """

    output_kind = "audio"

    def __init__(
        self,
        path: str,
        sample_rate: int | None = None,
        frame_ms: float = 20.0,
        channels: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise ValueError(f"AudioFileSource: path must be a file path, got {path!r}")
        if sample_rate is not None:
            check_sample_rate("AudioFileSource", "sample_rate", sample_rate)
        check_number("AudioFileSource", "frame_ms", frame_ms, positive=True)
        if channels is not None:
            check_number(
                "AudioFileSource", "channels", channels, positive=True, integer=True
            )
        # Manifests hold JSON: keep the path as text even when given a Path.
        self.path = str(os.fspath(path))
        self._config["path"] = self.path
        self.sample_rate = None if sample_rate is None else int(sample_rate)
        self.frame_ms = float(frame_ms)
        self.channels = None if channels is None else int(channels)

    def frames(self) -> Iterator[AudioFrame]:
        target = require_file(self.name, "audio", self.path)
        rate = self.sample_rate or _rate_of(target)
        size = frame_samples(rate, self.frame_ms)
        if size < 1:
            raise ValueError(
                f"AudioFileSource: frame_ms={self.frame_ms:g} is shorter than one "
                f"sample at {rate} Hz"
            )
        pending: np.ndarray | None = None
        emitted = 0
        for block in _decode(target, self.sample_rate, self.channels):
            if pending is not None and pending.shape[1]:
                block = np.concatenate([pending, block], axis=1)
            full = block.shape[1] // size
            for index in range(full):
                chunk = block[:, index * size : (index + 1) * size]
                yield AudioFrame(np.ascontiguousarray(chunk), rate, emitted / rate)
                emitted += size
            pending = block[:, full * size :]
        if pending is not None and pending.shape[1]:
            yield AudioFrame(np.ascontiguousarray(pending), rate, emitted / rate)


class _Writer:
    """An open output file: soundfile for WAV, PyAV for the compressed formats."""

    def __init__(self, path: Path, fmt: str, rate: int, channels: int) -> None:
        self.rate, self.channels = rate, channels
        self._sf: Any = None
        self._container: Any = None
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "wav":
            import soundfile as sf

            self._sf = sf.SoundFile(
                str(path),
                "w",
                samplerate=rate,
                channels=channels,
                format="WAV",
                subtype="FLOAT",
            )
            return
        import av

        container_name, codec_name = _PYAV_FORMATS[fmt]
        codec = av.codec.Codec(codec_name, "w")
        out_rate = rate
        rates = list(codec.audio_rates or [])
        if rates and rate not in rates:
            # The codec cannot store this rate: use the nearest rate above it.
            higher = [r for r in rates if r >= rate]
            out_rate = min(higher) if higher else max(rates)
            logger.info("%s cannot store %d Hz; encoding at %d Hz", fmt, rate, out_rate)
        layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
        self._container = av.open(str(path), "w", format=container_name)
        try:
            self._stream = self._container.add_stream(
                codec_name, rate=out_rate, layout=layout
            )
            if fmt == "flac":
                self._stream.codec_context.format = "s32"
        except Exception:
            self._container.close()
            raise

    def write(self, frame: AudioFrame) -> None:
        if self._sf is not None:
            self._sf.write(frame.samples.T)
            return
        # PyAV's encoder converts format, rate and frame size as the codec needs.
        for packet in self._stream.encode(frame.to_av()):
            self._container.mux(packet)

    def close(self) -> None:
        if self._sf is not None:
            self._sf.close()
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()


def _format_of(path: str, fmt: str | None) -> str:
    if fmt is None:
        fmt = Path(path).suffix.lower().lstrip(".")
        if fmt not in _FORMATS:
            raise ValueError(
                f"cannot tell the audio format of '{path}' from its extension; "
                f"pass format= one of {', '.join(_FORMATS)}"
            )
    if fmt not in _FORMATS:
        raise ValueError(f"format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    return fmt


@register_node
class AudioFileSink(Node):
    """Writes incoming audio frames to a file and passes them on unchanged.

    The file opens at the first frame (taking its rate and channel count) and
    closes at the end of the stream (``flush()``) or at ``cleanup()``; a new
    stream overwrites it. WAV is written with soundfile as 32-bit float (lossless
    for float32 frames); flac (24-bit), mp3 (libmp3lame) and ogg/opus (libopus;
    Opus stores 8, 12, 16, 24 or 48 kHz, so other rates are encoded at the next
    rate above) are encoded with PyAV.

    Args:
        path: Output file path.
        format: "wav", "flac", "mp3", "ogg" or "opus"; None takes it from the
            extension of ``path``.

    Raises:
        ValueError: If the format is unknown; while writing, if the sample rate or
            channel count changes within a stream.
    """

    input_kind = "audio"
    output_kind = "same"

    def __init__(
        self, path: str, format: AudioFormat | None = None, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise ValueError(f"AudioFileSink: path must be a file path, got {path!r}")
        self.path = str(os.fspath(path))
        self._config["path"] = self.path
        try:
            self.format = _format_of(self.path, format)
        except ValueError as exc:
            raise ValueError(f"AudioFileSink: {exc}") from None
        self._writer: _Writer | None = None

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        writer = self._writer
        if writer is None:
            writer = self._writer = _Writer(
                Path(self.path), self.format, frame.sample_rate, frame.channels
            )
        elif (frame.sample_rate, frame.channels) != (writer.rate, writer.channels):
            raise ValueError(
                f"AudioFileSink: '{self.path}' is being written at {writer.rate} Hz "
                f"x{writer.channels}; got a frame at {frame.sample_rate} Hz "
                f"x{frame.channels} (insert Resample/ChannelMix before the sink)"
            )
        writer.write(frame)
        return frame

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def flush(self) -> Any:
        self._close()
        return None

    def cleanup(self) -> None:
        self._close()


def read_audio(
    path: str | os.PathLike[str], sample_rate: int | None = None
) -> AudioFrame:
    """Reads a whole audio file into one frame (timestamp 0).

    Args:
        path: Any file PyAV reads.
        sample_rate: Resample to this rate (PyAV); None keeps the file's rate.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it has no audio stream or cannot be decoded.
    """
    if sample_rate is not None:
        check_sample_rate("read_audio", "sample_rate", sample_rate)
    target = require_file("read_audio", "audio", path)
    rate = sample_rate or _rate_of(target)
    blocks = list(_decode(target, sample_rate, None))
    if not blocks:
        raise ValueError(f"'{target}' holds no audio samples")
    return AudioFrame(np.concatenate(blocks, axis=1), rate)


def write_audio(
    path: str | os.PathLike[str], frame: AudioFrame, format: AudioFormat | None = None
) -> Path:
    """Writes one frame to a file (format from the extension unless given).

    Returns:
        The path written.

    Raises:
        ValueError: If the format is unknown.
    """
    if not isinstance(frame, AudioFrame):
        raise TypeError(
            f"write_audio expects an AudioFrame, got {type(frame).__name__}"
        )
    target = Path(os.fspath(path))
    writer = _Writer(
        target, _format_of(str(target), format), frame.sample_rate, frame.channels
    )
    try:
        writer.write(frame)
    finally:
        writer.close()
    return target
