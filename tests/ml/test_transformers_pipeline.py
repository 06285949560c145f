"""TransformersPipeline: any transformers pipeline as a node, with queued batching."""

from __future__ import annotations

import asyncio

import pytest

import remotemedia as rm
from remotemedia.nodes.ml import TransformersPipeline
from remotemedia.nodes.ml.batching import queued_batches


def test_text_classification_batches_what_is_queued(tiny_text_classifier: str) -> None:
    node = TransformersPipeline(
        "text-classification", tiny_text_classifier, device="cpu", batch_size=8
    )
    texts = ["hello world", "the lazy dog", "how are you", "yes it does"] * 3
    out = rm.Pipeline([node]).collect(texts)
    assert len(out) == len(texts)
    assert all(o["label"] in ("NEGATIVE", "POSITIVE") for o in out)
    assert sum(node.batch_sizes) == len(texts) and max(node.batch_sizes) > 1
    # Same answers one at a time (the batch only changes how they are computed).
    single = [node(t) for t in texts]
    assert [o["label"] for o in out] == [s["label"] for s in single]
    assert (
        node.config["batch_size"] == 8 and node.config["task"] == "text-classification"
    )


def test_manifest_round_trip_keeps_pipeline_kwargs(tiny_text_classifier: str) -> None:
    node = TransformersPipeline(
        "text-classification", tiny_text_classifier, call_kwargs={"top_k": 2}
    )
    rebuilt = rm.Pipeline.from_manifest(rm.Pipeline([node]).to_manifest())
    out = rebuilt.collect(["hello world"])
    assert len(out[0]) == 2  # top_k=2 labels


def test_queued_batches_never_waits_to_fill() -> None:
    async def run() -> list[list[int]]:
        queue: asyncio.Queue[int | None] = asyncio.Queue()

        async def source():  # type: ignore[no-untyped-def]
            while (item := await queue.get()) is not None:
                yield item

        for i in range(5):
            queue.put_nowait(i)
        got = []
        async for batch in queued_batches(source(), 3):
            got.append(batch)
            if sum(map(len, got)) == 5:
                queue.put_nowait(5)  # arrives alone, is not held back
            if sum(map(len, got)) == 6:
                queue.put_nowait(None)
        return got

    batches = asyncio.run(run())
    assert [x for b in batches for x in b] == list(range(6))
    assert all(len(b) <= 3 for b in batches) and batches[-1] == [5]


def test_batch_size_is_checked() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        TransformersPipeline("text-classification", "x/y", batch_size=0)
