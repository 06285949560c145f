"""Framing between the front end and a session worker, and stream messages both
ends of a StreamPipeline call share.

Messages are tuples ``(request_id, kind, payload)``. On the wire each is one frame:
a fixed header (body length, request id, body format, kind length), the kind in
ASCII, then the body. ``bytes`` payloads (stream frames and responses, already
serialized protobuf) travel as they are, so large frames are never pickled or
copied into a pickle; any other payload is pickled. Payloads hold plain data and
already-encoded bytes; user objects travel inside as cloudpickle/protobuf bytes.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from remotemedia.remote import codec
from remotemedia.remote._proto import execution_pb2 as epb

# body length, request id, format (0: pickle, 1: raw bytes), kind length
HEADER = struct.Struct("<QQBB")
_PICKLED, _RAW = 0, 1
# Below this size header and body are joined into one write (one syscall).
_JOIN_LIMIT = 256 * 1024
_READ_BUFFER = 256 * 1024

# The last response of every StreamPipeline call.
END_RESPONSE = epb.StreamResponse(end=True).SerializeToString()


def pipeline_spec(spec: Any) -> dict[str, Any]:
    """A ``PipelineSpec`` message as the plain dict session workers take."""
    kind = spec.WhichOneof("nodes")
    if kind == "manifest_json":
        return {"manifest": spec.manifest_json}
    if kind == "pickled_nodes":
        return {"pickled": spec.pickled_nodes}
    if kind == "node_ids":
        return {"ids": list(spec.node_ids.ids)}
    raise codec.CodecError("the pipeline spec names no nodes")


def encode(message: tuple[int, str, Any]) -> list[bytes]:
    """The wire chunks of one message (write them in order)."""
    rid, kind, payload = message
    if type(payload) is bytes:
        body, fmt = payload, _RAW
    else:
        body, fmt = pickle.dumps(payload, protocol=5), _PICKLED
    name = kind.encode("ascii")
    head = HEADER.pack(len(body), rid, fmt, len(name)) + name
    if len(body) < _JOIN_LIMIT:
        return [head + body]
    return [head, body]


def _decode_body(fmt: int, body: bytes) -> Any:
    return body if fmt == _RAW else pickle.loads(body)


def send_blocking(sock: socket.socket, message: Any, lock: threading.Lock) -> None:
    """Sends one framed message from a thread."""
    chunks = encode(message)
    with lock:
        for chunk in chunks:
            sock.sendall(chunk)


class BlockingReader:
    """Receives framed messages from a blocking socket (buffered: few syscalls)."""

    def __init__(self, sock: socket.socket) -> None:
        self._file = sock.makefile("rb", buffering=_READ_BUFFER)

    def _read(self, size: int) -> bytes | None:
        data = self._file.read(size)
        if data is None or len(data) < size:
            return None
        return data

    def recv(self) -> Any | None:
        """One message; None at end of stream."""
        header = self._read(HEADER.size)
        if header is None:
            return None
        size, rid, fmt, name_len = HEADER.unpack(header)
        name = self._read(name_len)
        body = self._read(size)  # separately: slicing would copy a large body
        if name is None or body is None:
            return None
        return rid, name.decode("ascii"), _decode_body(fmt, body)


class FrameProtocol(asyncio.Protocol):
    """Event-loop side of the framing: calls ``on_message`` for each message.

    Parsing happens in ``data_received``, so a message is dispatched in the loop
    callback that reads it (no reader task to wake up).

    Args:
        on_message: Called with each ``(request_id, kind, payload)``.
        on_lost: Called once when the connection ends (None: cleanly).
    """

    def __init__(
        self,
        on_message: Callable[[tuple[int, str, Any]], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        self.on_message = on_message
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._need = HEADER.size
        self._header: tuple[int, int, int, int] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= self._need:
            if self._header is None:
                self._header = HEADER.unpack_from(buffer)
                del buffer[: HEADER.size]
                self._need = self._header[0] + self._header[3]
                continue
            size, rid, fmt, name_len = self._header
            with memoryview(buffer) as view:  # one copy out of the buffer
                kind = bytes(view[:name_len]).decode("ascii")
                body = bytes(view[name_len : name_len + size])
            del buffer[: name_len + size]
            self._header = None
            self._need = HEADER.size
            self.on_message((rid, kind, _decode_body(fmt, body)))

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._writable.set()
        self.on_lost(exc)

    async def send(self, message: tuple[int, str, Any]) -> None:
        """Writes one message; waits while the transport's buffer is full."""
        if self._closed or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("worker connection closed")
        for chunk in encode(message):
            self.transport.write(chunk)
        if not self._writable.is_set():
            await self._writable.wait()
