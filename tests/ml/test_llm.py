"""TextGenerator on a tiny Qwen3: streaming, conversation state, chunking, barge-in."""

from __future__ import annotations

import asyncio
import time

import pytest

import remotemedia as rm
from remotemedia.nodes.ml import TextGenerator, Transcript
from remotemedia.nodes.ml.llm import split_sentences


def test_split_sentences() -> None:
    assert split_sentences("Hi there. How are you? I am") == (
        ["Hi there.", "How are you?"],
        "I am",
    )
    assert split_sentences("one\ntwo") == (["one"], "two")


def test_tokens_stream_before_the_reply_ends(tiny_qwen3: str) -> None:
    chat = TextGenerator(tiny_qwen3, max_new_tokens=40, device="cpu")

    async def run() -> list[tuple[float, str]]:
        got = []
        start = time.perf_counter()
        async for piece in rm.Pipeline([chat]).stream(["hello"]):
            got.append((time.perf_counter() - start, piece))
        return got

    got = asyncio.run(run())
    assert len(got) >= 5 and all(isinstance(p, str) for _, p in got)
    # The first piece came well before the last: generated and sent progressively.
    assert got[0][0] < got[-1][0] - 0.05
    assert [m["role"] for m in chat.history] == ["user", "assistant"]
    assert chat.history[1]["content"] == "".join(p for _, p in got).strip()


def test_conversation_is_node_state(tiny_qwen3: str) -> None:
    chat = TextGenerator(
        tiny_qwen3, system_prompt="Be brief.", max_new_tokens=3, chunk="reply"
    )
    pipeline = rm.Pipeline([chat])
    pipeline.collect(["hello", Transcript("how are you?", 1.0, 2.0)])
    # A partial transcript is not a turn.
    pipeline.collect([Transcript("how", 3.0, 3.2, final=False)])
    roles = [m["role"] for m in chat.history]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert chat.history[3]["content"] == "how are you?"
    chat.reset()
    assert chat.history == [{"role": "system", "content": "Be brief."}]


def test_sentence_chunks_and_sampling(tiny_qwen3: str) -> None:
    import torch

    torch.manual_seed(0)  # sampled: the same reply every run
    chat = TextGenerator(
        tiny_qwen3, max_new_tokens=30, chunk="sentence", temperature=1.0
    )
    out = chat("hello")
    # A direct call returns one output alone, several as Outputs.
    out = [out] if isinstance(out, str) else list(out)
    assert out and all(isinstance(s, str) and s == s.strip() and s for s in out)
    assert " ".join(out).split() == chat.history[-1]["content"].split()


def test_interruption_stops_generation_in_flight(tiny_qwen3: str) -> None:
    chat = TextGenerator(tiny_qwen3, max_new_tokens=400, device="cpu")
    chat.initialize()

    async def run() -> int:
        count = 0
        async for _ in chat.astream(_one("hello")):
            count += 1
            if count == 3:
                chat.interrupt(rm.Interrupt("speech"))
        return count

    start = time.perf_counter()
    count = asyncio.run(run())
    assert count <= 4  # at most the piece already decoded when interrupted
    assert time.perf_counter() - start < 30
    # The cut-off reply is kept, so the model knows what it had said.
    assert chat.history[-1]["role"] == "assistant"
    assert chat.interrupted
    # The next turn is fresh again.
    chat.max_new_tokens = 8
    assert len(chat("again")) > 3


async def _one(item: str):  # type: ignore[no-untyped-def]
    yield item


def test_bad_arguments_and_input(tiny_qwen3: str) -> None:
    with pytest.raises(ValueError, match="chunk"):
        TextGenerator(tiny_qwen3, chunk="word")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_new_tokens"):
        TextGenerator(tiny_qwen3, max_new_tokens=0)
    errors = rm.Pipeline([TextGenerator(tiny_qwen3)], on_error="emit").collect([3])
    assert isinstance(errors[0], rm.NodeError)
    assert "expects text" in errors[0].message
