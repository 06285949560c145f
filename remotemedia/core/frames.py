"""Media frames: the values that flow between nodes.

Audio is float32 samples shaped ``(channels, n)``; video is uint8 RGB ``(h, w, 3)``;
text is a plain ``str``. Frames validate their input and raise ``ValueError`` naming
the problem.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import av

__all__ = ["AudioFrame", "VideoFrame"]


class AudioFrame:
    """A block of audio samples.

    Args:
        samples: float32 array shaped ``(channels, n)``. A 1-D array is taken as mono
            and float64 input is converted to float32; integer samples are refused
            (use :meth:`from_int16`).
        sample_rate: Samples per second per channel, > 0.
        timestamp: Start time of the first sample, in seconds.

    Raises:
        ValueError: If the samples or the sample rate are invalid.
    """

    __slots__ = ("samples", "sample_rate", "timestamp")
    __hash__ = None  # type: ignore[assignment]  # mutable payload

    def __init__(
        self, samples: np.ndarray, sample_rate: int, timestamp: float = 0.0
    ) -> None:
        if not isinstance(samples, np.ndarray):
            raise ValueError(
                f"AudioFrame samples must be a numpy array, got {type(samples).__name__}"
            )
        if samples.dtype.kind != "f":
            raise ValueError(
                f"AudioFrame samples must be float32, got dtype {samples.dtype} "
                "(convert integer PCM with AudioFrame.from_int16)"
            )
        if samples.ndim == 1:
            samples = samples.reshape(1, -1)
        if samples.ndim != 2:
            raise ValueError(
                "AudioFrame samples must be shaped (channels, n), "
                f"got {samples.ndim} dimensions {samples.shape}"
            )
        if samples.shape[0] < 1:
            raise ValueError("AudioFrame samples must have at least one channel")
        if samples.dtype != np.float32:
            samples = samples.astype(np.float32)
        if isinstance(sample_rate, bool) or not isinstance(
            sample_rate, (int, np.integer, float)
        ):
            raise ValueError(
                f"AudioFrame sample_rate must be a number, got {sample_rate!r}"
            )
        if sample_rate <= 0 or int(sample_rate) != sample_rate:
            raise ValueError(
                f"AudioFrame sample_rate must be a positive integer, got {sample_rate!r}"
            )
        self.samples: np.ndarray = samples
        self.sample_rate: int = int(sample_rate)
        self.timestamp: float = float(timestamp)

    @classmethod
    def _trusted(
        cls, samples: np.ndarray, sample_rate: int, timestamp: float
    ) -> AudioFrame:
        """A frame from parts already known valid: float32 ``(channels >= 1, n)``
        samples, an int rate > 0 and a float timestamp (decoders and the Rust
        runtime, which check them themselves; skipping the checks matters per
        frame)."""
        frame = cls.__new__(cls)
        frame.samples = samples
        frame.sample_rate = sample_rate
        frame.timestamp = timestamp
        return frame

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        """Number of samples per channel."""
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.num_samples / self.sample_rate

    def to_mono(self) -> AudioFrame:
        """Returns a one-channel frame (the mean of all channels)."""
        if self.channels == 1:
            return self
        mono = self.samples.mean(axis=0, keepdims=True, dtype=np.float32)
        return AudioFrame(mono, self.sample_rate, self.timestamp)

    def chunks(self, ms: float) -> Iterator[AudioFrame]:
        """Splits the frame into consecutive frames of ``ms`` milliseconds.

        The last chunk may be shorter. Chunks are views of this frame's samples.

        Raises:
            ValueError: If ``ms`` is not positive or is shorter than one sample.
        """
        if ms <= 0:
            raise ValueError(f"chunk length must be > 0 ms, got {ms}")
        size = int(round(self.sample_rate * ms / 1000.0))
        if size < 1:
            raise ValueError(f"chunk of {ms} ms is shorter than one sample")
        for start in range(0, self.num_samples, size):
            yield AudioFrame(
                self.samples[:, start : start + size],
                self.sample_rate,
                self.timestamp + start / self.sample_rate,
            )

    def with_samples(
        self, samples: np.ndarray, sample_rate: int | None = None
    ) -> AudioFrame:
        """Returns a frame with new samples and the same timestamp."""
        return AudioFrame(samples, sample_rate or self.sample_rate, self.timestamp)

    @classmethod
    def from_int16(
        cls, pcm: np.ndarray, sample_rate: int, timestamp: float = 0.0
    ) -> AudioFrame:
        """Builds a frame from int16 PCM shaped ``(channels, n)`` or ``(n,)``."""
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16:
            raise ValueError(f"from_int16 expects int16 samples, got {pcm.dtype}")
        return cls(pcm.astype(np.float32) / 32768.0, sample_rate, timestamp)

    def to_int16(self) -> np.ndarray:
        """Returns the samples as clipped int16 PCM shaped ``(channels, n)``."""
        return (np.clip(self.samples, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)

    @classmethod
    def concatenate(cls, frames: list[AudioFrame]) -> AudioFrame:
        """Joins frames of one rate and channel count end to end.

        Raises:
            ValueError: If the list is empty or the frames do not match.
        """
        if not frames:
            raise ValueError("cannot concatenate an empty list of frames")
        rate, channels = frames[0].sample_rate, frames[0].channels
        for frame in frames:
            if frame.sample_rate != rate or frame.channels != channels:
                raise ValueError(
                    "cannot concatenate frames of different formats: "
                    f"{rate} Hz x{channels} and {frame.sample_rate} Hz x{frame.channels}"
                )
        samples = np.concatenate([f.samples for f in frames], axis=1)
        return cls(samples, rate, frames[0].timestamp)

    def save(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Writes the frame to an audio file; the format follows the file suffix.

        ``.wav`` is written with soundfile as 32-bit float (lossless); ``.flac``
        (24-bit), ``.mp3`` and ``.ogg``/``.opus`` (Opus) are encoded with PyAV.
        Missing parent folders are created.

        Args:
            path: The file to write (overwritten if it exists).
            format: "wav", "flac", "mp3", "ogg" or "opus"; None takes it from the
                suffix of ``path``.

        Returns:
            The path written.

        Raises:
            ValueError: If the format is unknown or cannot be told from the suffix.

        Example:
            >>> rm.nodes.TrimSilence()(clip).save("trimmed.wav")
        """
        # Lazy import: the writers live with the file nodes, above core.
        from remotemedia.nodes.audio_io import write_audio

        return write_audio(path, self, format)  # type: ignore[arg-type]

    @classmethod
    def from_av(cls, frame: av.AudioFrame) -> AudioFrame:
        """Converts a PyAV audio frame (any sample format) to an AudioFrame."""
        array = frame.to_ndarray()
        fmt = frame.format
        channels = len(frame.layout.channels)
        if not fmt.is_planar:
            array = array.reshape(-1, channels).T
        if array.dtype.kind == "i":
            scale = float(2 ** (8 * array.dtype.itemsize - 1))
            array = array.astype(np.float32) / scale
        elif array.dtype.kind == "u":
            array = (array.astype(np.float32) - 128.0) / 128.0
        timestamp = float(frame.time) if frame.time is not None else 0.0
        return cls(
            np.ascontiguousarray(array, dtype=np.float32), frame.sample_rate, timestamp
        )

    def to_av(self) -> av.AudioFrame:
        """Converts to a planar float PyAV audio frame."""
        import av

        layout = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels}c")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(self.samples), format="fltp", layout=layout
        )
        frame.sample_rate = self.sample_rate
        return frame

    def describe(self) -> str:
        """One-line summary, used in reprs and error records."""
        return (
            f"AudioFrame({self.channels}ch, {self.sample_rate} Hz, "
            f"{self.duration * 1000:.1f} ms, t={self.timestamp:.3f}s)"
        )

    def __repr__(self) -> str:
        return self.describe()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AudioFrame):
            return NotImplemented
        return (
            self.sample_rate == other.sample_rate
            and self.timestamp == other.timestamp
            and np.array_equal(self.samples, other.samples)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (AudioFrame, (self.samples, self.sample_rate, self.timestamp))

    def _repr_html_(self) -> str:
        # Lazy import: display lives above core and pulls in matplotlib.
        from remotemedia.notebook.display import audio_html

        return audio_html(self)

    def _repr_png_(self) -> bytes:
        from remotemedia.notebook.display import audio_png

        return audio_png(self)


class VideoFrame:
    """One RGB image.

    Args:
        image: uint8 array shaped ``(height, width, 3)``.
        timestamp: Presentation time in seconds.

    Raises:
        ValueError: If the image is not a uint8 (h, w, 3) array.
    """

    __slots__ = ("image", "timestamp")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, image: np.ndarray, timestamp: float = 0.0) -> None:
        if not isinstance(image, np.ndarray):
            raise ValueError(
                f"VideoFrame image must be a numpy array, got {type(image).__name__}"
            )
        if image.dtype != np.uint8:
            raise ValueError(f"VideoFrame image must be uint8, got dtype {image.dtype}")
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"VideoFrame image must be shaped (height, width, 3), got {image.shape}"
            )
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError(f"VideoFrame image must not be empty, got {image.shape}")
        self.image: np.ndarray = image
        self.timestamp: float = float(timestamp)

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @classmethod
    def from_av(cls, frame: av.VideoFrame) -> VideoFrame:
        """Converts a PyAV video frame (any pixel format) to RGB."""
        timestamp = float(frame.time) if frame.time is not None else 0.0
        return cls(frame.to_ndarray(format="rgb24"), timestamp)

    def to_av(self) -> av.VideoFrame:
        """Converts to an rgb24 PyAV video frame."""
        import av

        return av.VideoFrame.from_ndarray(
            np.ascontiguousarray(self.image), format="rgb24"
        )

    def describe(self) -> str:
        """One-line summary, used in reprs and error records."""
        return f"VideoFrame({self.width}x{self.height}, t={self.timestamp:.3f}s)"

    def __repr__(self) -> str:
        return self.describe()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VideoFrame):
            return NotImplemented
        return self.timestamp == other.timestamp and np.array_equal(
            self.image, other.image
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (VideoFrame, (self.image, self.timestamp))

    def _repr_png_(self) -> bytes:
        from remotemedia.notebook.display import video_png

        return video_png(self)
