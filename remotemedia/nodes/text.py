"""Text nodes: transform strings and convert between values and JSON text."""

from __future__ import annotations

import difflib
import json
import logging
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.core.node import Node
from remotemedia.core.registry import register_node

__all__ = ["TextTransform", "JsonEncode", "JsonDecode"]

logger = logging.getLogger(__name__)


def _takes_no_arguments(name: str) -> bool:
    try:
        getattr(str, name)("")
    except TypeError:
        return False
    return True


# Public str methods callable without arguments ("upper", "strip", "split", ...).
_STR_METHODS = sorted(
    name
    for name in dir(str)
    if not name.startswith("_")
    and callable(getattr(str, name))
    and _takes_no_arguments(name)
)


@register_node
class TextTransform(Node):
    """Applies a string method or any function to each text input.

    Naming a ``str`` method (``"upper"``, ``"lower"``, ``"strip"``, ``"title"``, ...)
    keeps the node's config JSON, so the pipeline has a manifest (it can be saved,
    edited and rebuilt by name). A callable works too, locally and remotely through
    cloudpickle, but then the pipeline has no manifest.

    Args:
        fn: Name of a ``str`` method taking no arguments, or a callable
            ``str -> value``.

    Raises:
        ValueError: If ``fn`` is neither a ``str`` method name nor callable.
    """

    input_kind = "text"
    output_kind = "text"

    def __init__(self, fn: str | Callable[[str], Any], name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(fn, str):
            if fn not in _STR_METHODS:
                close = difflib.get_close_matches(fn, _STR_METHODS, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise ValueError(
                    f"TextTransform: fn '{fn}' is not a str method that takes no "
                    f"arguments{hint}"
                )
            # methodcaller pickles (a lambda would not), so the node travels.
            self._fn: Callable[[str], Any] = operator.methodcaller(fn)
        elif callable(fn):
            self._fn = fn
        else:
            raise ValueError(
                "TextTransform: fn must be a str method name or a callable, "
                f"got {type(fn).__name__}"
            )
        self.fn = fn

    def process(self, data: Any) -> Any:
        if not isinstance(data, str):
            raise TypeError(f"{self.name} expects str, got {type(data).__name__}")
        return self._fn(data)


def _to_jsonable(value: Any) -> Any:
    """``json.dumps`` hook: numpy values become lists/numbers, frames become dicts."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, AudioFrame):
        return {
            "type": "audio",
            "sample_rate": value.sample_rate,
            "timestamp": value.timestamp,
            "samples": value.samples.tolist(),
        }
    if isinstance(value, VideoFrame):
        return {
            "type": "video",
            "timestamp": value.timestamp,
            "image": value.image.tolist(),
        }
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"JsonEncode: cannot encode {type(value).__name__} as JSON")


@register_node
class JsonEncode(Node):
    """Encodes each input as JSON text.

    Besides the JSON types, numpy arrays become (nested) lists, numpy scalars become
    numbers, and frames become objects: ``{"type": "audio", "sample_rate",
    "timestamp", "samples"}`` or ``{"type": "video", "timestamp", "image"}`` (handy
    for small frames; large ones make very long text).

    Args:
        indent: Indentation of the output (None writes one compact line).

    Raises:
        ValueError: If ``indent`` is negative or not an integer.
    """

    output_kind = "text"

    def __init__(self, indent: int | None = None, name: str | None = None) -> None:
        super().__init__(name=name)
        if indent is not None and (
            isinstance(indent, bool) or not isinstance(indent, int) or indent < 0
        ):
            raise ValueError(
                f"JsonEncode: indent must be a non-negative integer or None, "
                f"got {indent!r}"
            )
        self.indent = indent

    def process(self, data: Any) -> str:
        return json.dumps(data, indent=self.indent, default=_to_jsonable)


@register_node
class JsonDecode(Node):
    """Parses each JSON text input (str or UTF-8 bytes) into Python values.

    Invalid JSON raises ``ValueError`` naming the line, column and problem, and
    showing the start of the text.
    """

    input_kind = "text"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)

    def process(self, data: Any) -> Any:
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("utf-8")
        if not isinstance(data, str):
            raise TypeError(
                f"{self.name} expects JSON text (str or bytes), got {type(data).__name__}"
            )
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            preview = data if len(data) <= 60 else data[:57] + "..."
            raise ValueError(
                f"{self.name}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                f"{exc.msg} (text: {preview!r})"
            ) from None
