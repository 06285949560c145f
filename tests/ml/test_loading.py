"""Model resolution: local folders, the HF_HOME cache, and the offline error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import remotemedia as rm
from remotemedia.nodes.ml import ModelNotFoundError, SpeechToText, TextGenerator
from remotemedia.nodes.ml.loading import hub_cache_dir, is_offline, resolve_model


def test_the_suite_is_offline() -> None:
    assert is_offline()


def test_local_folder_is_used_as_is(tiny_whisper: str) -> None:
    assert resolve_model(tiny_whisper) == tiny_whisper


def test_missing_model_offline_fails_fast_and_says_how_to_fetch(
    empty_hf_home: Path,
) -> None:
    node = SpeechToText("openai/whisper-tiny", device="cpu")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        node.initialize()
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    assert "'openai/whisper-tiny'" in message
    assert str(empty_hf_home / "hub") in message
    assert "hf download openai/whisper-tiny" in message
    assert "speech recognition model" in message
    assert info.value.__cause__ is None  # no hub traceback chained on
    assert isinstance(info.value, rm.RemoteMediaError)


def test_missing_local_folder_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        TextGenerator(str(missing)).initialize()


def test_a_pipeline_reports_the_missing_model(empty_hf_home: Path) -> None:
    pipeline = rm.Pipeline([TextGenerator("Qwen/Qwen3-0.6B", device="cpu")])
    with pytest.raises(ModelNotFoundError, match="hf download Qwen/Qwen3-0.6B"):
        pipeline.collect(["hello"])


def test_cached_snapshot_in_hf_home_is_found_without_network(
    empty_hf_home: Path, tiny_qwen3: str
) -> None:
    # The hub cache layout: models--org--name/{refs/main, snapshots/<rev>/...}.
    repo = hub_cache_dir() / "models--tiny--qwen3"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    for file in Path(tiny_qwen3).iterdir():
        (snapshot / file.name).symlink_to(file)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    assert hub_cache_dir() == empty_hf_home / "hub"
    assert resolve_model("tiny/qwen3") == str(snapshot)
    node = TextGenerator("tiny/qwen3", max_new_tokens=2, device="cpu")
    node.initialize()
    assert node.model_info()["loaded"] is True
    assert node.model_info()["device"] == "cpu"


def test_bad_model_argument_is_refused() -> None:
    with pytest.raises(ValueError, match="model must be"):
        SpeechToText("")


def test_missing_extra_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from remotemedia.nodes.ml import TextToSpeech

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    node = TextToSpeech("/nonexistent/but/never/reached", device="cpu")
    node.resolve = lambda: "/tmp"  # type: ignore[method-assign]
    with pytest.raises(ImportError, match=r"pip install 'remotemedia\[ml\]'"):
        node.initialize()


def test_pickled_node_travels_without_weights(tiny_qwen3: str) -> None:
    import pickle

    node = TextGenerator(tiny_qwen3, max_new_tokens=2, device="cpu")
    node.initialize()
    copy = pickle.loads(pickle.dumps(node))
    assert copy.loaded is None and node.loaded is not None
    assert copy.config == node.config
    from remotemedia.nodes.ml import loaded_models

    assert any(m["model"] == tiny_qwen3 for m in loaded_models())


def test_unreachable_hub_fails_in_seconds_not_after_retries(
    empty_hf_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    # A closed loopback port stands for a machine without network.
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("org/not-cached", what="test model")
    assert time.perf_counter() - start < 5.0
    assert "cannot be reached" in str(info.value)
    assert "hf download org/not-cached" in str(info.value)
