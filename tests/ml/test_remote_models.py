"""Model nodes on a server session: loaded and run in the session's worker."""

from __future__ import annotations

import numpy as np

import remotemedia as rm
from remotemedia.nodes.ml import SpeechToText, TextGenerator, Transcript


def test_remote_speech_to_text_and_chat(tiny_whisper: str, tiny_qwen3: str) -> None:
    rng = np.random.default_rng(0)
    segment = rm.AudioFrame(
        (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000, 1.0
    )
    with rm.connect() as session:
        stt = rm.remote(
            SpeechToText(tiny_whisper, device="cpu", max_new_tokens=3),
            session=session,
        )
        chat = rm.remote(TextGenerator(tiny_qwen3, max_new_tokens=4), session=session)
        first = rm.Pipeline([stt]).collect([segment])
        # Another run (another cell) reuses the instance and its loaded model.
        again = rm.Pipeline([stt]).collect([segment])
        reply = rm.Pipeline([chat]).collect(["hello"])
    assert [type(t) for t in first + again] == [Transcript, Transcript]
    assert (first[0].start, first[0].end) == (1.0, 2.0)
    assert first[0].text == again[0].text
    assert reply and all(isinstance(piece, str) for piece in reply)
