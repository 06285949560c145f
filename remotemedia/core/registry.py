"""The node catalogue: built-in nodes, ``@register_node`` and entry-point plugins.

Everything that lists or builds nodes by name (manifest loader, ``ListNodes`` on the
server, ``%remote nodes``, the pipeline editor) reads this one registry.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import typing
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from remotemedia.core.node import Node

__all__ = [
    "register_node",
    "list_nodes",
    "find_node_class",
    "node_info",
    "NodeInfo",
    "ParamInfo",
    "ENTRY_POINT_GROUP",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "remotemedia.nodes"

_REGISTRY: dict[str, type[Node]] = {}
_entry_points_loaded = False

N = TypeVar("N", bound=type[Node])


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """One constructor parameter of a node type.

    Attributes:
        name: Parameter name (a config key in manifests).
        type: The annotation as text, for example ``"float"`` or ``"int | None"``.
        default: The default value, or ``REQUIRED``.
        doc: Its description from the class docstring's ``Args:`` section.
        choices: Allowed values when annotated with ``Literal[...]``.
    """

    name: str
    type: str
    default: Any
    doc: str = ""
    choices: tuple[Any, ...] = ()

    @property
    def required(self) -> bool:
        """Whether the parameter has no default."""
        return self.default is REQUIRED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (the default is omitted when required)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "doc": self.doc}
        out["required"] = self.required
        if not self.required:
            out["default"] = self.default
        if self.choices:
            out["choices"] = list(self.choices)
        return out


@dataclasses.dataclass(frozen=True)
class NodeInfo:
    """What the registry knows about one node type.

    Attributes:
        name: Registry name (used in manifests).
        summary: First line of the class docstring.
        parameters: Constructor parameters, in order.
        cls: The node class.
    """

    name: str
    summary: str
    parameters: tuple[ParamInfo, ...]
    cls: type[Node]

    @property
    def module(self) -> str:
        """Module that defines the node class."""
        return self.cls.__module__

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description."""
        return {
            "name": self.name,
            "summary": self.summary,
            "module": self.module,
            "parameters": [p.to_dict() for p in self.parameters],
        }


class NodeList(list):  # type: ignore[type-arg]
    """``list_nodes()`` result: a list of :class:`NodeInfo` with a table repr."""

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>".format(
                html.escape(info.name),
                html.escape(info.summary),
                html.escape(", ".join(_param_text(p) for p in info.parameters)),
            )
            for info in self
        )
        return (
            "<table><thead><tr><th>node</th><th>summary</th><th>parameters</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )

    def __str__(self) -> str:
        lines = []
        for info in self:
            params = ", ".join(_param_text(p) for p in info.parameters)
            lines.append(f"{info.name}({params})  - {info.summary}")
        return "\n".join(lines)


def _param_text(param: ParamInfo) -> str:
    if param.required:
        return f"{param.name}: {param.type}"
    return f"{param.name}: {param.type} = {param.default!r}"


def register_node(
    cls: N | None = None, *, name: str | None = None
) -> N | Callable[[N], N]:
    """Registers a Node subclass under its class name (or ``name``).

    Usable bare (``@register_node``) or with arguments (``@register_node(name="X")``).

    Raises:
        TypeError: If the class is not a Node subclass.
        ValueError: If another class is already registered under that name.
    """

    def decorate(node_cls: N) -> N:
        if not (isinstance(node_cls, type) and issubclass(node_cls, Node)):
            raise TypeError(f"register_node expects a Node subclass, got {node_cls!r}")
        key = name or node_cls.__name__
        existing = _REGISTRY.get(key)
        if existing is not None and _qualname(existing) != _qualname(node_cls):
            raise ValueError(
                f"node type '{key}' is already registered by {_qualname(existing)}"
            )
        node_cls._registry_name = key  # type: ignore[attr-defined]
        _REGISTRY[key] = node_cls
        return node_cls

    return decorate(cls) if cls is not None else decorate


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_entry_points() -> None:
    """Imports third-party node packages from the ``remotemedia.nodes`` group once.

    An entry point may name a module (imported; its ``@register_node`` classes
    register themselves) or a Node class (registered under its class name). A broken
    plugin is logged and skipped so that it cannot hide the other nodes.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception:  # noqa: BLE001 - one broken plugin must not break all
            logger.warning("could not load node plugin %r", ep.value, exc_info=True)
            continue
        if isinstance(obj, type) and issubclass(obj, Node):
            if obj.registry_name() not in _REGISTRY:
                register_node(obj, name=getattr(obj, "_registry_name", None))


def reload_entry_points() -> None:
    """Forgets that plugins were loaded, so the next lookup scans them again."""
    global _entry_points_loaded
    _entry_points_loaded = False


def find_node_class(name: str) -> type[Node] | None:
    """Returns the node class registered under ``name``, or None."""
    if name not in _REGISTRY:
        load_entry_points()
    return _REGISTRY.get(name)


def registered_names() -> list[str]:
    """All registered node type names, sorted."""
    load_entry_points()
    return sorted(_REGISTRY)


def node_info(cls: type[Node]) -> NodeInfo:
    """Describes a node class: name, summary and parameters."""
    doc = inspect.cleandoc(cls.__doc__ or "")  # own docstring, not the base's
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    arg_docs = _parse_args_section(doc)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations fall back to text
        hints = {}
    params = []
    signature = inspect.signature(cls.__init__)
    for pname, param in list(signature.parameters.items())[1:]:
        if pname == "name" or param.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        annotation = hints.get(pname, param.annotation)
        params.append(
            ParamInfo(
                name=pname,
                type=_type_text(annotation),
                default=REQUIRED if param.default is param.empty else param.default,
                doc=arg_docs.get(pname, ""),
                choices=_literal_choices(annotation),
            )
        )
    return NodeInfo(cls.registry_name(), summary, tuple(params), cls)


def list_nodes() -> NodeList:
    """Lists every registered node type with its summary and parameters."""
    load_entry_points()
    return NodeList(node_info(_REGISTRY[key]) for key in sorted(_REGISTRY))


def _type_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Literal:
            return tuple(typing.get_args(arg))
    return ()


_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def _parse_args_section(doc: str) -> dict[str, str]:
    out: dict[str, str] = {}
    in_args = False
    current = None
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:"):
            in_args = True
            continue
        if in_args:
            if line and not line.startswith(" "):
                break
            match = _ARG_LINE.match(line)
            if match and len(line) - len(line.lstrip()) <= 4:
                current = match.group(1)
                out[current] = match.group(2).strip()
            elif current and line.strip():
                out[current] += " " + line.strip()
    return out
