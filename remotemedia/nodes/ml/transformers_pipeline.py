"""``TransformersPipeline``: any Hugging Face ``transformers.pipeline`` as a node."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from remotemedia.core.errors import NodeError
from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.core.node import iter_outputs
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import Resample
from remotemedia.nodes.ml._extra import require
from remotemedia.nodes.ml.base import ModelNode
from remotemedia.nodes.ml.batching import queued_batches
from remotemedia.nodes.ml.transcript import Transcript

__all__ = [
    "TransformersPipeline",
    "to_pipeline_input",
    "build_pipeline",
    "resample_whole",
]

logger = logging.getLogger(__name__)


def resample_whole(frame: AudioFrame, rate: int) -> AudioFrame:
    """``frame`` at ``rate`` in one piece, through the project's :class:`Resample`.

    transformers cannot resample without torchaudio, so model nodes convert here.
    """
    if frame.sample_rate == rate:
        return frame
    node = Resample(target_rate=rate)
    parts = iter_outputs(node.process(frame)) + iter_outputs(node.flush())
    samples = (
        np.concatenate([p.samples for p in parts], axis=1)
        if parts
        else np.zeros((frame.channels, 0), dtype=np.float32)
    )
    return AudioFrame(samples, rate, frame.timestamp)


def to_pipeline_input(data: Any, sample_rate: int | None = None) -> Any:
    """Converts a frame to what transformers pipelines take.

    AudioFrame -> ``{"raw": mono float32, "sampling_rate": rate}`` (resampled to
    ``sample_rate`` when given); VideoFrame -> a PIL image; Transcript -> its text;
    anything else is passed on unchanged.
    """
    if isinstance(data, AudioFrame):
        if sample_rate is not None:
            data = resample_whole(data, sample_rate)
        samples = data.samples
        mono = samples[0] if samples.shape[0] == 1 else samples.mean(axis=0)
        return {
            "raw": np.ascontiguousarray(mono, dtype=np.float32),
            "sampling_rate": data.sample_rate,
        }
    if isinstance(data, VideoFrame):
        image = require("PIL.Image", package="pillow")
        return image.fromarray(data.image)
    if isinstance(data, Transcript):
        return data.text
    return data


def build_pipeline(
    task: str | None, path: str, device: str, dtype: Any, **kwargs: Any
) -> Any:
    """``transformers.pipeline`` on a local folder, never touching the network.

    Raises:
        ImportError: Naming the ``ml`` extra when transformers is missing.
    """
    transformers = require("transformers")
    require("torch")
    return transformers.pipeline(task, model=path, device=device, dtype=dtype, **kwargs)


@register_node
class TransformersPipeline(ModelNode):
    """Runs a Hugging Face ``transformers.pipeline`` on each input.

    Inputs are converted for the task (AudioFrame -> mono samples resampled to
    the model's rate with :class:`Resample`, VideoFrame -> image, Transcript ->
    text); outputs are what the pipeline returns
    for one input (a dict or a list of dicts). With ``batch_size > 1`` the inputs
    already waiting when the model becomes free (up to ``batch_size``) go through the
    model as one batch; outputs still come one per input, in order. Nothing waits to
    fill a batch, so latency never grows for it.

    Example:
        >>> sentiment = TransformersPipeline("text-classification",
        ...     "distilbert/distilbert-base-uncased-finetuned-sst-2-english")

    Args:
        task: The pipeline task ("automatic-speech-recognition",
            "text-classification", ...); None takes it from the model's config.
        model: A Hugging Face model id or a local folder (the cache honours HF_HOME).
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        dtype: None (float16 on CUDA, float32 elsewhere), "auto", "float32",
            "float16", "bfloat16".
        batch_size: Most inputs taken through the model at once.
        call_kwargs: Keyword arguments of each pipeline call (``top_k``,
            ``generate_kwargs``, ...).
        **kwargs: Further ``transformers.pipeline`` arguments (``trust_remote_code``,
            ``model_kwargs``, ...).

    Raises:
        ValueError: If ``batch_size`` < 1 or device/dtype are invalid.
    """

    def __init__(
        self,
        task: str | None,
        model: str,
        device: str = "auto",
        dtype: Any = None,
        batch_size: int = 1,
        call_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, device=device, dtype=dtype, name=name)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise ValueError(
                f"TransformersPipeline: batch_size must be an int, got {batch_size!r}"
            )
        if batch_size < 1:
            raise ValueError(
                f"TransformersPipeline: batch_size must be >= 1, got {batch_size}"
            )
        self.task = task
        self.batch_size = batch_size
        self.call_kwargs = dict(call_kwargs or {})
        self.pipeline_kwargs = kwargs
        self.sample_rate: int | None = None
        #: Sizes of the batches run so far (how well queued inputs were grouped).
        self.batch_sizes: list[int] = []

    purpose = "model"

    def load(self, path: str, device: str, dtype: Any) -> Any:
        pipe = build_pipeline(self.task, path, device, dtype, **self.pipeline_kwargs)
        extractor = getattr(pipe, "feature_extractor", None)
        rate = getattr(extractor, "sampling_rate", None)
        self.sample_rate = int(rate) if rate else None
        return pipe

    def process(self, data: Any) -> Any:
        return self.run_batch([data])[0]

    def run_batch(self, items: list[Any]) -> list[Any]:
        """Runs the pipeline on several inputs at once; one output per input."""
        inputs = [to_pipeline_input(item, self.sample_rate) for item in items]
        self.batch_sizes.append(len(inputs))
        # Always a list, so one input gives the same output as one in a batch.
        outputs = self.loaded(inputs, batch_size=len(inputs), **self.call_kwargs)
        return list(outputs)

    async def astream(self, inputs: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for batch in queued_batches(inputs, self.batch_size):
            run: list[Any] = []
            for item in batch + [None]:
                if item is not None and not isinstance(item, NodeError):
                    run.append(item)
                    continue
                if run:
                    for out in await self._run(run):
                        yield out
                    run = []
                if isinstance(item, NodeError):
                    yield item

    async def _run(self, items: list[Any]) -> list[Any]:
        start = time.perf_counter()
        try:
            outputs = await self._call(self.run_batch, items)
        except Exception as exc:  # noqa: BLE001 - becomes an error record
            logger.debug("node %s failed", self.name, exc_info=True)
            return [NodeError.from_exception(self.name, exc, items[0])]
        self.stats.calls += len(items)
        self.stats.outputs += len(outputs)
        self.stats.total_s += time.perf_counter() - start
        return outputs
