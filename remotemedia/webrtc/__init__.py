"""WebRTC bridge (aiortc): live browser microphone/camera into pipelines, results back.

API (stable; the notebook widget and the standalone server build on it)::

    from remotemedia.webrtc import Peer

    peer = Peer(pipeline=None, sample_rate=16000, channels=1, video=False)
    answer = await peer.accept(offer)   # offer/answer: {"sdp", "type"} dict or
                                        # aiortc RTCSessionDescription (answer is
                                        # returned in the form the offer came in)
    async for frame in peer.frames():   # rm.AudioFrame, 20 ms at sample_rate,
        ...                             # timestamp = seconds since the first packet;
                                        # rm.VideoFrame too when video=True
    async for item in peer.outputs():   # the pipeline's outputs (pipeline set)
        ...
    peer.stats()                        # {"delay_ms", "target_ms", "late", "lost",
                                        #  "concealed", "dropped", "frames", ...}
    peer.state                          # "new" | "connecting" | "connected" |
                                        # "closed" | "failed"
    await peer.close()                  # idempotent

- Everything runs on the SDK's background event loop
  (:func:`remotemedia.core._sync.background_loop`), so frames keep flowing while a
  notebook cell runs. ``accept``/``close`` may be awaited from any loop; they hop to
  the background loop. ``frames()``/``outputs()`` may be iterated from any loop.
- With a ``pipeline``, the received audio streams through ``Pipeline.stream``; audio
  outputs go back to the remote side on the answer's audio track (the offer must
  have an audio transceiver, ``sendrecv`` to hear them), everything else is sent as
  JSON over the data channel ``"rm-results"`` when the offer opened one.
- Errors (bad offer, ICE failure, remote peer gone) raise :class:`PeerError` naming
  the cause from ``accept``, ``frames()`` and ``outputs()``.
- Audio is received by our own jitter buffer (:mod:`remotemedia.webrtc.jitter`), not
  aiortc's: time-based target delay (20 ms default), reorder window, loss
  concealment, no permanent build-up, bounded queues (drop oldest, counted).

Needs the ``webrtc`` extra: ``pip install 'remotemedia[webrtc]'``.
"""

from __future__ import annotations

__all__ = ["Peer", "PeerError"]

import importlib
from typing import TYPE_CHECKING, Any

# aiortc is an optional extra: load the peer (and aiortc) on first use only.
_LAZY = {
    "Peer": "remotemedia.webrtc.peer",
    "PeerError": "remotemedia.webrtc.errors",
}

if TYPE_CHECKING:
    from remotemedia.webrtc.errors import PeerError
    from remotemedia.webrtc.peer import Peer


def __getattr__(name: str) -> Any:
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(
            f"module 'remotemedia.webrtc' has no attribute {name!r}"
        ) from None
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
