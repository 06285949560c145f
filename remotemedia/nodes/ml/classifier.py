"""``AudioClassifier``: labels with scores for each audio segment."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from remotemedia.core.frames import AudioFrame
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number
from remotemedia.nodes.ml.transformers_pipeline import TransformersPipeline

__all__ = ["AudioClassifier", "Classification"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Classification:
    """The labels a classifier gave one segment, best first.

    Attributes:
        labels: ``(label, score)`` pairs, highest score first.
        start: Stream time of the segment's first sample, in seconds.
        end: Stream time just after its last sample, in seconds.
    """

    labels: tuple[tuple[str, float], ...]
    start: float
    end: float

    @property
    def top(self) -> str:
        """The best label ("" when there is none)."""
        return self.labels[0][0] if self.labels else ""

    def __str__(self) -> str:
        return ", ".join(f"{label} {score:.2f}" for label, score in self.labels)


@register_node
class AudioClassifier(TransformersPipeline):
    """Classifies each audio segment (sound events, keywords, languages, ...).

    Runs the transformers "audio-classification" pipeline on each AudioFrame
    (resampled to the model's rate, mixed to mono) and emits a
    :class:`Classification` with the ``top_k`` labels and the segment's stream
    times. Segments already queued are classified as one batch (``batch_size``).

    Example:
        >>> rm.Pipeline([nodes.AudioFileSource(path), nodes.EnergyVAD(),
        ...              nodes.AudioClassifier(top_k=3)])

    Args:
        model: An audio classification model id or folder (AST, Wav2Vec2, ...).
        top_k: How many labels to keep per segment.
        batch_size: Most segments classified at once.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        dtype: None (float16 on CUDA, float32 elsewhere) or a dtype name.
    """

    purpose = "audio classification model"

    def __init__(
        self,
        model: str = "MIT/ast-finetuned-audioset-10-10-0.4593",
        top_k: int = 3,
        batch_size: int = 1,
        device: str = "auto",
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        check_number("AudioClassifier", "top_k", top_k, positive=True, integer=True)
        super().__init__(
            "audio-classification",
            model,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            call_kwargs={"top_k": int(top_k)},
            name=name,
        )
        self.top_k = int(top_k)

    def run_batch(self, items: list[Any]) -> list[Any]:
        for item in items:
            if not isinstance(item, AudioFrame):
                raise TypeError(
                    f"AudioClassifier expects an AudioFrame, got {type(item).__name__}"
                )
        results = super().run_batch(items)
        return [
            Classification(
                tuple((str(r["label"]), float(r["score"])) for r in result),
                frame.timestamp,
                frame.timestamp + frame.duration,
            )
            for frame, result in zip(items, results)
        ]
