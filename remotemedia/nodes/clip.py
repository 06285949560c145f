"""Clip-level nodes: nodes that need a whole signal, and :class:`Join`.

Some processing is only meaningful on a whole signal: trimming the silence off the
start and end of a clip, or levelling a clip to a loudness. Applied to each 20 ms
frame of a stream, they would trim and level every frame on its own. Such nodes
subclass :class:`ClipNode` (``clip_level = True``): in a stream they gather the
frames of one clip and process it when the clip ends.

The rule: consecutive audio frames of one sample rate and channel count belong to
the same clip while each starts where the previous one ended (its timestamp equals
the previous frame's timestamp plus its duration, within half a sample). A frame
that does not continue the clip (a gap, a jump back in time, another format) ends
it; the end of the stream (``flush()``) ends the last one. Sources, ``chunks()``,
Rebuffer and Resample all emit continuous timestamps, so a file read in frames is
one clip; separate clips (several files, VAD segments) stay separate. Given one
whole clip (``node(clip)``, ``Pipeline.run(clip)``) a clip-level node behaves as it
always did.

The Rust runtime applies the same rule to its native TrimSilence and Normalize.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Node, Outputs, iter_outputs
from remotemedia.core.registry import register_node
from remotemedia.nodes._checks import check_number, require_audio

__all__ = ["ClipBuffer", "ClipNode", "Join"]

logger = logging.getLogger(__name__)


class ClipBuffer:
    """Audio frames held until they are joined into one clip.

    The frames' samples are kept as they come and joined once, in :meth:`take`.
    """

    def __init__(self) -> None:
        self._frames: list[AudioFrame] = []
        self._samples = 0

    @property
    def empty(self) -> bool:
        """Whether no frame is held."""
        return not self._frames

    @property
    def seconds(self) -> float:
        """Duration of the held audio in seconds."""
        if not self._frames:
            return 0.0
        return self._samples / self._frames[0].sample_rate

    def matches(self, frame: AudioFrame) -> bool:
        """Whether ``frame`` has the held frames' sample rate and channel count
        (always true when nothing is held)."""
        if not self._frames:
            return True
        first = self._frames[0]
        return (frame.sample_rate, frame.channels) == (
            first.sample_rate,
            first.channels,
        )

    def continues(self, frame: AudioFrame) -> bool:
        """Whether ``frame`` continues the held clip: same format, and it starts
        where the held audio ends, within half a sample (true when nothing is
        held)."""
        if not self._frames:
            return True
        if not self.matches(frame):
            return False
        first = self._frames[0]
        end = first.timestamp + self._samples / first.sample_rate
        return abs(frame.timestamp - end) <= 0.5 / first.sample_rate

    def add(self, frame: AudioFrame) -> None:
        """Holds ``frame`` (the caller checks :meth:`matches` first)."""
        self._frames.append(frame)
        self._samples += frame.num_samples

    def take(self) -> AudioFrame | None:
        """Returns the held frames joined end to end (at the first frame's
        timestamp) and empties the buffer; None when empty. A single held frame is
        returned as it is."""
        frames, self._frames, self._samples = self._frames, [], 0
        if not frames:
            return None
        if len(frames) == 1:
            return frames[0]
        first = frames[0]
        samples = np.concatenate([f.samples for f in frames], axis=1)
        return AudioFrame._trusted(samples, first.sample_rate, first.timestamp)


class ClipNode(Node):
    """Base class of nodes that process a whole clip at a time.

    Subclasses implement :meth:`process_clip`. In a stream, frames are gathered
    into clips by the rule in the module docs and each clip is processed when it
    ends (at the first frame that does not continue it, or at ``flush()``), so the
    node emits nothing while a clip is still arriving. Calling the node directly
    (``node(clip)``) processes that input as one whole clip.

    Class attributes:
        clip_level: ``True``: the node needs the whole signal (read by tools that
            explain or check pipelines).
    """

    input_kind = "audio"
    output_kind = "audio"

    clip_level: ClassVar[bool] = True

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self._clip = ClipBuffer()

    def process_clip(self, clip: AudioFrame) -> Any:
        """Processes one whole clip; returns None, one value or ``rm.Outputs``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement process_clip()"
        )

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        outputs = Outputs()
        if not self._clip.continues(frame):
            ended = self._clip.take()
            if ended is not None:
                outputs.extend(iter_outputs(self.process_clip(ended)))
        self._clip.add(frame)
        return outputs

    def flush(self) -> Any:
        clip = self._clip.take()
        return None if clip is None else self.process_clip(clip)

    def __call__(self, data: Any) -> Any:
        """Processes one input as a whole clip (initialising the node if needed)."""
        if not self._initialized:
            self.initialize()
            self._initialized = True
        return self.process_clip(require_audio(self, data))


@register_node
class Join(Node):
    """Joins a stream of audio frames into one clip, emitted at the end of the stream.

    Frames are joined end to end in arrival order (gaps between their timestamps
    are closed up); the clip has the first frame's timestamp. A frame of another
    sample rate or channel count emits the clip so far and starts a new one. With
    ``max_seconds`` a clip is also emitted as soon as it holds at least that much
    audio, which bounds the memory a live stream takes. A single frame passes
    through as it is. Put it before nodes that analyse each input on their own
    (STFT, MelSpectrogram, a Lambda) to give them the whole stream at once.

    Args:
        max_seconds: Emit a clip once it is this long (None: only at the end).

    Raises:
        ValueError: If ``max_seconds`` is not a positive number.
    """

    input_kind = "audio"
    output_kind = "audio"

    def __init__(
        self, max_seconds: float | None = None, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        if max_seconds is not None:
            check_number("Join", "max_seconds", max_seconds, positive=True)
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self._clip = ClipBuffer()

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        outputs = Outputs()
        if not self._clip.matches(frame):
            outputs.append(self._clip.take())
        self._clip.add(frame)
        if self.max_seconds is not None and self._clip.seconds >= self.max_seconds:
            outputs.append(self._clip.take())
        return outputs

    def flush(self) -> Any:
        return self._clip.take()
