"""``rm.Transcript``: recognised text with its place in the stream."""

from __future__ import annotations

import dataclasses

__all__ = ["Transcript"]


@dataclasses.dataclass(frozen=True)
class Transcript:
    """Text recognised in a stretch of audio.

    ``str(transcript)`` is the text, so a transcript can go wherever text goes
    (``TextGenerator``, ``TextToSpeech``, a print).

    Attributes:
        text: The recognised text (stripped).
        start: Stream time of the first sample it covers, in seconds.
        end: Stream time just after the last sample it covers, in seconds.
        final: False for a partial result that a later transcript of the same
            audio replaces (rolling-window mode), True otherwise.
        language: The language the model reported or was told, when known.
    """

    text: str
    start: float
    end: float
    final: bool = True
    language: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(
                f"Transcript: end ({self.end:g}) is before start ({self.start:g})"
            )

    @property
    def duration(self) -> float:
        """Seconds of audio covered."""
        return self.end - self.start

    def __str__(self) -> str:
        return self.text
