"""Failure handling: auth, crashes, limits, deadlines, cancellation, bad input."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import remotemedia as rm
from remotemedia.remote import LocalServer, Session, _rpc
from remotemedia.remote._proto import execution_pb2 as epb


class Crash(rm.Node):
    """Kills its process (simulates a segfault in native code)."""

    def process(self, data: Any) -> Any:
        os._exit(17)


class Hog(rm.Node):
    """Allocates ``mb`` megabytes."""

    def __init__(self, mb: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.mb = mb

    def process(self, data: Any) -> Any:
        block = np.ones(self.mb * 2**20 // 8)
        return float(block.sum())


def _auth(server: LocalServer) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {server.token}"),)


def test_calls_without_the_token_are_refused(server: LocalServer) -> None:
    with pytest.raises(rm.RemoteError, match="token") as info:
        rm.connect(server.address, "wrong-token")
    assert info.value.code == "UNAUTHENTICATED"
    with grpc.insecure_channel(server.address) as channel:
        stub = channel.unary_unary(
            _rpc.path("ServerInfo"),
            request_serializer=epb.ServerInfoRequest.SerializeToString,
            response_deserializer=epb.ServerInfoResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as rpc_info:
            stub(epb.ServerInfoRequest(), timeout=10)
        assert rpc_info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # The standard health service answers without a token.
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_worker_crash_is_reported_and_server_survives(
    server: LocalServer, session: Session
) -> None:
    with rm.connect(server.address, server.token) as bystander:
        bystander.execute("kept = 'yes'")
        node = rm.remote(Crash(), session)
        with pytest.raises(rm.RemoteError, match="crashed.*exit.* code 17") as info:
            node.process(1)
        assert info.value.code == "UNAVAILABLE"
        # Other sessions keep their state; the crashed one continues on a new worker.
        assert bystander.pull("kept") == {"kept": "yes"}
        assert session.execute("1 + 1").value_bundle == {"text/plain": "2"}
        assert session.status()["worker_restarts"] == 1
    with rm.connect(server.address, server.token) as fresh:
        assert fresh.execute("'ok'").value_bundle == {"text/plain": "'ok'"}


def test_memory_limit_breach_is_resource_exhausted(
    session: Session, limits: dict[str, float]
) -> None:
    mb = int(limits["memory_mb"])
    node = rm.remote(Hog(4 * mb), session)
    with pytest.raises(rm.RemoteError, match=f"memory limit {mb} MB exceeded") as info:
        node.process(0)
    assert info.value.code == "RESOURCE_EXHAUSTED"
    with pytest.raises(rm.RemoteError, match="memory limit") as info:
        session.execute("import numpy as np\nbig = np.ones(2**31 // 8 * 2)")
    assert info.value.code == "RESOURCE_EXHAUSTED"
    assert session.execute("small = list(range(10))\nlen(small)").value_bundle == {
        "text/plain": "10"
    }


def test_call_past_its_deadline(session: Session) -> None:
    session.execute("state = 1")
    with pytest.raises(rm.RemoteError, match="1 s time limit") as info:
        session.execute("import time\ntime.sleep(30)", timeout=1.0)
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert session.pull("state") == {"state": 1}  # interrupted, state intact


def test_server_call_limit_applies_without_a_client_timeout() -> None:
    srv = rm.start_server(args=["--call-timeout", "1.5", "--workers", "0"])
    try:
        with rm.connect(srv.address, srv.token) as sess:
            with pytest.raises(rm.RemoteError, match="1.5 s time limit") as info:
                sess.execute("import time\ntime.sleep(30)", timeout=60)
            assert info.value.code == "DEADLINE_EXCEEDED"
            assert sess.execute("'next'").value_bundle == {"text/plain": "'next'"}
    finally:
        srv.stop()


def test_call_that_ignores_interrupts_is_killed(session: Session) -> None:
    session.execute("state = 1")
    stubborn = (
        "import time\n"
        "while True:\n"
        "    try:\n"
        "        time.sleep(0.05)\n"
        "    except KeyboardInterrupt:\n"
        "        pass\n"
    )
    with pytest.raises(rm.RemoteError, match="state.*lost") as info:
        session.execute(stubborn, timeout=1.0)
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert session.execute("'alive'").value_bundle == {"text/plain": "'alive'"}
    with pytest.raises(rm.RemoteError, match="variable 'state'"):
        session.pull("state")


async def test_cancelling_execute_cancels_it_on_the_server(session: Session) -> None:
    started = asyncio.Event()
    # 'started' is printed inside the loop so that `i` exists once it arrives.
    code = (
        "import time\nfor i in range(200):\n"
        "    if i == 0:\n        print('started', flush=True)\n    time.sleep(0.05)\n"
    )
    task = asyncio.ensure_future(
        session.aexecute(code, on_stream=lambda name, text: started.set())
    )
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status: dict[str, Any] = {}
    for _ in range(100):  # bounded: up to ~10 s on a busy machine
        status = await session.astatus()
        if status["cancelled"]:
            break
        await asyncio.sleep(0.1)
    assert status["cancelled"] == 1
    result = await session.aexecute("i")
    assert int(result.value_bundle["text/plain"]) < 199  # the loop stopped early


def test_malformed_protobuf_is_invalid_argument(server: LocalServer) -> None:
    with grpc.insecure_channel(server.address) as channel:
        raw = channel.unary_unary(_rpc.path("OpenSession"))  # no serializers: bytes
        with pytest.raises(grpc.RpcError) as info:
            raw(b"\x0a\xff\xff\xff\xff", metadata=_auth(server), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "malformed" in info.value.details()
        bidi = channel.stream_stream(_rpc.path("StreamPipeline"))
        with pytest.raises(grpc.RpcError) as info:
            list(bidi(iter([b"\xff\xff\xff"]), metadata=_auth(server), timeout=10))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with rm.connect(server.address, server.token) as alive:
        assert alive.info()["version"] == rm.__version__


def test_malformed_pickle_is_invalid_argument(
    server: LocalServer, session: Session
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        push = channel.unary_unary(
            _rpc.path("PushVariables"),
            request_serializer=epb.PushVariablesRequest.SerializeToString,
            response_deserializer=epb.PushVariablesResponse.FromString,
        )
        request = epb.PushVariablesRequest(
            session_id=session.id, variables={"x": b"\x80\x05garbage"}
        )
        with pytest.raises(grpc.RpcError) as info:
            push(request, metadata=_auth(server), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "variable 'x'" in info.value.details()
        create = channel.unary_unary(
            _rpc.path("CreateObject"),
            request_serializer=epb.CreateObjectRequest.SerializeToString,
            response_deserializer=epb.ObjectRef.FromString,
        )
        request = epb.CreateObjectRequest(session_id=session.id)
        request.object.data = b"not a pickle at all"
        with pytest.raises(grpc.RpcError) as info:
            create(request, metadata=_auth(server), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert session.execute("'still fine'").value_bundle == {
        "text/plain": "'still fine'"
    }


def test_unknown_session_is_not_found(server: LocalServer) -> None:
    with rm.connect(server.address, server.token) as sess:
        sess.close()
        with pytest.raises(rm.RemoteError, match="closed"):
            sess.execute("1")


def test_cli_serve_prints_address_and_token(tmp_path: Any) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("limits:\n  memory_mb: 300\nworkers: 0\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "remotemedia.cli",
            "serve",
            "--config",
            str(config),
            "--exit-with-parent",
            str(os.getpid()),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("remotemedia server listening on 127.0.0.1:")
        address, token = line.split()[-2], line.split()[-1].removeprefix("token=")
        assert len(token) > 16
        with rm.connect(address, token, timeout=30) as sess:
            assert sess.info()["limits"]["memory_mb"] == 300
    finally:
        process.terminate()
        process.wait(10)


def test_object_limit(session: Session) -> None:
    for _ in range(50):  # the test server allows 50 objects per session
        session.put([1, 2, 3])
    with pytest.raises(rm.RemoteError, match="object limit 50") as info:
        session.put([4])
    assert info.value.code == "RESOURCE_EXHAUSTED"
    session.reset()
    assert session.put([5]).count(5) == 1


def test_keyboard_interrupt_while_waiting_cancels_the_cell(session: Session) -> None:
    code = "import time\nprint('started')\nfor i in range(200):\n    time.sleep(0.05)\n"
    timers: list[threading.Timer] = []

    def on_stream(name: str, text: str) -> None:
        if not timers:  # interrupt this process like Ctrl-C in a notebook
            timers.append(threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)))
            timers[0].start()

    with pytest.raises(KeyboardInterrupt):
        session.execute(code, on_stream=on_stream)
    status: dict[str, Any] = {}
    for _ in range(100):  # bounded: up to ~10 s
        status = session.status()
        if status["cancelled"]:
            break
        time.sleep(0.1)
    assert status["cancelled"] == 1
    assert int(session.execute("i").value_bundle["text/plain"]) < 199


def test_memory_outside_the_data_limit_is_caught_by_the_rss_watchdog(
    session: Session, limits: dict[str, float]
) -> None:
    size = int(2.5 * limits["memory_mb"]) * 2**20
    code = (
        "import mmap, time\n"
        f"shared = mmap.mmap(-1, {size})  # shared memory: not in RLIMIT_DATA\n"
        f"for i in range(0, {size}, 4096):\n"
        "    shared[i] = 1\n"
        "time.sleep(3)\n"
    )
    with pytest.raises(rm.RemoteError, match="memory limit .* exceeded") as info:
        session.execute(code)
    assert info.value.code == "RESOURCE_EXHAUSTED"
    assert "lost" in str(info.value)
    assert session.execute("'recovered'").value_bundle == {"text/plain": "'recovered'"}
