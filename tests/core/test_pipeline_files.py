"""Pipeline.save / Pipeline.load and manifests given as file paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes


def _pipeline() -> rm.Pipeline:
    return rm.Pipeline(
        [nodes.Resample(16000), nodes.HighPass(cutoff_hz=80.0), nodes.Gain(db=-6)],
        name="speech",
        on_error="emit",
        queue_size=4,
    )


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    original = _pipeline()
    written = original.save(tmp_path / "p.json")
    assert written == tmp_path / "p.json"
    assert json.loads(written.read_text())["name"] == "speech"
    for source in (written, str(written)):
        loaded = rm.Pipeline.load(source)
        assert loaded.to_manifest() == original.to_manifest()
        assert (loaded.on_error, loaded.queue_size) == ("emit", 4)
        via_manifest = rm.Pipeline.from_manifest(source)
        assert via_manifest.to_manifest() == original.to_manifest()
    clip = rm.AudioFrame(np.ones(4800, dtype=np.float32), 48000)
    np.testing.assert_array_equal(
        rm.Pipeline.load(written).run(clip, engine="python").samples,
        original.run(clip, engine="python").samples,
    )


def test_file_errors_name_the_real_cause(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no manifest file at 'missing.json'"):
        rm.Pipeline.from_manifest("missing.json")
    with pytest.raises(FileNotFoundError, match="is a directory"):
        rm.Pipeline.load(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "nodes": [')
    with pytest.raises(rm.ManifestError, match="manifest file '.*broken.json' is not"):
        rm.Pipeline.load(broken)
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"version": 1, "nodes": [{"id": "g", "type": "Gian"}]}))
    with pytest.raises(rm.ManifestError, match="did you mean Gain"):
        rm.Pipeline.load(typo)
    # JSON text still works and is never taken for a path.
    text = json.dumps({"version": 1, "nodes": [{"id": "g", "type": "Gain"}]})
    assert rm.Pipeline.from_manifest(text).nodes[0].name == "g"


def test_a_function_parameter_cannot_be_saved_and_says_why(tmp_path: Path) -> None:
    pipeline = rm.Pipeline([nodes.Gain(db=-3), nodes.Lambda(fn=lambda x: x, name="f")])
    with pytest.raises(rm.ManifestError) as info:
        pipeline.save(tmp_path / "p.json")
    message = str(info.value)
    assert "cannot save pipeline 'pipeline'" in message
    assert "node 'f' (Lambda), field 'fn': a Python function" in message
    assert not (tmp_path / "p.json").exists()


def test_remote_entries_can_be_built_locally() -> None:
    manifest = {
        "version": 1,
        "nodes": [
            {"id": "g", "type": "Gain", "config": {"db": -6.0}},
            {
                "id": "mel",
                "type": "MelSpectrogram",
                "config": {"n_mels": 32},
                "remote": {"address": "gpu:50051", "window": 4},
            },
        ],
    }
    local = rm.Pipeline.from_manifest(manifest, placement="local")
    assert [type(n).__name__ for n in local.nodes] == ["Gain", "MelSpectrogram"]
    bad = json.loads(json.dumps(manifest))
    bad["nodes"][1]["remote"]["token"] = "secret"
    with pytest.raises(rm.ManifestError, match="node 'mel', field 'remote'"):
        rm.Pipeline.from_manifest(bad)


def test_the_schema_stays_a_valid_draft_2020_12_schema() -> None:
    # The Rust runtime compiles the same file; a metaschema-valid schema compiles.
    import jsonschema

    from remotemedia.core.manifest import manifest_schema

    jsonschema.Draft202012Validator.check_schema(manifest_schema())
    remote = manifest_schema()["$defs"]["remote"]
    assert set(remote["properties"]) == {"address", "window"}
