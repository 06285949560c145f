"""The one exception of the WebRTC bridge."""

from __future__ import annotations

from remotemedia.core.errors import RemoteMediaError

__all__ = ["PeerError"]


class PeerError(RemoteMediaError):
    """A WebRTC peer failed: bad offer, ICE/DTLS failure, or the remote side left.

    The message names the cause; ``cause`` is a short machine-readable tag
    (``"offer"``, ``"ice"``, ``"closed"``, ``"remote"``, ``"state"``).
    """

    def __init__(self, message: str, cause: str = "state") -> None:
        super().__init__(message)
        self.cause = cause
