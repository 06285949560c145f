"""The kernel-side WebRTC peer: remote microphone/camera in, pipeline results back.

One :class:`Peer` answers one offer. Everything it owns (the aiortc connection, our
audio receiver, the pipeline task, the return track) lives on the SDK's background
event loop, so media keeps flowing while a notebook cell runs; the public coroutines
hop to that loop from whichever loop awaits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from remotemedia.core._sync import background_loop
from remotemedia.core.control import Interrupt
from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.core.pipeline import Pipeline
from remotemedia.webrtc._deps import aiortc
from remotemedia.webrtc.decode import OpusStream
from remotemedia.webrtc.errors import PeerError
from remotemedia.webrtc.jitter import JitterBuffer, JitterStats
from remotemedia.webrtc.queues import DropOldestQueue
from remotemedia.webrtc.receiver import AudioReceiver, discard_media
from remotemedia.webrtc.results import CHANNEL, to_message
from remotemedia.webrtc.sdp import parse_offer
from remotemedia.webrtc.streams import END, End, SubscriberStream
from remotemedia.webrtc.tracks import ReturnAudioTrack, read_audio, read_video

logger = logging.getLogger(__name__)

__all__ = ["Peer"]

T = TypeVar("T")


class Peer:
    """A WebRTC peer that receives live audio (and video) into remotemedia.

    Args:
        pipeline: Optional pipeline the received frames stream through; its audio
            outputs go back on the answer's audio track, other outputs as JSON on
            the ``"rm-results"`` data channel (when the offer opened one).
        sample_rate: Rate of the audio frames :meth:`frames` yields.
        channels: Channels of those frames (1 or 2).
        video: Also receive video (as ``rm.VideoFrame``).
        target_delay_ms: Base wait of the jitter buffer for a missing packet.
        max_delay_ms: Cap of the jitter buffer's adaptive wait.
        queue_size: Frames each consumer (every :meth:`frames` /
            :meth:`outputs` iterator and the pipeline) may fall behind before
            the oldest are dropped (counted in ``stats()["dropped"]``).
        jitter_buffer: False uses aiortc's own receive path instead of ours
            (about 80 ms deeper; for comparison).
        return_buffer_ms: Audio the return track may hold before the oldest is
            dropped. The default suits live processed audio (no build-up); raise
            it (e.g. 30000) for spoken answers that a TTS node emits faster than
            real time. An ``rm.Interrupt`` reaching the pipeline's output drops
            what is queued, so the browser stops playing the old answer.
        configuration: aiortc ``RTCConfiguration`` (default: no ICE servers).

    Raises:
        ValueError: On a bad argument.
    """

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        sample_rate: int = 16000,
        channels: int = 1,
        video: bool = False,
        *,
        target_delay_ms: float = 20.0,
        max_delay_ms: float = 120.0,
        queue_size: int = 50,
        jitter_buffer: bool = True,
        return_buffer_ms: float = 100.0,
        configuration: Any = None,
    ) -> None:
        if pipeline is not None and not isinstance(pipeline, Pipeline):
            raise ValueError(
                f"pipeline must be an rm.Pipeline, got {type(pipeline).__name__}"
            )
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels!r}")
        if not isinstance(sample_rate, int) or sample_rate <= 0 or sample_rate % 50:
            raise ValueError(
                f"sample_rate must be a positive multiple of 50 Hz (whole 20 ms "
                f"frames), got {sample_rate!r}"
            )
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size!r}")
        if not return_buffer_ms >= 20:
            raise ValueError(
                f"return_buffer_ms must be >= 20 (one frame), got {return_buffer_ms!r}"
            )
        JitterBuffer(target_ms=target_delay_ms, max_ms=max_delay_ms)  # validates
        aiortc()  # fail now, naming the extra, when aiortc is missing
        self.pipeline = pipeline
        self.sample_rate = sample_rate
        self.channels = channels
        self.video = bool(video)
        self._target_ms = float(target_delay_ms)
        self._max_ms = float(max_delay_ms)
        self._queue_size = int(queue_size)
        self._use_jitter = bool(jitter_buffer)
        self._return_frames = max(1, round(return_buffer_ms / 20))
        self._configuration = configuration
        self._loop = background_loop()
        self._pc: Any = None
        self._state = "new"
        self._connected = asyncio.Event()
        self._ended: BaseException | End | None = None
        self._frame_subs: list[DropOldestQueue[Any]] = []
        self._output_subs: list[DropOldestQueue[Any]] = []
        self._dropped_gone = 0  # drops of subscribers that left
        self._pipeline_in: DropOldestQueue[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._receiver: AudioReceiver | None = None
        self._aiortc_counters: dict[str, int] = {}
        self._aiortc_frames = 0
        self._return: ReturnAudioTrack | None = None
        self._channel: Any = None
        self._sent_messages = 0

    # -- public API -----------------------------------------------------------
    @property
    def state(self) -> str:
        """ "new", "connecting", "connected", "closed" or "failed"."""
        return self._state

    async def accept(self, offer: Any) -> Any:
        """Answers a remote offer and starts receiving.

        Args:
            offer: ``{"sdp": ..., "type": "offer"}`` or an aiortc
                ``RTCSessionDescription``.

        Returns:
            The answer, as a dict when the offer was a dict, else as an
            ``RTCSessionDescription``.

        Raises:
            ValueError: If ``offer`` is not an offer.
            PeerError: If the offer cannot be answered (cause ``"offer"``) or the
                peer was already used (``"state"``).
        """
        return await self._on_loop(self._accept(offer))

    def frames(self) -> AsyncIterator[AudioFrame | VideoFrame]:
        """Received frames, in order, from now on (whether or not a pipeline runs).

        Audio comes as 20 ms ``rm.AudioFrame``s at ``sample_rate`` with timestamps in
        seconds from the first packet; video (``video=True``) as ``rm.VideoFrame``.
        Each call gives an independent iterator; one that falls more than
        ``queue_size`` frames behind loses the oldest. The iteration ends when the
        peer closes and raises :class:`PeerError` when the connection fails.
        """
        return SubscriberStream(
            self._subscribe(self._frame_subs), self._on_loop, self._unsubscribe
        )

    def outputs(self) -> AsyncIterator[Any]:
        """The pipeline's outputs from now on (same rules as :meth:`frames`).

        Raises:
            ValueError: If the peer has no pipeline.
        """
        if self.pipeline is None:
            raise ValueError("this Peer has no pipeline: pass Peer(pipeline=...)")
        return SubscriberStream(
            self._subscribe(self._output_subs), self._on_loop, self._unsubscribe
        )

    def stats(self) -> dict[str, Any]:
        """Receive statistics.

        Returns:
            ``delay_ms`` (mean wait in the jitter buffer), ``target_ms``, ``late``,
            ``lost``, ``concealed`` (packets), ``dropped`` (frames dropped by slow
            consumers, the pipeline input and the return track together), plus
            ``frames``, ``packets``, ``reordered``, ``duplicates``,
            ``dropped_consumers``, ``dropped_pipeline``, ``dropped_return``,
            ``returned`` (frames sent back), ``messages`` (sent on the data
            channel), ``receive_path`` and ``state``.
        """
        if self._receiver is not None:
            jitter = self._receiver.buffer.stats
            frames = self._receiver.frames
        else:
            jitter = JitterStats(target_ms=self._target_ms if self._use_jitter else 0)
            jitter.concealed = self._aiortc_counters.get("lost", 0)
            frames = self._aiortc_frames
        consumers = self._dropped_gone + sum(
            q.dropped for q in self._frame_subs + self._output_subs
        )
        into_pipeline = self._pipeline_in.dropped if self._pipeline_in else 0
        returned = self._return.dropped if self._return else 0
        data: dict[str, Any] = dict(jitter.to_dict())
        data.update(
            frames=frames,
            dropped=consumers + into_pipeline + returned,
            dropped_consumers=consumers,
            dropped_pipeline=into_pipeline,
            dropped_return=returned,
            returned=self._return.sent if self._return else 0,
            messages=self._sent_messages,
            receive_path="remotemedia" if self._use_jitter else "aiortc",
            state=self._state,
        )
        return data

    async def connected(self, timeout: float = 10.0) -> None:
        """Waits until media can flow.

        Raises:
            PeerError: If the connection fails, closes, or takes longer than
                ``timeout`` seconds (cause ``"ice"``).
        """
        await self._on_loop(self._wait_connected(timeout))

    async def close(self) -> None:
        """Closes the connection and ends every iterator; closing twice is harmless."""
        await self._on_loop(self._close(END))

    async def __aenter__(self) -> Peer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"Peer(state={self._state!r}, sample_rate={self.sample_rate}, "
            f"channels={self.channels}, video={self.video}, "
            f"pipeline={self.pipeline.name if self.pipeline else None!r})"
        )

    # -- loop plumbing --------------------------------------------------------
    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always called from a coroutine
            running = None
        if running is self._loop:
            return await coro
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(coro, self._loop)
        )

    def _subscribe(self, subs: list[DropOldestQueue[Any]]) -> DropOldestQueue[Any]:
        queue: DropOldestQueue[Any] = DropOldestQueue(self._queue_size)
        if self._ended is not None:
            queue.offer(self._ended, count=False)
        # Lists are replaced, never changed in place: the loop thread iterates them.
        if subs is self._frame_subs:
            self._frame_subs = [*subs, queue]
        else:
            self._output_subs = [*subs, queue]
        return queue

    def _unsubscribe(self, queue: DropOldestQueue[Any]) -> None:
        if queue in self._frame_subs:
            self._frame_subs = [q for q in self._frame_subs if q is not queue]
            self._dropped_gone += queue.dropped
        if queue in self._output_subs:
            self._output_subs = [q for q in self._output_subs if q is not queue]
            self._dropped_gone += queue.dropped

    # -- connection -----------------------------------------------------------
    async def _accept(self, offer: Any) -> Any:
        rtc = aiortc()
        description, as_dict = parse_offer(offer)
        if self._state != "new":
            raise PeerError(
                f"accept() was already called on this Peer (state {self._state!r}); "
                "create a new Peer for a new connection",
                "state",
            )
        if "\nm=" not in "\n" + description.sdp.replace("\r", ""):
            raise PeerError(
                "cannot answer the offer: it has no media section (m= line)", "offer"
            )
        self._state = "connecting"
        configuration = self._configuration or rtc.RTCConfiguration(iceServers=[])
        pc = self._pc = rtc.RTCPeerConnection(configuration)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)
        try:
            await pc.setRemoteDescription(description)
            if self.pipeline is not None:
                self._start_pipeline(pc)
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as exc:
            await self._close(PeerError(f"cannot answer the offer: {exc}", "offer"))
            raise PeerError(f"cannot answer the offer: {exc}", "offer") from exc
        local = pc.localDescription
        if as_dict:
            return {"sdp": local.sdp, "type": local.type}
        return local

    def _start_pipeline(self, pc: Any) -> None:
        if any(t.kind == "audio" for t in pc.getTransceivers()):
            self._return = ReturnAudioTrack(
                max_frames=self._return_frames, channels=self.channels
            )
            pc.addTrack(self._return)
        self._pipeline_in = DropOldestQueue(self._queue_size)
        self._tasks.append(self._loop.create_task(self._run_pipeline()))

    def _on_track(self, track: Any) -> None:
        receiver = next(
            (
                t.receiver
                for t in self._pc.getTransceivers()
                if t.receiver.track is track
            ),
            None,
        )
        if track.kind == "audio":
            if self._use_jitter and receiver is not None and self._receiver is None:
                self._receiver = AudioReceiver(
                    receiver,
                    OpusStream(self.sample_rate, self.channels),
                    JitterBuffer(target_ms=self._target_ms, max_ms=self._max_ms),
                    self._emit,
                )
            else:
                self._tasks.append(
                    self._loop.create_task(
                        read_audio(
                            track,
                            self.sample_rate,
                            self.channels,
                            self._emit_aiortc,
                            self._aiortc_counters,
                        )
                    )
                )
        elif track.kind == "video" and self.video:
            self._tasks.append(self._loop.create_task(read_video(track, self._emit)))
        elif track.kind == "video" and receiver is not None:
            discard_media(receiver)  # video nobody asked for: do not decode it

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label == CHANNEL:
            self._channel = channel

    async def _on_connection_state(self) -> None:
        state = self._pc.connectionState if self._pc is not None else "closed"
        logger.debug("peer connection state: %s", state)
        if state == "connected" and self._state == "connecting":
            self._state = "connected"
            self._connected.set()
        elif state == "failed" and self._ended is None:
            await self._close(
                PeerError(
                    "the WebRTC connection failed (ICE/DTLS): the remote peer is "
                    "unreachable or went away",
                    "ice",
                )
            )
        elif state == "closed" and self._ended is None:
            await self._close(END)  # the remote side hung up: the stream ends

    async def _wait_connected(self, timeout: float) -> None:
        if self._state == "connected":
            return
        if self._ended is not None:
            raise self._not_connected()
        waiter = self._loop.create_task(self._connected.wait())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except asyncio.TimeoutError:
            raise PeerError(
                f"the WebRTC connection did not come up within {timeout:g} s "
                "(ICE: no usable candidate pair)",
                "ice",
            ) from None
        finally:
            waiter.cancel()
        if self._state != "connected":
            raise self._not_connected()

    def _not_connected(self) -> PeerError:
        if isinstance(self._ended, PeerError):
            return self._ended
        return PeerError(f"the peer is {self._state}", "closed")

    async def _close(self, end: BaseException | End) -> None:
        if self._ended is not None:
            return
        self._ended = end
        self._state = "failed" if isinstance(end, PeerError) else "closed"
        self._connected.set()
        if self._receiver is not None:
            self._receiver.close()
        if self._pipeline_in is not None:
            self._pipeline_in.offer(END, count=False)
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pc is not None:
            with contextlib.suppress(Exception):
                await self._pc.close()
        for queue in self._frame_subs + self._output_subs:
            queue.offer(end, count=False)

    # -- media ----------------------------------------------------------------
    def _emit(self, frame: AudioFrame | VideoFrame) -> None:
        for queue in self._frame_subs:
            queue.offer(frame)
        if self._pipeline_in is not None:
            self._pipeline_in.offer(frame)

    def _emit_aiortc(self, frame: AudioFrame) -> None:
        self._aiortc_frames += 1
        self._emit(frame)

    async def _run_pipeline(self) -> None:
        assert self.pipeline is not None and self._pipeline_in is not None
        queue = self._pipeline_in

        async def source() -> AsyncIterator[Any]:
            while True:
                item = await queue.get()
                if item is END:
                    return
                yield item

        try:
            async for item in self.pipeline.stream(source()):
                self._route(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("pipeline failed on live input: %s", exc)
            for sub in self._output_subs:
                sub.offer(exc, count=False)
            self._send({"type": "error", "node": None, "message": str(exc)})

    def _route(self, item: Any) -> None:
        for sub in self._output_subs:
            sub.offer(item)
        if isinstance(item, AudioFrame):
            if self._return is not None:
                self._return.push(item)
            return
        if isinstance(item, Interrupt):
            cleared = self._return.clear() if self._return is not None else 0
            self._send({"type": "interrupt", "reason": item.reason, "cleared": cleared})
            return
        self._send(to_message(item))

    def _send(self, message: dict[str, Any]) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        try:
            channel.send(json.dumps(message))
            self._sent_messages += 1
        except Exception as exc:  # a closing channel; the output stays in outputs()
            logger.debug("could not send on %s: %s", CHANNEL, exc)
