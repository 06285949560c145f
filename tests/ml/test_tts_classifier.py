"""TextToSpeech on a tiny VITS and AudioClassifier on a tiny Wav2Vec2 classifier."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.nodes.ml import AudioClassifier, Classification, TextToSpeech


def test_speech_comes_in_chunks_on_one_clock(tiny_vits: str) -> None:
    tts = TextToSpeech(tiny_vits, chunk_s=0.1, device="cpu")
    frames = rm.Pipeline([tts]).collect(["hello world. how are you?", "yes."])
    assert len(frames) >= 3
    assert all(isinstance(f, rm.AudioFrame) for f in frames)
    assert {f.sample_rate for f in frames} == {16000}
    assert all(f.channels == 1 and 0 < f.num_samples <= 1600 for f in frames)
    clock = 0.0
    for frame in frames:  # contiguous timestamps across sentences and inputs
        assert frame.timestamp == pytest.approx(clock, abs=1e-9)
        clock += frame.duration
    assert np.isfinite(np.concatenate([f.samples for f in frames], axis=1)).all()


def test_interruption_drops_the_rest_of_the_answer(tiny_vits: str) -> None:
    tts = TextToSpeech(tiny_vits, chunk_s=0.05, device="cpu")
    tts.initialize()
    full = len(tts.process("hello world. how are you? yes. the quick brown fox."))

    async def run() -> int:
        count = 0

        async def one():  # type: ignore[no-untyped-def]
            yield "hello world. how are you? yes. the quick brown fox."

        async for _ in tts.astream(one()):
            count += 1
            if count == 2:
                tts.interrupt(rm.Interrupt("speech"))
        return count

    assert asyncio.run(run()) <= 3 < full


def test_tts_refuses_audio_input(tiny_vits: str) -> None:
    with pytest.raises(TypeError, match="expects text"):
        TextToSpeech(tiny_vits, device="cpu")(rm.AudioFrame(np.zeros(10), 16000))


def _segments(count: int) -> list[rm.AudioFrame]:
    rng = np.random.default_rng(3)
    return [
        rm.AudioFrame(rng.standard_normal(24000).astype(np.float32) * 0.1, 48000, i)
        for i in range(count)
    ]


def test_labels_with_scores_per_segment(tiny_audio_classifier: str) -> None:
    classifier = AudioClassifier(tiny_audio_classifier, top_k=2, device="cpu")
    out = rm.Pipeline([classifier]).collect(_segments(2))
    assert [type(c) for c in out] == [Classification, Classification]
    first = out[0]
    assert len(first.labels) == 2 and first.top in {
        "speech",
        "music",
        "noise",
        "silence",
    }
    assert first.labels[0][1] >= first.labels[1][1]
    assert (first.start, first.end) == (0.0, 0.5)
    assert str(first).startswith(first.top)


def test_queued_segments_are_batched(tiny_audio_classifier: str) -> None:
    single = AudioClassifier(tiny_audio_classifier, top_k=4, device="cpu")
    batched = AudioClassifier(tiny_audio_classifier, top_k=4, batch_size=4)
    one_by_one = rm.Pipeline([single]).collect(_segments(6))
    together = rm.Pipeline([batched]).collect(_segments(6))
    assert single.batch_sizes == [1] * 6
    assert max(batched.batch_sizes) > 1 and sum(batched.batch_sizes) == 6
    for a, b in zip(one_by_one, together):
        assert [label for label, _ in a.labels] == [label for label, _ in b.labels]
        assert np.allclose(
            [s for _, s in a.labels], [s for _, s in b.labels], atol=1e-4
        )
    assert [c.start for c in together] == list(range(6))
