"""Versioned JSON manifests: the language-neutral form of a pipeline.

The schema lives in ``manifest.schema.json`` beside this module; the Rust runtime
validates against the same file. See ``docs/manifest.md``.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from importlib import resources
from typing import TYPE_CHECKING, Any

from remotemedia.core.errors import ManifestError
from remotemedia.core.registry import find_node_class, registered_names

if TYPE_CHECKING:
    from remotemedia.core.node import Node

__all__ = [
    "MANIFEST_VERSION",
    "manifest_schema",
    "validate_manifest",
    "node_to_entry",
    "node_from_entry",
    "ordered_entries",
]

MANIFEST_VERSION = 1


@functools.cache
def manifest_schema() -> dict[str, Any]:
    """Returns the manifest JSON Schema (draft 2020-12)."""
    text = resources.files("remotemedia.core").joinpath("manifest.schema.json")
    return dict(json.loads(text.read_text(encoding="utf-8")))


def _location(path: Any, manifest: dict[str, Any]) -> str:
    parts = list(path)
    where = "manifest" + "".join(
        f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in parts
    )
    if len(parts) >= 2 and parts[0] == "nodes" and isinstance(parts[1], int):
        nodes = manifest.get("nodes") or []
        if parts[1] < len(nodes) and isinstance(nodes[parts[1]], dict):
            node_id = nodes[parts[1]].get("id", f"#{parts[1]}")
            field = ".".join(str(p) for p in parts[2:]) or "node"
            return f"node '{node_id}', field '{field}' ({where})"
    return where


@functools.cache
def _validator() -> Any:
    # jsonschema imports optional format checkers at import time; rfc3987_syntax
    # alone builds a grammar for ~3 s. Manifests use no formats, so hide it while
    # jsonschema loads (other libraries can still import it later).
    import sys

    hidden = "rfc3987_syntax" not in sys.modules
    if hidden:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import jsonschema
    finally:
        if hidden:
            del sys.modules["rfc3987_syntax"]
    return jsonschema.Draft202012Validator(manifest_schema())


def validate_manifest(manifest: dict[str, Any] | str) -> dict[str, Any]:
    """Checks a manifest against the schema and the node registry.

    Args:
        manifest: The manifest as a dict or a JSON string.

    Returns:
        The manifest as a dict.

    Raises:
        ManifestError: Naming the node and field at fault.
    """
    if isinstance(manifest, (str, bytes)):
        try:
            manifest = json.loads(manifest)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(
            f"manifest must be a JSON object, got {type(manifest).__name__}"
        )
    validator = _validator()
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        raise ManifestError(f"{_location(first.path, manifest)}: {first.message}")
    ordered_entries(manifest)
    for entry in manifest["nodes"]:
        _check_config(entry)
    return manifest


def ordered_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Returns the node entries in data-flow order, checking ids and edges.

    Raises:
        ManifestError: On duplicate ids, unknown edge ends or a graph that is not a
            single linear chain (the only topology version 1 runs).
    """
    nodes: list[dict[str, Any]] = manifest["nodes"]
    by_id: dict[str, dict[str, Any]] = {}
    for entry in nodes:
        if entry["id"] in by_id:
            raise ManifestError(f"node '{entry['id']}': duplicate node id")
        by_id[entry["id"]] = entry
    edges = manifest.get("edges")
    if edges is None:
        return list(nodes)
    nexts: dict[str, str] = {}
    has_prev: set[str] = set()
    for edge in edges:
        for end in ("from", "to"):
            if edge[end] not in by_id:
                raise ManifestError(f"edge {edge}: unknown node id '{edge[end]}'")
        if edge["from"] in nexts:
            raise ManifestError(
                f"node '{edge['from']}': more than one outgoing edge; version 1 "
                "manifests describe a linear chain"
            )
        if edge["to"] in has_prev:
            raise ManifestError(f"node '{edge['to']}': more than one incoming edge")
        nexts[edge["from"]] = edge["to"]
        has_prev.add(edge["to"])
    starts = [e["id"] for e in nodes if e["id"] not in has_prev]
    if len(nodes) and len(starts) != 1:
        raise ManifestError(
            f"edges must join all nodes into one chain; chains start at {starts}"
        )
    order: list[dict[str, Any]] = []
    current: str | None = starts[0] if starts else None
    while current is not None:
        order.append(by_id[current])
        current = nexts.get(current)
        if len(order) > len(nodes):
            raise ManifestError("edges form a cycle")
    if len(order) != len(nodes):
        missing = sorted(set(by_id) - {e["id"] for e in order})
        raise ManifestError(f"nodes not reached by the edges: {missing}")
    return order


def _check_type(node_id: str, field: str, value: Any, annotation: Any) -> None:
    simple = {int: "int", float: "float", str: "str", bool: "bool"}
    allowed = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        allowed = list(typing.get_args(annotation))
    if not all(a in simple or a is type(None) for a in allowed):
        return  # complex annotations are checked by the node itself
    if value is None and type(None) in allowed:
        return
    for kind in allowed:
        if (
            kind is float
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
        ):
            return
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if kind in (str, bool) and isinstance(value, kind):
            return
    names = " or ".join(simple.get(a, "null") for a in allowed)
    raise ManifestError(
        f"node '{node_id}', field '{field}': expected {names}, got {value!r}"
    )


def _check_config(entry: dict[str, Any]) -> type[Node]:
    node_id, type_name = entry["id"], entry["type"]
    cls = find_node_class(type_name)
    if cls is None:
        import difflib

        close = difflib.get_close_matches(type_name, registered_names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ManifestError(f"node '{node_id}': unknown node type '{type_name}'{hint}")
    config = entry.get("config") or {}
    signature = inspect.signature(cls.__init__)
    params = {k: p for k, p in list(signature.parameters.items())[1:] if k != "name"}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001
        hints = {}
    for key, value in config.items():
        if key not in params and not takes_any:
            raise ManifestError(
                f"node '{node_id}': unknown config field '{key}' for {type_name} "
                f"(fields: {', '.join(params) or 'none'})"
            )
        if key in hints:
            _check_type(node_id, key, value, hints[key])
    for key, param in params.items():
        if (
            param.default is param.empty
            and param.kind
            in (
                param.POSITIONAL_OR_KEYWORD,
                param.KEYWORD_ONLY,
            )
            and key not in config
        ):
            raise ManifestError(
                f"node '{node_id}': missing required config field '{key}' for {type_name}"
            )
    return cls


def node_from_entry(entry: dict[str, Any]) -> Node:
    """Builds a node from one manifest entry.

    Raises:
        ManifestError: If the type is unknown or the config is rejected.
    """
    cls = _check_config(entry)
    config = entry.get("config") or {}
    try:
        node = cls(**config)
    except (TypeError, ValueError) as exc:
        raise ManifestError(
            f"node '{entry['id']}' ({entry['type']}): bad config: {exc}"
        ) from exc
    node.name = entry["id"]
    return node


def node_to_entry(node: Node) -> dict[str, Any]:
    """Describes one node as a manifest entry.

    Raises:
        ManifestError: If a config value is not JSON-serialisable, naming the field.
    """
    config = node.config
    for key, value in config.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise ManifestError(
                f"node '{node.name}', field '{key}': value {value!r} is not "
                "JSON-serialisable, so this pipeline has no manifest (it can still "
                "run locally, and remotely through cloudpickle)"
            ) from None
    if find_node_class(node.registry_name()) is not type(node):
        raise ManifestError(
            f"node '{node.name}': type {type(node).__qualname__} is not registered; "
            "decorate it with @rm.register_node"
        )
    return {"id": node.name, "type": node.registry_name(), "config": config}
