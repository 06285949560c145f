"""Pipeline rules with remote segments on a real server: run(), save/load, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.remote import RemoteNode, Session


class DividesByZero(rm.Node):
    """Fails on the server, in user code."""

    def process(self, data: Any) -> Any:
        return data.samples.sum() / 0 if data.samples.sum() else 1 // 0


def _second_at_48k() -> rm.AudioFrame:
    t = np.arange(48000) / 48000
    return rm.AudioFrame((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 48000)


def test_run_through_a_remote_segment_returns_one_frame(session: Session) -> None:
    clip = _second_at_48k()
    pipeline = rm.Pipeline(
        [rm.remote(nodes.Resample(16000), session), rm.remote(nodes.Gain(-6), session)]
    )
    out = pipeline.run(clip)
    assert isinstance(out, rm.AudioFrame) and out.num_samples == 16000
    local = rm.Pipeline([nodes.Resample(16000), nodes.Gain(-6)]).run(
        clip, engine="python"
    )
    np.testing.assert_allclose(out.samples, local.samples, atol=1e-6)
    assert len(pipeline.collect([clip])) == 2  # collect keeps the frames as emitted


def test_save_records_remote_segments_and_load_rebinds_them(
    session: Session, tmp_path: Path
) -> None:
    pipeline = rm.Pipeline(
        [
            nodes.Gain(db=-3.0),
            rm.remote(nodes.Resample(16000), session, window=4),
            rm.remote(nodes.MelSpectrogram(n_mels=32), session),
        ]
    )
    path = pipeline.save(tmp_path / "hybrid.json")
    saved = json.loads(path.read_text())
    assert saved["nodes"][0].get("remote") is None
    assert saved["nodes"][1]["remote"] == {"address": session.address, "window": 4}
    assert saved["nodes"][2]["type"] == "MelSpectrogram"
    if session.token:
        assert session.token not in path.read_text()  # never a credential
    loaded = rm.Pipeline.load(path, session=session)
    kinds = [type(n).__name__ for n in loaded.nodes]
    assert kinds == ["Gain", "RemoteNode", "RemoteNode"]
    assert isinstance(loaded.nodes[1], RemoteNode) and loaded.nodes[1].window == 4
    assert loaded.to_manifest() == pipeline.to_manifest()
    specs = loaded.run(_second_at_48k())
    expected = rm.Pipeline.load(path, placement="local").run(
        _second_at_48k(), engine="python"
    )
    assert len(specs) == len(expected) == 2
    for a, b in zip(specs, expected):
        np.testing.assert_allclose(a.values, b.values, atol=1e-4)


def test_a_remote_failure_renders_without_server_frames(session: Session) -> None:
    pipeline = rm.Pipeline([rm.remote(DividesByZero(), session)])
    with pytest.raises(rm.PipelineError) as info:
        pipeline.run(_second_at_48k())
    lines = info.value._render_traceback_()
    text = "\n".join(lines)
    assert lines[0].startswith("PipelineError: node 'DividesByZero' failed")
    assert "ZeroDivisionError" in text
    assert "worker.py" not in text and "remotemedia_server" not in text
