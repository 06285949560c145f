"""Offers in the two forms ``Peer.accept`` takes: a dict or an aiortc description."""

from __future__ import annotations

from typing import Any

from remotemedia.webrtc._deps import aiortc

__all__ = ["parse_offer"]


def parse_offer(offer: Any) -> tuple[Any, bool]:
    """The offer as an aiortc ``RTCSessionDescription``, and whether it was a dict.

    Raises:
        ValueError: If ``offer`` is not an offer dict or description.
    """
    rtc = aiortc()
    if isinstance(offer, rtc.RTCSessionDescription):
        description, as_dict = offer, False
    elif isinstance(offer, dict):
        missing = [
            key for key in ("sdp", "type") if not isinstance(offer.get(key), str)
        ]
        if missing:
            raise ValueError(
                f"offer dict needs string 'sdp' and 'type', missing {missing}"
            )
        description, as_dict = (
            rtc.RTCSessionDescription(offer["sdp"], offer["type"]),
            True,
        )
    else:
        raise ValueError(
            "offer must be a {'sdp', 'type'} dict or an RTCSessionDescription, "
            f"got {type(offer).__name__}"
        )
    if description.type != "offer":
        raise ValueError(f"expected an offer, got type {description.type!r}")
    return description, as_dict
