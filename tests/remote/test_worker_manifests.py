"""Manifests sent by a client are parsed as JSON text on the worker: a string is
never taken for a path on the server, and entries marked remote run in place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.remote import Session

GAIN = {"id": "g", "type": "Gain", "config": {"db": -6.0206}}


def _frame() -> rm.AudioFrame:
    return rm.AudioFrame(np.ones(160, np.float32), 16000)


def test_a_path_is_not_read_on_the_server(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"version": 1, "nodes": [GAIN]}))
    with pytest.raises(rm.RemoteError, match="not valid JSON"):
        session.run_pipeline(str(path), _frame())


def test_remote_entries_run_in_the_worker(session: Session) -> None:
    entry = dict(GAIN, remote={"address": "elsewhere:1", "window": 8})
    (out,) = session.run_pipeline({"version": 1, "nodes": [entry]}, _frame())
    np.testing.assert_allclose(out.samples, 0.5, atol=1e-4)
