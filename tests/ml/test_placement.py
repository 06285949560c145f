"""Model nodes on a real loopback server: placement on the server's device, the
session status (device, GPU memory, models), warm models across runs, and the voice
loop with its heavy nodes remote (barge-in included)."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import remotemedia as rm
from remotemedia import nodes
from remotemedia.nodes.ml import SpeechToText, TextGenerator
from remotemedia.remote import LocalServer, Session, start_server

pytest.importorskip("piper", reason="piper-tts is not installed")

from remotemedia.nodes.ml.offline_tts import OfflineTTS  # noqa: E402
from remotemedia.nodes.ml.silero import SileroVAD  # noqa: E402
from remotemedia.nodes.ml.voice_loop import voice_loop  # noqa: E402

# The barge-in helpers of the local voice-loop test, shared rather than copied.
_spec = importlib.util.spec_from_file_location(
    "voice_loop_cases", Path(__file__).with_name("test_voice_loop.py")
)
assert _spec is not None and _spec.loader is not None
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """A server whose workers may load torch models (no memory limit)."""
    srv = start_server(args=["--workers", "2", "--call-timeout", "120"])
    yield srv
    srv.stop()


@pytest.fixture
def session(server: LocalServer) -> Iterator[Session]:
    with rm.connect(server.address, server.token) as sess:
        yield sess


@pytest.fixture(scope="module")
def segments() -> list[rm.AudioFrame]:
    clip = nodes.AudioFileSource(rm.data.speech())
    return rm.Pipeline([clip, SileroVAD()]).collect()


def test_speech_to_text_loads_and_runs_on_the_server(
    session: Session, tiny_whisper: str, segments: list[rm.AudioFrame]
) -> None:
    before = session.status()
    assert before["device"] == "cpu" or before["device"].startswith(("cuda", "mps"))
    assert before["models"] == []
    stt = rm.remote(SpeechToText(tiny_whisper), session=session)
    first = rm.Pipeline([stt]).collect(segments)
    assert len(first) == 2 and all(isinstance(t, rm.nodes.ml.Transcript) for t in first)
    status = session.status()
    (model,) = status["models"]
    assert model["type"] == "SpeechToText" and model["model"] == tiny_whisper
    assert model["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert "gpu_memory_mb" in status
    # A second run (a later notebook cell) finds the model warm: no reload.
    second = rm.Pipeline([stt]).collect(segments)
    assert [t.text for t in second] == [t.text for t in first]
    (again,) = session.status()["models"]
    assert again["load_s"] == model["load_s"]


def test_status_lists_offline_models(session: Session) -> None:
    vad = rm.remote(SileroVAD(), session=session)
    frames = list(nodes.AudioFileSource(rm.data.speech()))
    assert len(rm.Pipeline([vad]).collect(frames)) == 2
    types = [m["type"] for m in session.status()["models"]]
    assert types == ["SileroVAD"]


def test_remote_voice_loop_barge_in(
    session: Session, tiny_whisper: str, tiny_qwen3: str
) -> None:
    torch.manual_seed(1)
    llm = TextGenerator(tiny_qwen3, max_new_tokens=40, chunk="token", temperature=1.0)
    loop = voice_loop(
        SpeechToText(tiny_whisper), llm, OfflineTTS(chunk_ms=100), session=session
    )
    assert [n.is_remote for n in loop.nodes[1:]] == [True] * 3
    clip = list(nodes.AudioFileSource(rm.data.speech()))
    out = asyncio.run(cases.run_barge_in(loop, clip))
    loaded = {m["type"] for m in session.status()["models"]}
    assert loaded >= {"SpeechToText", "TextGenerator"}
    # Answer 1 as the server generated it (the local llm never ran), spoken in full.
    assert llm.history == []
    history = session.call_method(
        loop.nodes[2].object_id, "__getattribute__", ("history",)
    )
    reply1 = history[1]["content"]
    full = OfflineTTS(chunk_ms=100)
    spoken = sum(f.duration for f in full.process(reply1)) if reply1.strip() else 0.0
    cases.check_cut_off(out, spoken)
