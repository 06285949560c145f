"""Pipeline outputs as JSON messages for the ``"rm-results"`` data channel.

Every message is one JSON object with a ``type``: ``"text"`` (``text``), ``"value"``
(``value``: any JSON value), ``"error"`` (``node``, ``message``), ``"video"``
(``width``, ``height``), or the output's class name with a ``text`` description.
``t`` carries the output's timestamp in seconds when it has one.
"""

from __future__ import annotations

import json
from typing import Any

from remotemedia.core.errors import NodeError
from remotemedia.core.frames import AudioFrame, VideoFrame

__all__ = ["to_message", "CHANNEL"]

CHANNEL = "rm-results"
_MAX_TEXT = 4000


def to_message(item: Any) -> dict[str, Any]:
    """Describes one pipeline output as a JSON-ready dict."""
    message: dict[str, Any]
    if isinstance(item, str):
        message = {"type": "text", "text": item[:_MAX_TEXT]}
    elif isinstance(item, NodeError):
        message = {"type": "error", "node": item.node, "message": str(item)[:_MAX_TEXT]}
    elif isinstance(item, VideoFrame):
        message = {"type": "video", "width": item.width, "height": item.height}
    elif isinstance(item, AudioFrame):
        message = {"type": "audio", "duration": item.duration, "rate": item.sample_rate}
    else:
        try:
            json.dumps(item)
        except (TypeError, ValueError):
            describe = getattr(item, "describe", None)
            text = describe() if callable(describe) else repr(item)
            message = {"type": type(item).__name__, "text": str(text)[:_MAX_TEXT]}
        else:
            message = {"type": "value", "value": item}
    timestamp = getattr(item, "timestamp", None)
    if isinstance(timestamp, (int, float)):
        message["t"] = float(timestamp)
    return message
