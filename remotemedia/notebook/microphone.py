"""``rm.widgets.Microphone``: the browser's microphone (and camera), live in the kernel.

An anywidget whose front end (``extension/src/microphone.ts``, bundled into
``remotemedia/static/microphone.js``) asks for the microphone, shows a device picker,
level meters, Start/Stop, the connection state and live results, and plays the audio
the pipeline sends back. Press **Start**: the browser sends a WebRTC offer over the
widget's comm channel, the kernel answers with a :class:`remotemedia.webrtc.Peer`,
and from then on audio flows over RTP into the kernel (whatever cells are running).

Example:
    >>> mic = rm.widgets.Microphone(pipeline=rm.Pipeline([nodes.EnergyVAD()]))
    >>> mic                              # the widget; press Start
    >>> clip = mic.record(2.0)           # next cell: two seconds as one AudioFrame
    >>> async for frame in mic.frames():  # or the live frames, 20 ms each
    ...     spectrogram.update(frame)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remotemedia.core._sync import background_loop, run_sync
from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.core.pipeline import Pipeline

try:
    import anywidget
    import traitlets as t
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rm.widgets.Microphone needs anywidget: pip install 'remotemedia[notebook]'"
    ) from exc

if TYPE_CHECKING:
    from remotemedia.webrtc import Peer

__all__ = ["Microphone", "bundle_path"]

logger = logging.getLogger(__name__)

_BUNDLE = Path(__file__).resolve().parents[1] / "static" / "microphone.js"
# Answering takes well under a second on an idle kernel (aiortc gathers host
# candidates only); the bound keeps a broken network from hanging the kernel.
ANSWER_TIMEOUT_S = 15.0
_STATS_KEYS = ("frames", "delay_ms", "late", "lost", "concealed", "dropped")


def bundle_path() -> Path:
    """The bundled front end, ``remotemedia/static/microphone.js``.

    Raises:
        FileNotFoundError: If it was not built (``make extension`` builds it with npm).
    """
    if not _BUNDLE.is_file():
        raise FileNotFoundError(
            f"the Microphone widget's front end is not built ({_BUNDLE} is missing): "
            "run `make extension` (needs Node.js and npm), or install a remotemedia "
            "wheel, which includes it"
        )
    return _BUNDLE


class Microphone(anywidget.AnyWidget):  # type: ignore[misc]
    """Live microphone (and camera) input from the browser, over WebRTC.

    Each Start creates a new :class:`remotemedia.webrtc.Peer` in the kernel. With a
    ``pipeline``, the audio streams through it: its audio outputs play back in the
    browser (when ``play_output``), other outputs show in the widget (the last text
    line and counters) and are available as :meth:`outputs`.

    Args:
        pipeline: Optional pipeline the live audio streams through (local or with
            remote nodes, e.g. ``rm.remote(node)``).
        sample_rate: Rate of the frames :meth:`frames` yields (a multiple of 50 Hz).
        video: Also capture the camera (frames then include ``rm.VideoFrame``).
        play_output: Play the pipeline's audio output in the browser.
        loopback: Offer only 127.0.0.1 as ICE candidate (browser on the same
            machine with Chromium's ``--allow-loopback-in-peer-connection``); the
            default offers the machine's other interfaces, as aiortc does.
        stats_interval: Seconds between updates of the kernel statistics shown in
            the widget (``kernel_stats``); 0 turns them off.
        **peer_options: More :class:`remotemedia.webrtc.Peer` arguments
            (``target_delay_ms``, ``max_delay_ms``, ``queue_size``, ...).

    Raises:
        ValueError: On a bad argument.
        FileNotFoundError: If the front end was not built (see :func:`bundle_path`).
        ImportError: Naming the ``webrtc`` extra when aiortc is missing.
    """

    sample_rate = t.Int(16000).tag(sync=True)
    video = t.Bool(False).tag(sync=True)
    play_output = t.Bool(True).tag(sync=True)
    #: Connection state reported by the browser: "idle", "starting", "connecting",
    #: "connected", "disconnected", "failed" or "stopped".
    state = t.Unicode("idle").tag(sync=True)
    #: The error the widget shows ("" when none).
    error = t.Unicode("").tag(sync=True)
    #: A summary of the kernel peer's ``stats()``, refreshed every stats_interval.
    kernel_stats = t.Dict().tag(sync=True)

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        sample_rate: int = 16000,
        video: bool = False,
        play_output: bool = True,
        *,
        loopback: bool = False,
        stats_interval: float = 1.0,
        **peer_options: Any,
    ) -> None:
        from remotemedia.webrtc import Peer

        if stats_interval < 0:
            raise ValueError(
                f"Microphone: stats_interval must be >= 0, got {stats_interval!r}"
            )
        # Validates everything the same way each Start will.
        Peer(pipeline, sample_rate, 1, bool(video), **peer_options)
        # anywidget turns a plain ``_esm`` attribute into the synced module source.
        self._esm = bundle_path().read_text(encoding="utf-8")
        super().__init__(
            sample_rate=sample_rate, video=bool(video), play_output=bool(play_output)
        )
        self.pipeline = pipeline
        self.loopback = bool(loopback)
        self.stats_interval = float(stats_interval)
        self._peer_options = dict(peer_options)
        self._peer: Peer | None = None
        self._watch: concurrent.futures.Future[None] | None = None
        self.on_msg(self._on_custom_msg)

    # -- public API -----------------------------------------------------------
    @property
    def peer(self) -> Peer | None:
        """The kernel side of the current (or last) connection; None before Start."""
        return self._peer

    def accept(self, offer: dict[str, str]) -> dict[str, str]:
        """Answers a WebRTC offer: what Start does, callable without a browser.

        Closes the previous connection, if any, and creates a new Peer.

        Args:
            offer: ``{"sdp": ..., "type": "offer"}``.

        Returns:
            The answer, ``{"sdp": ..., "type": "answer"}``.

        Raises:
            ValueError: If ``offer`` is not an offer.
            remotemedia.webrtc.PeerError: If it cannot be answered.
            TimeoutError: If answering takes longer than ANSWER_TIMEOUT_S.
        """
        from remotemedia.webrtc import Peer

        self._close_peer()
        if self.loopback:
            from remotemedia.webrtc.ice import use_loopback_candidates

            use_loopback_candidates()
        peer = Peer(
            self.pipeline,
            self.sample_rate,
            1,
            self.video,
            **self._peer_options,
        )
        self._peer = peer
        answer: dict[str, str] = run_sync(peer.accept(offer), timeout=ANSWER_TIMEOUT_S)
        if self.stats_interval > 0:
            self._watch = asyncio.run_coroutine_threadsafe(
                self._publish_stats(peer), background_loop()
            )
        return answer

    def frames(self) -> AsyncIterator[AudioFrame | VideoFrame]:
        """Live frames from now on (see :meth:`remotemedia.webrtc.Peer.frames`).

        Raises:
            RuntimeError: Before the first Start.
        """
        return self._require_peer().frames()

    def outputs(self) -> AsyncIterator[Any]:
        """The pipeline's outputs from now on (see ``Peer.outputs``).

        Raises:
            RuntimeError: Before the first Start.
            ValueError: If the widget has no pipeline.
        """
        return self._require_peer().outputs()

    def stats(self) -> dict[str, Any]:
        """The kernel peer's receive statistics (see ``Peer.stats``).

        Raises:
            RuntimeError: Before the first Start.
        """
        return self._require_peer().stats()

    def record(self, seconds: float, timeout: float | None = None) -> AudioFrame:
        """The next ``seconds`` of live audio, joined into one frame.

        Args:
            seconds: How much audio to collect.
            timeout: Seconds to wait at most (default: ``seconds + 10``).

        Raises:
            ValueError: If ``seconds`` is not positive.
            RuntimeError: Before the first Start.
            TimeoutError: If the audio does not arrive in time.
            remotemedia.webrtc.PeerError: If the connection ends or fails first.
        """
        if not seconds > 0:
            raise ValueError(f"record: seconds must be > 0, got {seconds!r}")
        stream = self.frames()
        limit = seconds + 10.0 if timeout is None else timeout
        return run_sync(_collect(stream, seconds), timeout=limit)

    def stop(self) -> None:
        """Ends the connection from the kernel side; the widget shows "stopped"."""
        self._close_peer()
        self.send({"type": "stopped"})

    def close(self) -> None:
        """Closes the connection and the widget."""
        self._close_peer()
        super().close()

    def __repr__(self) -> str:
        pipeline = self.pipeline.name if self.pipeline is not None else None
        return (
            f"Microphone(pipeline={pipeline!r}, sample_rate={self.sample_rate}, "
            f"video={self.video}, state={self.state!r})"
        )

    # -- comm -----------------------------------------------------------------
    def _on_custom_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "offer":
            request = content.get("id")
            try:
                offer = {
                    "sdp": str(content.get("sdp", "")),
                    "type": str(content.get("sdp_type", "")),
                }
                answer = self.accept(offer)
            except Exception as exc:  # every failure goes back to the widget
                logger.warning("Microphone: cannot answer the offer: %s", exc)
                self.send({"type": "error", "id": request, "message": _explain(exc)})
                return
            self.send(
                {
                    "type": "answer",
                    "id": request,
                    "sdp": answer["sdp"],
                    "sdp_type": answer["type"],
                }
            )
        elif kind == "stop":
            self._close_peer()

    # -- helpers --------------------------------------------------------------
    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise RuntimeError(
                "Microphone: not started yet: press Start in the widget (the kernel "
                "must be idle), then run this cell"
            )
        return self._peer

    def _close_peer(self) -> None:
        # getattr: ipywidgets' __del__ closes widgets whose __init__ raised.
        watch = getattr(self, "_watch", None)
        if watch is not None:
            watch.cancel()
            self._watch = None
        peer = getattr(self, "_peer", None)
        if peer is not None and peer.state not in ("closed", "failed"):
            try:
                run_sync(peer.close(), timeout=10.0)
            except Exception as exc:  # closing must not raise into the widget
                logger.warning("Microphone: closing the peer failed: %s", exc)

    async def _publish_stats(self, peer: Peer) -> None:
        """Mirrors ``peer.stats()`` into ``kernel_stats``; reports a failed peer."""
        while True:
            await asyncio.sleep(self.stats_interval)
            stats = peer.stats()
            summary: dict[str, Any] = {
                key: (
                    round(stats[key], 1)
                    if isinstance(stats[key], float)
                    else stats[key]
                )
                for key in _STATS_KEYS
                if key in stats
            }
            if summary != self.kernel_stats:
                self.kernel_stats = summary
            if peer.state == "failed":
                self.send(
                    {
                        "type": "error",
                        "message": "The kernel's peer lost the connection "
                        "(ICE failure or the browser went away): press Start again.",
                    }
                )
                return
            if peer.state == "closed":
                return


async def _collect(
    stream: AsyncIterator[AudioFrame | VideoFrame], seconds: float
) -> AudioFrame:
    frames: list[AudioFrame] = []
    total = 0.0
    try:
        async for frame in stream:
            if isinstance(frame, AudioFrame):
                frames.append(frame)
                total += frame.duration
                if total >= seconds - 1e-6:
                    break
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    if not frames:
        raise RuntimeError("record: the connection ended before any audio arrived")
    return AudioFrame.concatenate(frames)


def _explain(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return (
            f"The kernel could not answer within {ANSWER_TIMEOUT_S:.0f} s "
            "(network interfaces slow to gather?)."
        )
    return f"The kernel could not answer the offer: {exc}"
