"""The embedded default server, stub generation, idle sessions, streams stopped early."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import remotemedia as rm
from remotemedia.remote import LocalServer, Session, gen_protos
from remotemedia_server.native_endpoint import native_endpoint_available


class Doubler(rm.Node):
    """Doubles numbers."""

    def process(self, data: Any) -> Any:
        return data * 2


class Tally:
    """Counts calls."""

    def __init__(self) -> None:
        self.n = 0

    def bump(self) -> int:
        self.n += 1
        return self.n


def test_default_embedded_server_serves_connect_remote_and_objects() -> None:
    node = rm.remote(Doubler())  # starts the process-wide embedded server
    assert node.process(21) == [42]
    tally = rm.RemoteObject(Tally())
    assert [tally.bump(), tally.bump()] == [1, 2]
    current = rm.connect()  # no address: the current session, the one they use
    assert current is node.session is tally._session
    assert current.execute("'here'").value_bundle == {"text/plain": "'here'"}


def test_generated_stubs_are_current_and_regenerable(tmp_path: Path) -> None:
    assert not gen_protos.is_stale()
    out = gen_protos.generate(out=tmp_path / "_proto")
    text = (out / "execution_pb2.py").read_text()
    assert "from remotemedia.remote._proto import types_pb2" in text
    assert "from remotemedia.v1" not in text
    assert gen_protos.generated_hash(out) == gen_protos.sources_hash()
    result = subprocess.run(
        [sys.executable, "-m", "remotemedia.remote.gen_protos", "--check"],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0


def test_idle_sessions_are_closed() -> None:
    srv = rm.start_server(args=["--idle-timeout", "1", "--workers", "0"])
    try:
        sess = rm.connect(srv.address, srv.token)
        sess.execute("x = 1")
        watcher = rm.connect(srv.address, srv.token)  # kept busy, so never idle
        for _ in range(100):  # bounded: up to ~10 s
            if watcher.status()["server_sessions"] == 1:
                break
            time.sleep(0.1)
        with pytest.raises(rm.RemoteError) as info:
            sess.pull("x")
        error = info.value
        assert error is not None and error.code == "NOT_FOUND"
        assert "unknown session" in str(error)
    finally:
        srv.stop()


def test_stopping_a_stream_early_leaves_the_session_usable(session: Session) -> None:
    node = rm.remote(Doubler(), session, window=2)

    async def first_three() -> list[Any]:
        out = []
        async for item in rm.Pipeline([node]).stream(range(10_000)):
            out.append(item)
            if len(out) == 3:
                break
        return out

    assert asyncio.run(first_three()) == [0, 2, 4]
    for _ in range(50):  # bounded: the server winds the stream down
        if session.status()["streams"] == 0:
            break
        time.sleep(0.1)
    assert session.status()["streams"] == 0
    assert rm.Pipeline([node]).collect([5]) == [10]


def test_allowed_nodes_restricts_node_types() -> None:
    config = Path(os.environ.get("TMPDIR", "/tmp")) / f"rm-allowed-{os.getpid()}.yaml"
    config.write_text("allowed_nodes: [Doubler]\nworkers: 0\n")
    srv: LocalServer = rm.start_server(args=["--config", str(config)])
    try:
        with rm.connect(srv.address, srv.token) as sess:
            assert rm.remote(Doubler(), sess).process(2) == [4]
            with pytest.raises(rm.RemoteError, match="not allowed") as info:
                rm.remote(Blocked(), sess).process(1)
            assert info.value.code == "PERMISSION_DENIED"
            assert [n["name"] for n in sess.list_nodes()] == []
    finally:
        srv.stop()
        config.unlink()


class Blocked(rm.Node):
    """A node type the server does not allow."""

    def process(self, data: Any) -> Any:
        return data


def test_tls_server_and_client(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl command not found: cannot make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    srv = rm.start_server(args=["--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        with rm.connect(srv.address, srv.token, tls=str(cert)) as sess:
            assert sess.execute("40 + 2").value_bundle == {"text/plain": "42"}
            # Streams reach the worker's own endpoint over TLS too.
            frames = [rm.AudioFrame(np.full((1, 480), 0.5, np.float32), 48000)] * 3
            out = rm.Pipeline([rm.remote(rm.nodes.Gain(-6.0), sess)]).collect(frames)
            assert len(out) == 3
            status = sess.status()
            assert status["streams_direct"] == 1
            # The Rust endpoint serves TLS too, when the runtime is built.
            native = native_endpoint_available()
            assert status["direct_transport"] == ("native" if native else "grpcio")
        with pytest.raises(rm.RemoteError, match="cannot reach"):
            rm.connect(srv.address, srv.token, timeout=2)  # plaintext to a TLS port
    finally:
        srv.stop()
