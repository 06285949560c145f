from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

import jsonschema
import pytest

import remotemedia as rm
from remotemedia.core import registry
from remotemedia.core.manifest import manifest_schema


@rm.register_node
class Affine(rm.Node):
    """Computes a*x + b.

    Args:
        a: Slope.
        b: Offset, added last.
        mode: How to round the result.
    """

    def __init__(
        self,
        a: float,
        b: float = 0.0,
        mode: Literal["none", "floor"] = "none",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if mode not in ("none", "floor"):
            raise ValueError(f"Affine: mode must be 'none' or 'floor', got {mode!r}")
        self.a, self.b, self.mode = a, b, mode

    def process(self, data: float) -> float:
        y = self.a * data + self.b
        return float(int(y)) if self.mode == "floor" else y


def test_manifest_round_trip_is_schema_valid_and_runs_the_same() -> None:
    p = rm.Pipeline(
        [Affine(2, 1), Affine(a=0.5, mode="floor", name="half")], name="aff"
    )
    manifest = p.to_manifest()
    jsonschema.validate(manifest, manifest_schema())
    assert manifest["nodes"][1] == {
        "id": "half",
        "type": "Affine",
        "config": {"a": 0.5, "b": 0.0, "mode": "floor"},
    }
    assert manifest["edges"] == [{"from": "Affine", "to": "half"}]
    rebuilt = rm.Pipeline.from_manifest(json.dumps(manifest))
    assert rebuilt.name == "aff"
    assert rebuilt.to_manifest() == manifest
    assert rebuilt.run(3.0) == p.run(3.0) == 3.0


def test_edges_define_order() -> None:
    manifest = {
        "version": 1,
        "nodes": [
            {"id": "second", "type": "Affine", "config": {"a": 10}},
            {"id": "first", "type": "Affine", "config": {"a": 1, "b": 1}},
        ],
        "edges": [{"from": "first", "to": "second"}],
    }
    p = rm.Pipeline.from_manifest(manifest)
    assert [n.name for n in p] == ["first", "second"]
    assert p.run(1.0) == 20.0


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", "not valid JSON"),
        ([], "JSON object"),
        ({"nodes": []}, "'version' is a required property"),
        ({"version": 2, "nodes": []}, "version"),
        (
            {"version": 1, "nodes": [{"id": "x", "type": "Nope"}]},
            "node 'x': unknown node type 'Nope'",
        ),
        (
            {"version": 1, "nodes": [{"id": "x", "type": "Afine", "config": {"a": 1}}]},
            "did you mean Affine",
        ),
        (
            {
                "version": 1,
                "nodes": [{"id": "x", "type": "Affine", "config": {"a": 1, "c": 2}}],
            },
            "node 'x': unknown config field 'c'",
        ),
        (
            {"version": 1, "nodes": [{"id": "x", "type": "Affine", "config": {}}]},
            "node 'x': missing required config field 'a'",
        ),
        (
            {
                "version": 1,
                "nodes": [{"id": "x", "type": "Affine", "config": {"a": "big"}}],
            },
            "node 'x', field 'a': expected float",
        ),
        (
            {
                "version": 1,
                "nodes": [
                    {"id": "x", "type": "Affine", "config": {"a": 1, "mode": "ceil"}}
                ],
            },
            "node 'x' (Affine): bad config: Affine: mode",
        ),
        (
            {"version": 1, "nodes": [{"id": "x", "type": "Affine", "config": 5}]},
            "node 'x', field 'config'",
        ),
        (
            {"version": 1, "nodes": [{"id": "1x", "type": "Affine"}]},
            "node '1x', field 'id'",
        ),
        (
            {
                "version": 1,
                "nodes": [{"id": "x", "type": "Affine", "config": {"a": 1}}] * 2,
            },
            "duplicate node id",
        ),
        (
            {
                "version": 1,
                "nodes": [{"id": "x", "type": "Affine", "config": {"a": 1}}],
                "edges": [{"from": "x", "to": "y"}],
            },
            "unknown node id 'y'",
        ),
        (
            {
                "version": 1,
                "nodes": [
                    {"id": n, "type": "Affine", "config": {"a": 1}} for n in "abc"
                ],
                "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "c"}],
            },
            "more than one outgoing edge",
        ),
        (
            {
                "version": 1,
                "nodes": [
                    {"id": n, "type": "Affine", "config": {"a": 1}} for n in "ab"
                ],
                "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}],
            },
            "one chain",
        ),
    ],
)
def test_bad_manifests_name_the_problem(manifest: object, message: str) -> None:
    with pytest.raises(rm.ManifestError) as info:
        rm.Pipeline.from_manifest(manifest)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_unserialisable_or_unregistered_nodes_have_no_manifest() -> None:
    class Local(rm.Node):
        def __init__(self, fn: object = print, name: str | None = None) -> None:
            super().__init__(name=name)

    with pytest.raises(rm.ManifestError, match="field 'fn'.*not JSON"):
        rm.Pipeline([Local()]).to_manifest()
    with pytest.raises(rm.ManifestError, match="not registered"):
        rm.Pipeline([Local(fn=1)]).to_manifest()


def test_list_nodes_describes_parameters() -> None:
    infos = {info.name: info for info in rm.list_nodes()}
    info = infos["Affine"]
    assert info.summary == "Computes a*x + b."
    params = {p.name: p for p in info.parameters}
    assert params["a"].required and params["a"].type == "float"
    assert params["a"].doc == "Slope."
    assert params["b"].default == 0.0 and params["b"].doc == "Offset, added last."
    assert params["mode"].choices == ("none", "floor")
    assert info.to_dict()["parameters"][1]["default"] == 0.0
    assert "Affine(a: float" in str(rm.list_nodes())
    assert "<table>" in rm.list_nodes()._repr_html_()


def test_register_node_rejects_bad_use() -> None:
    with pytest.raises(TypeError, match="Node subclass"):
        rm.register_node(int)  # type: ignore[type-var]

    class Affine(rm.Node):  # same name, different class
        pass

    with pytest.raises(ValueError, match="already registered"):
        rm.register_node(Affine)


def test_entry_point_plugins_are_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rm_plugin_demo.py").write_text(
        "import remotemedia as rm\n"
        "class Shout(rm.Node):\n"
        "    '''Upper-cases text.'''\n"
        "    def process(self, data):\n"
        "        return data.upper()\n"
    )
    dist = tmp_path / "rm_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rm-plugin-demo\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[remotemedia.nodes]\nshout = rm_plugin_demo:Shout\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reload_entry_points()
    try:
        assert "Shout" in {info.name for info in rm.list_nodes()}
        p = rm.Pipeline.from_manifest(
            {"version": 1, "nodes": [{"id": "s", "type": "Shout"}]}
        )
        assert p.run("hi") == "HI"
    finally:
        registry._REGISTRY.pop("Shout", None)
        registry.reload_entry_points()
        sys.modules.pop("rm_plugin_demo", None)


def test_node_error_record_round_trips() -> None:
    try:
        raise KeyError("k")
    except KeyError as exc:
        err = rm.NodeError.from_exception("n", exc, {"x": 1})
    assert err.to_dict()["error_type"] == "KeyError"
    again = rm.NodeError.from_dict(err.to_dict())
    assert str(again) == str(err)
    rendered = err._render_traceback_()
    assert rendered[0] == "NodeError: node 'n' failed on {'x': 1}: KeyError: 'k'"
    assert rendered[1].startswith("Traceback")
    assert 'raise KeyError("k")' in "\n".join(rendered)
