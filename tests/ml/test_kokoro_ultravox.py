"""KokoroTTS and Ultravox up to the weight load (their weights need a download).

Neither library can build its model without the published weights, so these tests
run everything before that step (arguments, registry, input preparation, the
offline checks and their errors, Kokoro's phonemes) and skip only the synthesis /
generation, printing why.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.nodes.ml import KokoroTTS, ModelNotFoundError, Ultravox


def test_registered_with_their_parameters() -> None:
    names = {info.name: info for info in rm.list_nodes()}
    kokoro = {p.name: p.default for p in names["KokoroTTS"].parameters}
    assert kokoro["voice"] == "af_heart" and kokoro["lang"] == "a"
    assert "model" in {p.name for p in names["Ultravox"].parameters}


def test_kokoro_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="lang must be"):
        KokoroTTS(lang="x")
    with pytest.raises(ValueError, match="speed"):
        KokoroTTS(speed=0)
    node = KokoroTTS(voice="ef_dora", lang="e")
    assert node.required_files() == [
        "config.json",
        "kokoro-v1_0.pth",
        "voices/ef_dora.pt",
    ]


kokoro_installed = importlib.util.find_spec("kokoro") is not None


@pytest.mark.skipif(not kokoro_installed, reason="the kokoro package is not installed")
def test_kokoro_offline_errors_name_the_files_and_the_command(
    empty_hf_home: Path, tmp_path: Path
) -> None:
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        KokoroTTS(voice="ef_dora", lang="e", device="cpu").initialize()
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    assert "hf download hexgrad/Kokoro-82M" in message
    assert "voices/ef_dora.pt" in message and str(empty_hf_home / "hub") in message
    # A local folder missing its voice is named too.
    folder = tmp_path / "kokoro"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.pth").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="voices/ef_dora.pt"):
        KokoroTTS(voice="ef_dora", lang="e", model=str(folder)).initialize()


@pytest.mark.skipif(not kokoro_installed, reason="the kokoro package is not installed")
def test_kokoro_english_needs_the_spacy_model_and_says_so() -> None:
    if importlib.util.find_spec("en_core_web_sm") is not None:
        pytest.skip("en_core_web_sm is installed here: the error cannot happen")
    with pytest.raises(ModelNotFoundError, match="python -m spacy download"):
        KokoroTTS(lang="a").initialize()


@pytest.mark.skipif(not kokoro_installed, reason="the kokoro package is not installed")
def test_kokoro_phonemes_offline_then_skip_the_weights(empty_hf_home: Path) -> None:
    from kokoro import KPipeline

    g2p = KPipeline(lang_code="e", repo_id="hexgrad/Kokoro-82M", model=False)
    results = list(g2p("Hola mundo.", voice=None))
    assert results and "mˈundo" in results[0].phonemes
    print(
        "SKIP synthesis: Kokoro-82M weights (hexgrad/Kokoro-82M, 327 MB) are not in "
        "the offline cache and the library cannot build the model without them"
    )
    pytest.skip("Kokoro-82M weights are not available offline (synthesis step)")


def test_ultravox_input_is_16k_mono_with_the_conversation() -> None:
    node = Ultravox(system_prompt="You are brief.", max_new_tokens=16)
    stereo = rm.AudioFrame(np.zeros((2, 48000), dtype=np.float32), 48000, 4.0)
    inputs = node.pipeline_input(stereo)
    assert inputs["sampling_rate"] == 16000
    assert inputs["audio"].shape == (16000,) and inputs["audio"].dtype == np.float32
    assert inputs["turns"] == [{"role": "system", "content": "You are brief."}]
    with pytest.raises(ValueError, match="max_new_tokens"):
        Ultravox(max_new_tokens=0)


def test_ultravox_offline_error_then_skip_the_weights(empty_hf_home: Path) -> None:
    node = Ultravox("fixie-ai/ultravox-v0_5-llama-3_2-1b", device="cpu")
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError) as info:
        node.initialize()
    assert time.perf_counter() - start < 5.0
    assert "hf download fixie-ai/ultravox-v0_5-llama-3_2-1b" in str(info.value)
    print(
        "SKIP generation: Ultravox weights (and its Llama text model) are not in "
        "the offline cache; its model code comes with them (trust_remote_code)"
    )
    pytest.skip("Ultravox weights are not available offline (generation step)")
