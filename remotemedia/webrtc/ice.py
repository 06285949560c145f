"""Which local addresses ICE offers as host candidates.

aioice offers every interface except loopback. A peer talking to a browser on the
same machine (the notebook or the standalone page on 127.0.0.1) needs only loopback,
and offering nothing else keeps the other interfaces out of the SDP. The setting is
process-wide (aioice gathers candidates through one module function).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["use_loopback_candidates"]

_original: Callable[..., list[str]] | None = None


def use_loopback_candidates(enabled: bool = True) -> None:
    """Offers only 127.0.0.1 as host candidate (``enabled=False`` restores aioice's).

    Raises:
        ImportError: Naming the ``webrtc`` extra when aiortc is not installed.
    """
    global _original
    from remotemedia.webrtc._deps import aiortc

    aiortc()
    import aioice.ice

    if _original is None:
        _original = aioice.ice.get_host_addresses
    if enabled:

        def loopback(use_ipv4: bool, use_ipv6: bool, **_: Any) -> list[str]:
            return ["127.0.0.1"] if use_ipv4 else []

        aioice.ice.get_host_addresses = loopback
    else:
        aioice.ice.get_host_addresses = _original
