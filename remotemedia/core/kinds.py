"""What flows between nodes: declared kinds, order checks and the ``run()`` join rule.

Each node declares (class attributes, see :class:`~remotemedia.core.node.Node`)

* ``input_kind`` / ``output_kind``: ``"audio"``, ``"video"``, ``"text"``,
  ``"spectrogram"``, ``"any"`` (no constraint) or, for outputs, ``"same"`` (whatever
  came in). Undeclared kinds are read from the type hints of ``process``
  (``AudioFrame`` -> audio, ``VideoFrame`` -> video, ``str`` -> text).
* ``emits``: ``"stream"`` when the outputs for one input (and the flushed tail)
  continue one signal, as a resampler's or a filter's do; ``"items"`` when each
  output is a separate item (speech segments, fixed-size chunks).

The join rule (``Pipeline.run``, a direct node call): when every node that produced
the outputs emits a stream, consecutive audio frames of one format are joined into
one :class:`~remotemedia.core.frames.AudioFrame`.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from remotemedia.core.frames import AudioFrame, VideoFrame

__all__ = [
    "Kind",
    "Emits",
    "node_kinds",
    "order_problem",
    "emits_stream",
    "join_stream",
]

Kind = Literal["any", "same", "audio", "video", "text", "spectrogram"]
Emits = Literal["stream", "items"]

_HINT_KINDS: dict[Any, str] = {AudioFrame: "audio", VideoFrame: "video", str: "text"}


def _inner(node: Any) -> Any:
    """The node that does the work (a remote node's wrapped node)."""
    if getattr(node, "is_remote", False) and hasattr(node, "node"):
        return node.node
    return node


def _hint_kind(annotation: Any) -> str:
    return _HINT_KINDS.get(annotation, "any")


def node_kinds(node: Any) -> tuple[str, str]:
    """Returns ``(input_kind, output_kind)`` of a node or node class.

    Declared class attributes win; otherwise the type hints of ``process`` decide,
    and ``"any"`` means unknown.
    """
    inner = _inner(node)
    cls = inner if isinstance(inner, type) else type(inner)
    declared_in = str(getattr(cls, "input_kind", "any"))
    declared_out = str(getattr(cls, "output_kind", "any"))
    if declared_in != "any" and declared_out != "any":
        return declared_in, declared_out
    try:
        hints = typing.get_type_hints(getattr(cls, "process", None))
    except Exception:  # noqa: BLE001 - unresolvable hints just mean "unknown"
        hints = {}
    params = [k for k in hints if k != "return"]
    hint_in = _hint_kind(hints[params[0]]) if params else "any"
    hint_out = _hint_kind(hints.get("return"))
    return (
        declared_in if declared_in != "any" else hint_in,
        declared_out if declared_out != "any" else hint_out,
    )


def _type_name(node: Any) -> str:
    inner = _inner(node)
    return (inner if isinstance(inner, type) else type(inner)).__name__


def _label(node: Any) -> str:
    kind = _type_name(node)
    name = kind if isinstance(node, type) else getattr(node, "name", kind)
    return kind if name == kind else f"{name} ({kind})"


def order_problem(upstream: Sequence[Any], node: Any) -> str | None:
    """Why ``node`` cannot follow ``upstream`` (the nodes before it), or None.

    Example:
        >>> from remotemedia import nodes
        >>> order_problem([nodes.MelSpectrogram()], nodes.Gain(db=-6))
        'Gain takes audio, but MelSpectrogram before it emits spectrogram'
    """
    flowing, source = "any", None
    for before in upstream:
        out = node_kinds(before)[1]
        if out != "same":
            flowing, source = out, before
    wanted = node_kinds(node)[0]
    if "any" in (flowing, wanted) or flowing == wanted:
        return None
    return (
        f"{_type_name(node)} takes {wanted}, but {_label(source)} "
        f"before it emits {flowing}"
    )


def emits_stream(nodes: Iterable[Any]) -> bool:
    """Whether all ``nodes`` emit one continuous signal (see the module docs)."""
    return all(getattr(_inner(n), "emits", "stream") == "stream" for n in nodes)


def join_stream(outputs: list[Any], nodes: Iterable[Any]) -> list[Any]:
    """Applies the join rule: consecutive audio frames become one frame.

    Args:
        outputs: The outputs produced for one input (flushed tail included).
        nodes: The nodes that produced them; nothing is joined unless all of them
            emit a stream.

    Returns:
        ``outputs`` with each run of consecutive audio frames of one sample rate and
        channel count joined end to end (the first frame's timestamp).
    """
    if len(outputs) < 2 or not emits_stream(nodes):
        return outputs
    joined: list[Any] = []
    run: list[AudioFrame] = []

    def close_run() -> None:
        if run:
            joined.append(run[0] if len(run) == 1 else AudioFrame.concatenate(run))
            run.clear()

    for item in outputs:
        if isinstance(item, AudioFrame) and (
            not run
            or (item.sample_rate, item.channels)
            == (run[0].sample_rate, run[0].channels)
        ):
            run.append(item)
            continue
        close_run()
        if isinstance(item, AudioFrame):
            run.append(item)
        else:
            joined.append(item)
    close_run()
    return joined
