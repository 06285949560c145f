"""Video nodes: read and write video files, resize, convert colours, drop frames.

All of them take and return :class:`~remotemedia.VideoFrame` (uint8 RGB, ``(h, w, 3)``)
and keep each frame's timestamp. File I/O uses PyAV (FFmpeg).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from remotemedia.core.frames import VideoFrame
from remotemedia.core.node import Node, Source
from remotemedia.core.registry import register_node
from remotemedia.nodes._checks import require_file

__all__ = [
    "VideoFileSource",
    "VideoFileSink",
    "Resize",
    "ColorConvert",
    "FrameRateDecimate",
]

logger = logging.getLogger(__name__)

# Used when the requested encoder is missing from this PyAV/FFmpeg build; every
# PyAV wheel ships FFmpeg's native MPEG-4 Part 2 encoder.
_FALLBACK_CODEC = "mpeg4"


def _check_path(node: Node, value: Any, field: str = "path") -> str:
    """Validates a path argument and stores it as text so manifests stay JSON."""
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ValueError(
            f"{type(node).__name__}: {field} must be a file path, got {value!r}"
        )
    text = os.fspath(value)
    node._config[field] = text
    return str(text)


def _positive_int(node: type[Node], field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"{node.__name__}: {field} must be a positive integer, got {value!r}"
        )
    return int(value)


def _positive_float(node: type[Node], field: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"{node.__name__}: {field} must be a finite number > 0, got {value!r}"
        )
    return float(value)


def _expect_video(node: Node, data: Any) -> VideoFrame:
    if not isinstance(data, VideoFrame):
        raise TypeError(
            f"{type(node).__name__} expects a VideoFrame, got {type(data).__name__}"
        )
    return data


@register_node
class VideoFileSource(Source):
    """Decodes the first video stream of a file into RGB VideoFrames.

    Frames carry their presentation time in seconds (the first frame of a typical
    file is at 0.0). Any container and codec FFmpeg reads works (MP4, MKV, WebM, ...).

    Args:
        path: The video file to read (a ``pathlib.Path`` works too).
        max_frames: Stop after this many frames (None reads the whole stream).

    Raises:
        ValueError: If ``path`` or ``max_frames`` is invalid.
    """

    output_kind = "video"

    def __init__(
        self,
        path: str,
        max_frames: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.path = _check_path(self, path)
        if max_frames is not None:
            max_frames = _positive_int(type(self), "max_frames", max_frames)
        self.max_frames = max_frames

    def frames(self) -> Iterator[VideoFrame]:
        """Yields the decoded frames in presentation order.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If the file has no video stream or cannot be decoded.
        """
        require_file(self.name, "video", self.path)
        try:
            container = av.open(self.path)
        except av.error.FFmpegError as exc:
            raise ValueError(f"{self.name}: cannot open '{self.path}': {exc}") from exc
        try:
            if not container.streams.video:
                raise ValueError(f"{self.name}: '{self.path}' has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame-threaded decode; order is kept
            count = 0
            for av_frame in container.decode(stream):
                if self.max_frames is not None and count >= self.max_frames:
                    break
                yield VideoFrame.from_av(av_frame)
                count += 1
        finally:
            container.close()


def _encoder_available(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 - PyAV raises different errors across versions
        return False
    return True


@register_node
class VideoFileSink(Node):
    """Encodes the VideoFrames passing through into a video file.

    The file opens at the first frame (its size sets the video size; later frames of
    another size are rescaled to it) and is finalised at the end of the stream
    (``flush``) or when the pipeline closes. Frames pass through unchanged, so the sink
    can sit in the middle of a pipeline. Presentation times follow the frame
    timestamps, counted from the first frame (rounded to the ``fps`` grid and kept
    strictly increasing), so a decimated stream keeps its timing; frames that all have timestamp 0 are written
    at a constant ``fps``. Inputs that are not VideoFrames pass through unwritten.

    H.264 (``libx264``) is used when this FFmpeg build has it; otherwise the sink
    falls back to MPEG-4 Part 2 (``mpeg4``) and logs a warning. Odd frame sizes are
    padded by one pixel (the encoders need even sizes for 4:2:0 chroma).

    Args:
        path: Output file (str or ``pathlib.Path``); the container format follows
            its extension (.mp4, .mkv, .webm).
        fps: Frame rate of the written stream (frames per second).
        codec: FFmpeg encoder name, for example "libx264", "mpeg4" or "libvpx-vp9".

    Raises:
        ValueError: If a parameter is invalid or the codec is unknown.
    """

    input_kind = "video"
    output_kind = "same"

    blocking = True  # encoding is CPU work; keep it off the event loop

    def __init__(
        self,
        path: str,
        fps: float = 25.0,
        codec: str = "libx264",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.path = _check_path(self, path)
        self.fps = _positive_float(type(self), "fps", fps)
        if not isinstance(codec, str) or not codec:
            raise ValueError(f"VideoFileSink: codec must be a string, got {codec!r}")
        if not _encoder_available(codec):
            if codec not in ("libx264", "h264"):
                raise ValueError(
                    f"VideoFileSink: codec '{codec}' has no encoder in this FFmpeg "
                    f"build (try '{_FALLBACK_CODEC}')"
                )
            logger.warning(
                "VideoFileSink: H.264 encoder '%s' is not available in this PyAV "
                "build; writing '%s' with %s instead",
                codec,
                self.path,
                _FALLBACK_CODEC,
            )
            codec = _FALLBACK_CODEC
        self.codec = codec
        self.frames_written = 0
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] = (0, 0)
        self._last_pts = -1
        self._time_base = Fraction(1, 25)
        self._start = 0.0
        self._warned_types: set[str] = set()

    def _open(self, frame: VideoFrame) -> None:
        width, height = frame.width + frame.width % 2, frame.height + frame.height % 2
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(self.path, mode="w")
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # The muxer may change the stream's time base when it writes the header;
        # frames keep their own 1/fps time base and PyAV rescales them.
        self._time_base = 1 / rate
        stream.codec_context.time_base = self._time_base
        self._stream = stream
        self._size = (width, height)
        self._start = frame.timestamp  # the file starts at the first frame
        self._last_pts = -1
        self.frames_written = 0

    def _to_av(self, frame: VideoFrame) -> av.VideoFrame:
        image = frame.image
        height, width = image.shape[:2]
        if (width % 2 or height % 2) and (width + width % 2, height + height % 2) == (
            self._size
        ):
            image = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), "edge")
        av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), "rgb24")
        if (av_frame.width, av_frame.height) != self._size:
            av_frame = av_frame.reformat(*self._size, interpolation="BILINEAR")
        return av_frame

    def process(self, data: Any) -> Any:
        if not isinstance(data, VideoFrame):
            kind = type(data).__name__
            if kind not in self._warned_types:
                self._warned_types.add(kind)
                logger.warning("%s: passing %s through unwritten", self.name, kind)
            return data
        if self._container is None:
            self._open(data)
        av_frame = self._to_av(data)
        offset = data.timestamp - self._start
        pts = max(self._last_pts + 1, int(round(offset * self.fps)))
        av_frame.pts = pts
        av_frame.time_base = self._time_base
        self._last_pts = pts
        for packet in self._stream.encode(av_frame):
            self._container.mux(packet)
        self.frames_written += 1
        return data

    def _finish(self) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        try:
            for packet in self._stream.encode(None):
                container.mux(packet)
        finally:
            container.close()
            self._stream = None
        logger.info(
            "%s: wrote %d frames to %s", self.name, self.frames_written, self.path
        )

    def flush(self) -> None:
        """Finalises the file; a later frame starts a new file at the same path."""
        self._finish()

    def cleanup(self) -> None:
        self._finish()


@register_node
class Resize(Node):
    """Scales VideoFrames with bilinear interpolation.

    With both sizes and ``keep_aspect=False`` every frame becomes exactly
    ``width x height``. With ``keep_aspect=True`` a frame is scaled to fit inside
    ``width x height`` keeping its aspect ratio (one side fills the box, the other
    is ``round(side * scale)``, at least 1 pixel). With only ``width`` or only
    ``height`` given the other side follows the frame's aspect ratio. Frames
    already at the target size pass through untouched.

    Args:
        width: Output width (or the width of the box) in pixels; None follows
            ``height`` and the aspect ratio.
        height: Output height (or the height of the box) in pixels; None follows
            ``width`` and the aspect ratio.
        keep_aspect: Fit inside the box instead of stretching to it.

    Raises:
        ValueError: If a size is not a positive integer, both are None, or
            ``keep_aspect`` is not a bool.
    """

    input_kind = "video"
    output_kind = "video"

    def __init__(
        self,
        width: int | None = None,
        height: int | None = None,
        keep_aspect: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if width is None and height is None:
            raise ValueError("Resize: give width, height or both")
        self.width = (
            None if width is None else _positive_int(type(self), "width", width)
        )
        self.height = (
            None if height is None else _positive_int(type(self), "height", height)
        )
        if not isinstance(keep_aspect, bool):
            raise ValueError(
                f"Resize: keep_aspect must be True or False, got {keep_aspect!r}"
            )
        self.keep_aspect = keep_aspect

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The output ``(width, height)`` for a frame of ``width x height``."""
        box_w, box_h = self.width, self.height
        if box_w is not None and box_h is not None and not self.keep_aspect:
            return box_w, box_h
        scale_w = box_w / width if box_w is not None else math.inf
        scale_h = box_h / height if box_h is not None else math.inf
        if box_w is not None and scale_w <= scale_h:
            return box_w, max(1, round(height * scale_w))
        assert box_h is not None  # one of the two is set (checked in __init__)
        return max(1, round(width * scale_h)), box_h

    def process(self, data: Any) -> VideoFrame:
        frame = _expect_video(self, data)
        width, height = self.size_for(frame.width, frame.height)
        if (frame.width, frame.height) == (width, height):
            return frame
        av_frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(frame.image), format="rgb24"
        )
        scaled = av_frame.reformat(
            width, height, format="rgb24", interpolation="BILINEAR"
        )
        return VideoFrame(scaled.to_ndarray(), frame.timestamp)


# ITU-R BT.601 luma weights, the usual choice for "convert to grey".
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@register_node
class ColorConvert(Node):
    """Converts the colours of VideoFrames.

    ``"gray"`` computes BT.601 luma and replicates it into all three channels, so the
    output is still an (h, w, 3) uint8 VideoFrame that every video node accepts.
    ``"bgr"`` swaps the red and blue channels (for consumers that expect OpenCV's
    channel order; applying it twice restores RGB). ``"rgb"`` passes frames through.

    Args:
        mode: Target colours: "gray", "bgr" or "rgb".

    Raises:
        ValueError: If ``mode`` is not one of the choices.
    """

    input_kind = "video"
    output_kind = "video"

    def __init__(
        self, mode: Literal["gray", "bgr", "rgb"] = "gray", name: str | None = None
    ) -> None:
        super().__init__(name=name)
        if mode not in ("gray", "bgr", "rgb"):
            raise ValueError(
                f"ColorConvert: mode must be 'gray', 'bgr' or 'rgb', got {mode!r}"
            )
        self.mode = mode

    def process(self, data: Any) -> VideoFrame:
        frame = _expect_video(self, data)
        if self.mode == "rgb":
            return frame
        if self.mode == "bgr":
            return VideoFrame(
                np.ascontiguousarray(frame.image[..., ::-1]), frame.timestamp
            )
        luma = frame.image.astype(np.float32) @ _LUMA
        gray = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
        return VideoFrame(np.repeat(gray[..., None], 3, axis=2), frame.timestamp)


@register_node
class FrameRateDecimate(Node):
    """Drops frames so that the stream runs at no more than ``fps`` frames a second.

    Decisions use the frame timestamps: a frame is kept when it reaches the next slot
    of a 1/fps grid that starts at the first kept frame (the grid restarts after a gap
    or a jump back in time), so 25 fps decimated to 10 fps keeps 10 frames a second
    on average. Streams already slower than ``fps`` pass through untouched.

    Args:
        fps: Maximum output frame rate (frames per second).

    Raises:
        ValueError: If ``fps`` is not a positive number.
    """

    input_kind = "video"
    output_kind = "video"

    def __init__(self, fps: float, name: str | None = None) -> None:
        super().__init__(name=name)
        self.fps = _positive_float(type(self), "fps", fps)
        self._period = 1.0 / self.fps
        # Timestamps are floats; allow a little slack so 0.1 + 0.1 + 0.1 still
        # counts as reaching the 0.3 s slot.
        self._slack = min(1e-3, 0.01 * self._period)
        self._next: float | None = None

    def process(self, data: Any) -> VideoFrame | None:
        frame = _expect_video(self, data)
        t = frame.timestamp
        if self._next is not None and self._next - self._period - self._slack > t:
            self._next = None  # time went backwards: a new stream or a seek
        if self._next is not None and t < self._next - self._slack:
            return None
        if self._next is None or t >= self._next + self._period - self._slack:
            self._next = t + self._period  # first frame, or resync after a gap
        else:
            self._next += self._period
        return frame

    def flush(self) -> None:
        self._next = None
