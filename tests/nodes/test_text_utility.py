"""Text and utility nodes: behaviour, errors, pickling and manifests."""

from __future__ import annotations

import asyncio
import json
import pickle

import cloudpickle
import numpy as np
import pytest

import remotemedia as rm
from remotemedia.nodes.text import JsonDecode, JsonEncode, TextTransform
from remotemedia.nodes.utility import Buffer, Lambda, Passthrough, Tee


# -- TextTransform ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fn", "text", "expected"),
    [
        ("upper", "Hello world", "HELLO WORLD"),
        ("lower", "Hello World", "hello world"),
        ("strip", "  padded \n", "padded"),
        ("title", "the quick fox", "The Quick Fox"),
        ("split", "a b  c", ["a", "b", "c"]),
    ],
)
def test_text_transform_str_methods(fn: str, text: str, expected: object) -> None:
    assert TextTransform(fn)(text) == expected


def test_text_transform_callable_and_pipeline() -> None:
    pipeline = rm.Pipeline([TextTransform("strip"), TextTransform(lambda s: s[::-1])])
    assert pipeline.collect(["  abc ", "xy"]) == ["cba", "yx"]


def test_text_transform_errors() -> None:
    with pytest.raises(ValueError, match="did you mean upper"):
        TextTransform("uper")
    with pytest.raises(ValueError, match="'join' is not a str method that takes no"):
        TextTransform("join")
    with pytest.raises(ValueError, match="fn must be"):
        TextTransform(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects str, got int"):
        TextTransform("upper")(5)


def test_text_transform_errors_become_records() -> None:
    pipeline = rm.Pipeline([TextTransform("upper")], on_error="emit")
    out = pipeline.collect(["a", 7, "b"])
    assert out[0] == "A" and out[2] == "B"
    assert isinstance(out[1], rm.NodeError) and "expects str" in str(out[1])


def test_text_transform_pickles() -> None:
    node = pickle.loads(pickle.dumps(TextTransform("upper")))
    assert node("abc") == "ABC"
    shout = cloudpickle.loads(cloudpickle.dumps(TextTransform(lambda s: s + "!")))
    assert shout("hi") == "hi!"


# -- JSON ----------------------------------------------------------------------------
def test_json_round_trip_through_pipeline() -> None:
    values = [{"a": 1, "b": [1.5, None, True]}, "text", 3]
    pipeline = rm.Pipeline([JsonEncode(), JsonDecode()])
    assert pipeline.collect(values) == values


def test_json_encode_numpy_and_frames() -> None:
    encoded = JsonEncode()(
        {"array": np.arange(3, dtype=np.int16), "scalar": np.float32(0.5), "t": (1, 2)}
    )
    assert json.loads(encoded) == {"array": [0, 1, 2], "scalar": 0.5, "t": [1, 2]}
    audio = rm.AudioFrame(np.array([[0.25, -0.5]], np.float32), 8000, 0.5)
    decoded = JsonDecode()(JsonEncode()(audio))
    assert decoded == {
        "type": "audio",
        "sample_rate": 8000,
        "timestamp": 0.5,
        "samples": [[0.25, -0.5]],
    }
    video = rm.VideoFrame(np.full((1, 2, 3), 7, np.uint8), 2.0)
    assert json.loads(JsonEncode()(video))["image"] == [[[7, 7, 7], [7, 7, 7]]]


def test_json_encode_indent_and_errors() -> None:
    assert JsonEncode(indent=2)({"a": 1}) == '{\n  "a": 1\n}'
    with pytest.raises(ValueError, match="indent"):
        JsonEncode(indent=-1)
    with pytest.raises(TypeError, match="cannot encode object"):
        JsonEncode()(object())


def test_json_decode_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"invalid JSON at line 1 column 7: .*'"):
        JsonDecode()('{"a": }')
    with pytest.raises(TypeError, match="expects JSON text"):
        JsonDecode()(42)
    assert JsonDecode()(b'{"ok": true}') == {"ok": True}
    pipeline = rm.Pipeline([JsonDecode()])
    with pytest.raises(rm.PipelineError, match="invalid JSON"):
        pipeline.run("not json")


# -- Lambda ----------------------------------------------------------------------------
def test_lambda_values_none_and_outputs() -> None:
    def explode(x: int) -> rm.Outputs | None:
        return None if x == 0 else rm.Outputs([x] * x)

    assert rm.Pipeline([Lambda(explode)]).collect([0, 1, 2]) == [1, 2, 2]
    # A plain list is one output.
    assert rm.Pipeline([Lambda(lambda x: [x, x])]).collect([3]) == [[3, 3]]


def test_lambda_names_and_errors() -> None:
    def double(x: int) -> int:
        return 2 * x

    assert Lambda(double).name == "double"
    assert Lambda(lambda x: x).name == "Lambda"
    assert Lambda(double, name="twice").name == "twice"
    with pytest.raises(ValueError, match="fn must be callable"):
        Lambda("upper")  # type: ignore[arg-type]


def test_lambda_async_function() -> None:
    async def slow_square(x: int) -> int:
        await asyncio.sleep(0)
        return x * x

    assert rm.Pipeline([Lambda(slow_square)]).collect([2, 3]) == [4, 9]


def test_lambda_has_no_manifest_but_cloudpickles() -> None:
    pipeline = rm.Pipeline([Lambda(lambda x: x + 1)])
    with pytest.raises(rm.ManifestError, match="field 'fn'.*cloudpickle"):
        pipeline.to_manifest()
    clone = cloudpickle.loads(cloudpickle.dumps(pipeline))
    assert clone.collect([1, 2]) == [2, 3]


def test_lambda_failure_is_a_node_error() -> None:
    pipeline = rm.Pipeline([Lambda(lambda x: 1 / x)], on_error="emit")
    out = pipeline.collect([1, 0])
    assert out[0] == 1.0
    assert isinstance(out[1], rm.NodeError) and "ZeroDivisionError" in str(out[1])


# -- Tee, Buffer, Passthrough ------------------------------------------------------------
def test_tee_collects_items_per_run() -> None:
    tee = Tee()
    pipeline = rm.Pipeline([tee, Lambda(lambda x: x * 10)])
    assert pipeline.collect([1, 2]) == [10, 20]
    assert tee.items == [1, 2]
    pipeline.collect([3])
    assert tee.items == [3]  # emptied when the pipeline starts again


def test_tee_callback() -> None:
    seen: list[int] = []
    tee = Tee(seen.append)
    assert rm.Pipeline([tee]).collect([4, 5]) == [4, 5]
    assert seen == [4, 5] and tee.items == []
    with pytest.raises(ValueError, match="fn must be callable"):
        Tee(3)  # type: ignore[arg-type]


def test_buffer_groups_and_flushes_rest() -> None:
    assert rm.Pipeline([Buffer(2)]).collect(range(5)) == [[0, 1], [2, 3], [4]]
    assert rm.Pipeline([Buffer(3)]).collect(range(3)) == [[0, 1, 2]]
    assert rm.Pipeline([Buffer(3)]).collect([]) == []
    node = Buffer(4)
    node.process("a")
    assert node.flush() == ["a"]  # one output, the short list
    assert node.flush() is None  # state was reset
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="size"):
            Buffer(bad)  # type: ignore[arg-type]


def test_passthrough_keeps_identity(sine: rm.AudioFrame) -> None:
    assert rm.Pipeline([Passthrough(), Passthrough()]).run(sine) is sine


def test_manifest_round_trip_for_json_configs() -> None:
    pipeline = rm.Pipeline(
        [
            TextTransform("strip"),
            TextTransform("upper"),
            JsonEncode(indent=1),
            JsonDecode(),
            Buffer(2),
            Passthrough(),
            Tee(),
        ],
        name="text",
    )
    manifest = pipeline.to_manifest()
    assert manifest["nodes"][0] == {
        "id": "TextTransform",
        "type": "TextTransform",
        "config": {"fn": "strip"},
    }
    rebuilt = rm.Pipeline.from_manifest(json.dumps(manifest))
    assert rebuilt.to_manifest() == manifest
    assert rebuilt.collect([" a ", "b", "c"]) == [["A", "B"], ["C"]]


def test_manifest_errors_name_the_field() -> None:
    bad_method = {
        "version": 1,
        "nodes": [{"id": "t", "type": "TextTransform", "config": {"fn": "nope"}}],
    }
    with pytest.raises(rm.ManifestError, match="node 't'.*fn 'nope'"):
        rm.Pipeline.from_manifest(bad_method)
    bad_size = {
        "version": 1,
        "nodes": [{"id": "b", "type": "Buffer", "config": {"size": "2"}}],
    }
    with pytest.raises(rm.ManifestError, match="field 'size'"):
        rm.Pipeline.from_manifest(bad_size)


def test_registry_has_docs_for_editor() -> None:
    infos = {info.name: info for info in rm.list_nodes()}
    for name in ("TextTransform", "JsonEncode", "JsonDecode", "Lambda", "Tee"):
        assert infos[name].summary
    size = next(p for p in infos["Buffer"].parameters if p.name == "size")
    assert size.required and "inputs per emitted list" in size.doc
