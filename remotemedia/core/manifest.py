"""Versioned JSON manifests: the language-neutral form of a pipeline.

The schema lives in ``manifest.schema.json`` beside this module; the Rust runtime
validates against the same file. See ``docs/manifest.md``.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import types
import typing
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from remotemedia.core.errors import ManifestError
from remotemedia.core.registry import find_node_class, registered_names

if TYPE_CHECKING:
    from remotemedia.core.node import Node

__all__ = [
    "MANIFEST_VERSION",
    "ManifestSource",
    "Placement",
    "manifest_schema",
    "read_manifest",
    "validate_manifest",
    "node_to_entry",
    "node_from_entry",
    "ordered_entries",
]

MANIFEST_VERSION = 1

#: A manifest as a dict, JSON text, or the path of a JSON file.
ManifestSource = dict[str, Any] | str | bytes | os.PathLike[str]
#: How entries saved with ``remote`` are built: on a session as saved, or locally
#: (what a server does: the client's remote segment is local there).
Placement = Literal["as_saved", "local"]


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


def _looks_like_path(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] not in "{[" and "\n" not in stripped


def read_manifest(manifest: ManifestSource) -> Any:
    """Parses a manifest given as a dict, JSON text or a file path (not validated).

    A ``str`` is a path when it names an existing file, or when it does not look
    like JSON (then the error says the file is missing rather than "invalid JSON").

    Raises:
        ManifestError: On unreadable or invalid JSON, naming the file.
        FileNotFoundError: If a path names no file.
    """
    if isinstance(manifest, dict):
        return manifest
    path: Path | None = None
    if isinstance(manifest, os.PathLike):
        path = Path(manifest)
    elif isinstance(manifest, str) and _looks_like_path(manifest):
        path = Path(manifest).expanduser()
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(
                f"no manifest file at {str(path)!r}"
                + (" (it is a directory)" if path.is_dir() else "")
            )
        try:
            text: str | bytes = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(
                f"cannot read manifest file {str(path)!r}: {exc}"
            ) from None
        where = f"manifest file {str(path)!r}"
    elif isinstance(manifest, (str, bytes)):
        text, where = manifest, "manifest"
    else:
        raise ManifestError(
            "manifest must be a JSON object (a dict), JSON text or a file path, "
            f"got {type(manifest).__name__}"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where} is not valid JSON: {exc}") from None


def validate_manifest(manifest: ManifestSource) -> dict[str, Any]:
    """Checks a manifest against the schema and the node registry.

    Args:
        manifest: The manifest as a dict, JSON text or the path of a JSON file
            (``str`` or :class:`pathlib.Path`).

    Returns:
        The manifest as a dict.

    Raises:
        ManifestError: Naming the node and field at fault.
        FileNotFoundError: If a path names no file.
    """
    manifest = read_manifest(manifest)
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


def node_from_entry(
    entry: dict[str, Any], *, session: Any = None, placement: Placement = "as_saved"
) -> Node:
    """Builds a node from one manifest entry.

    Args:
        entry: A validated node entry.
        session: The session for an entry saved with ``remote`` (None: the
            current session, as ``rm.remote`` picks it).
        placement: ``"as_saved"`` builds ``remote`` entries as remote nodes,
            ``"local"`` builds every node locally.

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
    where = entry.get("remote")
    if where is None or placement == "local":
        return node
    from remotemedia.remote import remote

    remote_node: Node = remote(node, session, window=int(where.get("window", 8)))
    remote_node.name = entry["id"]
    return remote_node


def node_to_entry(node: Node) -> dict[str, Any]:
    """Describes one node as a manifest entry.

    A remote node is its wrapped node's entry plus ``"remote": {"address",
    "window"}`` (never a token).

    Raises:
        ManifestError: If a config value is not JSON-serialisable or the type is
            not registered, naming the node and field.
    """
    inner = getattr(node, "node", None)
    if getattr(node, "is_remote", False) and isinstance(inner, _node_class()):
        entry = node_to_entry(inner)
        entry["id"] = node.name
        session = getattr(node, "session", None)
        entry["remote"] = {
            "address": str(getattr(session, "address", "")),
            "window": int(getattr(node, "window", 8)),
        }
        return entry
    if getattr(node, "is_remote", False):
        raise ManifestError(
            f"node '{node.name}': a {type(node).__name__} has no manifest entry; "
            "put the remote nodes themselves in the pipeline"
        )
    config = node.config
    for key, value in config.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            what = (
                "a Python function"
                if callable(value) and not isinstance(value, type)
                else f"a {type(value).__name__}"
            )
            raise ManifestError(
                f"node '{node.name}' ({type(node).__name__}), field '{key}': "
                f"{what} ({value!r}) is not JSON-serialisable, so this pipeline has no "
                "manifest and cannot be saved; write a registered node class that "
                "takes JSON parameters instead (the pipeline still runs locally, "
                "and remotely through cloudpickle)"
            ) from None
    if find_node_class(node.registry_name()) is not type(node):
        raise ManifestError(
            f"node '{node.name}': type {type(node).__qualname__} is not registered; "
            "decorate it with @rm.register_node"
        )
    return {"id": node.name, "type": node.registry_name(), "config": config}


def _node_class() -> type[Node]:
    from remotemedia.core.node import Node

    return Node
