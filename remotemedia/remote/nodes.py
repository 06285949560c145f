"""Remote nodes: a node instance living in a server session.

``rm.remote(node, session)`` wraps a node; its instance is created in the session's
worker on first use and stays there, so its state persists across calls and runs.
Consecutive remote nodes of one session fuse into one :class:`RemoteSegment`: the
stream crosses the network once per segment through one bidirectional call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from remotemedia.core._sync import background_loop, run_sync
from remotemedia.core.control import Interrupt
from remotemedia.core.errors import RemoteError
from remotemedia.core.node import Node, Outputs
from remotemedia.remote._proto import execution_pb2 as epb

__all__ = ["RemoteNode", "RemoteSegment", "remote"]

logger = logging.getLogger(__name__)

# Out-of-band interrupt calls in flight (kept so that they are not collected).
_PENDING: set[concurrent.futures.Future[Any]] = set()


def _interrupt_remote(nodes: list[RemoteNode], interrupt: Interrupt) -> None:
    """Tells the server instances of ``nodes`` at once, without waiting; the
    Interrupt also follows in order on the stream."""
    for node in nodes:
        if node.object_id is None:
            continue
        call = node.session._acall_method(node.object_id, "interrupt", (interrupt,))
        future = asyncio.run_coroutine_threadsafe(call, background_loop())
        _PENDING.add(future)
        future.add_done_callback(_interrupt_done)


def _interrupt_done(future: Any) -> None:
    _PENDING.discard(future)
    if not future.cancelled() and future.exception() is not None:
        logger.warning("remote interrupt failed: %s", future.exception())


class RemoteNode(Node):
    """Runs ``node`` in a server session (see :func:`remote`).

    Args:
        node: The node to run remotely (cloudpickled to the server once).
        session: The session; None uses the current session (see
            :func:`~remotemedia.connect`).
        window: Frames in flight on a stream before waiting for the server.
        name: Name in a pipeline (default: the wrapped node's name).
    """

    is_remote: ClassVar[bool] = True
    passes_control: ClassVar[bool] = True  # the server relays control items

    def __init__(
        self,
        node: Node,
        session: Any = None,
        window: int = 8,
        name: str | None = None,
    ) -> None:
        if not isinstance(node, Node):
            raise TypeError(f"remote() expects a Node, got {type(node).__name__}")
        if getattr(node, "is_remote", False):
            raise TypeError(f"node '{node.name}' is already remote")
        if window < 1:
            raise ValueError(f"RemoteNode: window must be >= 1, got {window}")
        super().__init__(name=name or node.name)
        if session is None:
            from remotemedia.remote.client import current_session

            session = current_session()
        self.node = node
        self.session = session
        self.window = window
        self.object_id: str | None = None

    def fusion_key(self) -> object | None:
        """The session: consecutive remote nodes of one session form one segment."""
        return self.session

    @classmethod
    def fuse(cls, nodes: list[Node]) -> Node:
        """One stage streaming through all ``nodes`` in one remote call."""
        return RemoteSegment(nodes)  # type: ignore[arg-type]

    async def _ensure_remote(self) -> str:
        if self.object_id is None:
            object_id, _ = await self.session._acreate_object(self.node)
            self.object_id = object_id
        return self.object_id

    async def ainitialize(self) -> None:
        """Creates the node instance in the session (once)."""
        from remotemedia.remote.client import hop

        await hop(self._ensure_remote())

    def initialize(self) -> None:
        run_sync(self._ensure_remote())

    async def _aprocess_remote(self, data: Any) -> Outputs:
        object_id = await self._ensure_remote()
        try:
            outputs = await self.session._acall_method(
                object_id, "__rm_process__", (data,)
            )
        except RemoteError as exc:
            if exc.code != "NOT_FOUND" or "no remote object" not in str(exc):
                raise
            # The session was reset or its worker restarted: start a new instance.
            self.object_id = None
            object_id = await self._ensure_remote()
            outputs = await self.session._acall_method(
                object_id, "__rm_process__", (data,)
            )
        return _outputs(outputs)

    async def aprocess(self, data: Any) -> Any:
        """Processes one input on the server (the remote instance keeps its state)."""
        from remotemedia.remote.client import hop

        return await hop(self._aprocess_remote(data))

    def process(self, data: Any) -> Any:
        return run_sync(self._aprocess_remote(data))

    async def _aflush_remote(self) -> Outputs:
        object_id = await self._ensure_remote()
        return _outputs(
            await self.session._acall_method(object_id, "__rm_flush__", (None,))
        )

    def flush(self) -> Any:
        return run_sync(self._aflush_remote())

    def on_interrupt(self, interrupt: Interrupt) -> None:
        """Interrupts the server instance now (generation there stops early)."""
        _interrupt_remote([self], interrupt)

    def astream(self, inputs: AsyncIterator[Any]) -> AsyncIterator[Any]:
        # The segment's own iterator: no extra generator layer per frame.
        return RemoteSegment([self]).astream(inputs)

    # -- the remote instance's attributes ---------------------------------------
    def __getattr__(self, name: str) -> Any:
        """Reads an attribute of the wrapped node from its remote instance.

        Only names the wrapped node has (a parameter, state, a method) are looked
        up; before the instance exists on the server, its local copy answers.
        """
        node = self.__dict__.get("node")
        if name.startswith("_") or node is None:
            raise AttributeError(name)
        missing = object()
        if inspect.getattr_static(node, name, missing) is missing:
            raise AttributeError(
                f"remote node '{self.__dict__.get('name', '?')}' "
                f"({type(node).__name__}) has no attribute {name!r}"
            )
        if callable(getattr(type(node), name, None)):
            from remotemedia.remote.objects import _RemoteMethod

            return _RemoteMethod(
                self._call_method, self._acall_method, name, type(node).__name__
            )
        if self.object_id is None:
            return getattr(node, name)  # what the remote instance starts from
        return run_sync(self._aget_remote(name))

    async def _aget_remote(self, name: str) -> Any:
        from remotemedia.remote.objects import _RemoteMethod, local_error

        try:
            is_callable, value, _ = await self.session._aget_attribute_info(
                self.object_id, name
            )
        except RemoteError as exc:
            if "no remote object" in str(exc):
                self.object_id = None  # lost (session reset): a new one starts so
                return getattr(self.node, name)
            raise local_error(exc) from None
        if is_callable:
            label = type(self.node).__name__
            return _RemoteMethod(self._call_method, self._acall_method, name, label)
        return value

    async def _acall_method(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        object_id = await self._ensure_remote()
        return await self.session._acall_method(object_id, name, args, kwargs)

    def _call_method(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        object_id = run_sync(self._ensure_remote())
        return self.session.call_method(object_id, name, args, kwargs)

    def __repr__(self) -> str:
        return f"remote({self.node!r} @ {self.session.address})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            f"remote node '{self.name}' cannot be pickled: it is bound to a session"
        )


class RemoteSegment(Node):
    """Consecutive remote nodes of one session, streamed through one call.

    Args:
        nodes: The remote nodes, in order (all on one session).
        name: Stage name.
    """

    is_remote: ClassVar[bool] = True
    passes_control: ClassVar[bool] = True  # the server relays control items

    def __init__(self, nodes: list[RemoteNode], name: str | None = None) -> None:
        super().__init__(name=name or "+".join(n.name for n in nodes))
        self.nodes = list(nodes)
        self.session = nodes[0].session
        self.window = min(n.window for n in nodes)

    async def astream(self, inputs: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Streams ``inputs`` through the segment; yields outputs in order."""
        from remotemedia.remote.client import hop

        live = {o["id"] for o in await hop(self.session._alist_objects())}
        ids = []
        for node in self.nodes:
            if node.object_id not in live:
                # New, or lost to a session reset / worker restart: (re)create it.
                node.object_id = None
            ids.append(await hop(node._ensure_remote()))
        spec = epb.PipelineSpec(node_ids=epb.NodeIds(ids=ids))
        async for item in self.session._stream_spec(
            spec, inputs, self.window, self._add_stats
        ):
            yield item

    def _add_stats(self, records: list[dict[str, Any]]) -> None:
        """Adds what the worker measured for each node during the stream."""
        for node, record in zip(self.nodes, records):
            node.stats.add(record)

    def on_interrupt(self, interrupt: Interrupt) -> None:
        """Interrupts the server instances now (generation there stops early)."""
        _interrupt_remote(self.nodes, interrupt)

    def process(self, data: Any) -> Any:
        outputs: list[Any] = [data]
        for node in self.nodes:
            produced: list[Any] = []
            for item in outputs:
                produced.extend(node.process(item))
            outputs = produced
        return Outputs(outputs)


def _outputs(result: Any) -> Outputs:
    """The outputs of a remote process/flush call.

    The server sends a single frame, array or scalar output as itself (cheaper than
    a pickled list); anything else comes as the list of outputs.
    """
    return Outputs(result) if isinstance(result, list) else Outputs([result])


def remote(node: Node, session: Any = None, *, window: int = 8) -> RemoteNode:
    """Runs ``node`` on a server session instead of locally.

    Args:
        node: Any node; its instance (and state) lives in the session's worker.
        session: A :class:`~remotemedia.remote.Session`; None uses the current
            session (the one ``%remote connect`` or :func:`~remotemedia.connect`
            opened last; with none, the embedded local server starts and says so).
        window: Frames in flight on a stream (backpressure bound).

    Returns:
        A :class:`RemoteNode` to put in a pipeline like any other node.
    """
    return RemoteNode(node, session, window=window)
