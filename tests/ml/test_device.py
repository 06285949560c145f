"""Device and dtype choice: cuda > mps > cpu, explicit devices checked by name."""

from __future__ import annotations

import pytest
import torch

from remotemedia.nodes.ml.device import resolve_device, resolve_dtype


def _fake(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, count: int = 1
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, cuda=True, mps=True)
    assert resolve_device("auto") == "cuda"
    _fake(monkeypatch, cuda=False, mps=True)
    assert resolve_device("auto") == "mps"
    _fake(monkeypatch, cuda=False, mps=False)
    assert resolve_device("auto") == "cpu"


def test_this_machine_resolves_to_a_real_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device() == expected
    assert resolve_device("cpu") == "cpu"


def test_explicit_devices_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, cuda=True, mps=False, count=2)
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="only 2 CUDA device"):
        resolve_device("cuda:2")
    with pytest.raises(ValueError, match="MPS is not available"):
        resolve_device("mps")
    _fake(monkeypatch, cuda=False, mps=False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("gpu")


def test_dtype_names_and_defaults() -> None:
    assert resolve_dtype(None, "cpu") is torch.float32
    assert resolve_dtype(None, "cuda:0") is torch.float16
    assert resolve_dtype("bf16", "cpu") is torch.bfloat16
    assert resolve_dtype("half", "cpu") is torch.float16
    assert resolve_dtype(torch.float64, "cpu") is torch.float64
    assert resolve_dtype("auto", "cpu") == "auto"
    with pytest.raises(ValueError, match="dtype must be"):
        resolve_dtype("int8", "cpu")


def test_nodes_check_device_and_dtype_when_built() -> None:
    from remotemedia.nodes.ml import SpeechToText

    with pytest.raises(ValueError, match="device must be"):
        SpeechToText("x/y", device="tpu")
    with pytest.raises(ValueError, match="dtype must be"):
        SpeechToText("x/y", dtype="float8")
