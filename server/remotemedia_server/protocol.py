"""Framing between the front end and a session worker: 8-byte length + pickle.

Messages are tuples ``(request_id, op_or_kind, payload)``. Payloads hold plain data
and already-encoded bytes; user objects travel inside as cloudpickle/protobuf bytes.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
import threading
from typing import Any

HEADER = struct.Struct("<Q")


def send_blocking(sock: socket.socket, message: Any, lock: threading.Lock) -> None:
    """Sends one framed message from a thread."""
    data = pickle.dumps(message, protocol=5)
    with lock:
        sock.sendall(HEADER.pack(len(data)))
        sock.sendall(data)


def _recv_exact(sock: socket.socket, size: int) -> bytearray | None:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            return None
        got += n
    return buf


def recv_blocking(sock: socket.socket) -> Any | None:
    """Receives one framed message; None at end of stream."""
    header = _recv_exact(sock, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    data = _recv_exact(sock, size)
    if data is None:
        return None
    return pickle.loads(data)


async def send_async(writer: asyncio.StreamWriter, message: Any) -> None:
    """Sends one framed message from the event loop."""
    data = pickle.dumps(message, protocol=5)
    writer.write(HEADER.pack(len(data)))
    writer.write(data)
    await writer.drain()


async def recv_async(reader: asyncio.StreamReader) -> Any | None:
    """Receives one framed message; None at end of stream."""
    try:
        header = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        data = await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return pickle.loads(data)
