"""The voice loop SileroVAD -> SpeechToText -> TextGenerator -> OfflineTTS, and
barge-in: an answer in flight is cut off when the user speaks again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import torch

import remotemedia as rm
from remotemedia import nodes
from remotemedia.nodes.ml import SpeechToText, TextGenerator

pytest.importorskip("piper", reason="piper-tts is not installed")

from remotemedia.nodes.ml.offline_tts import OfflineTTS  # noqa: E402
from remotemedia.nodes.ml.silero import SileroVAD  # noqa: E402
from remotemedia.nodes.ml.voice_loop import voice_loop  # noqa: E402

SPLIT_S = 1.9  # between the clip's two utterances (0.1-1.4 s and 2.0-4.5 s)


@pytest.fixture(scope="module")
def tts() -> OfflineTTS:
    node = OfflineTTS(chunk_ms=100)
    node.initialize()
    return node


@pytest.fixture(scope="module")
def clip() -> list[rm.AudioFrame]:
    return list(nodes.AudioFileSource(rm.data.speech()))


def _split(frames: list[rm.AudioFrame]) -> tuple[list[Any], list[Any]]:
    first = [f for f in frames if f.timestamp < SPLIT_S]
    return first, frames[len(first) :]


def _silence(after: rm.AudioFrame, seconds: float) -> list[rm.AudioFrame]:
    n = round(after.sample_rate * 0.02)
    start = after.timestamp + after.duration
    return [
        rm.AudioFrame(
            np.zeros((after.channels, n), np.float32),
            after.sample_rate,
            start + i * 0.02,
        )
        for i in range(round(seconds / 0.02))
    ]


def _llm(model: str, max_new_tokens: int) -> TextGenerator:
    # Sampling: random weights then give speakable (random) text, not newlines.
    return TextGenerator(
        model, max_new_tokens=max_new_tokens, chunk="token", temperature=1.0
    )


def test_voice_loop_answers_an_utterance(
    tiny_whisper: str, tiny_qwen3: str, tts: OfflineTTS, clip: list[rm.AudioFrame]
) -> None:
    torch.manual_seed(0)
    stt, llm = SpeechToText(tiny_whisper), _llm(tiny_qwen3, 12)
    loop = voice_loop(stt, llm, tts)
    assert [type(n).__name__ for n in loop.nodes] == [
        "SileroVAD",
        "SpeechToText",
        "TextGenerator",
        "OfflineTTS",
    ]
    first, _ = _split(clip)
    out = loop.collect(first + _silence(first[-1], 0.5))
    assert isinstance(out[0], rm.Interrupt) and out[0].reason == "speech"
    audio = out[1:]
    assert audio and all(isinstance(f, rm.AudioFrame) for f in audio)
    assert rm.Pipeline([SileroVAD()]).collect(audio), "the reply is not speech"
    # The conversation: the transcript went in, the reply came out.
    assert [turn["role"] for turn in llm.history] == ["user", "assistant"]
    assert llm.history[1]["content"]


async def _barge_in(
    first: list[Any], second: list[Any], replying: asyncio.Event
) -> AsyncIterator[Any]:
    for frame in first + _silence(first[-1], 0.4):
        yield frame
    await asyncio.wait_for(replying.wait(), 60)  # the answer is being played
    for frame in second + _silence(second[-1], 0.5):
        yield frame


async def run_barge_in(loop: rm.Pipeline, clip: list[rm.AudioFrame]) -> list[Any]:
    """Streams utterance 1, waits for its answer to start playing (in real time),
    then streams utterance 2."""
    replying = asyncio.Event()
    out: list[Any] = []
    first, second = _split(clip)
    async for item in loop.stream(_barge_in(first, second, replying)):
        out.append(item)
        if isinstance(item, rm.AudioFrame):
            replying.set()
            await asyncio.sleep(item.duration)  # played in real time
    return out


def check_cut_off(out: list[Any], spoken_reply_s: float) -> None:
    """Interrupt, part of answer 1, Interrupt, answer 2: answer 1 was cut."""
    marks = [i for i, item in enumerate(out) if isinstance(item, rm.Interrupt)]
    assert len(marks) == 2 and marks[0] == 0
    answer1 = out[1 : marks[1]]
    answer2 = out[marks[1] + 1 :]
    assert answer1 and answer2
    assert all(isinstance(f, rm.AudioFrame) for f in answer1 + answer2)
    heard = sum(f.duration for f in answer1)
    assert heard < 0.7 * spoken_reply_s, (heard, spoken_reply_s)
    # Nothing of answer 1 leaked after the interruption: answer 2 is contiguous.
    gaps = [
        round(b.timestamp - a.timestamp - a.duration, 3)
        for a, b in zip(answer2, answer2[1:])
    ]
    assert not any(gaps), gaps


def test_barge_in_cuts_the_answer_in_flight(
    tiny_whisper: str, tiny_qwen3: str, tts: OfflineTTS, clip: list[rm.AudioFrame]
) -> None:
    torch.manual_seed(1)
    llm = _llm(tiny_qwen3, 40)
    loop = voice_loop(SpeechToText(tiny_whisper), llm, tts)
    out = asyncio.run(run_barge_in(loop, clip))
    # What answer 1 would have lasted, spoken in full.
    full = OfflineTTS(chunk_ms=100)
    full._piper, full.sample_rate = tts._piper, tts.sample_rate
    reply1 = llm.history[1]["content"]
    spoken = sum(f.duration for f in full.process(reply1)) if reply1.strip() else 0.0
    check_cut_off(out, spoken)
    assert len(llm.history) == 4  # both turns, the first one cut short


def test_interrupt_stops_token_generation(tiny_qwen3: str) -> None:
    # Greedy on random weights: newlines, never the end token, so only the
    # interruption can stop 3000 tokens early.
    llm = TextGenerator(tiny_qwen3, max_new_tokens=3000, chunk="token")
    got: list[Any] = []

    async def source() -> AsyncIterator[Any]:
        yield "hello"
        while not got:
            await asyncio.sleep(0.01)
        yield rm.Interrupt("test")

    async def main() -> None:
        async for item in rm.Pipeline([llm]).stream(source()):
            got.append(item)

    asyncio.run(main())
    tokenizer = llm.loaded[0]
    generated = len(tokenizer(llm.history[1]["content"] or "x").input_ids)
    assert isinstance(got[-1], rm.Interrupt)
    assert generated < 1000
