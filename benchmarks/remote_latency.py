"""Remote execution latency and throughput, against a raw gRPC echo baseline.

Run: ``python benchmarks/remote_latency.py [--frames N]`` (under a minute).

Rows:
  * raw grpc.aio bidi echo of the encoded frame bytes (the floor), with the echo
    server in this process and in a separate process (like the remote server),
  * a remote passthrough node streaming 20 ms 48 kHz mono frames, straight to the
    session worker (the default; its endpoint served by the Rust runtime), to a
    worker whose endpoint ``grpc.aio`` serves (``--direct-transport grpcio``) and
    through the server's front end; the one-frame-in-flight rows take turns
    round after round, side by side,
  * a RemoteObject method call,
  * an 8 MB video frame round trip (raw echo and remote node),
  * a Ray actor call when ``ray`` is importable, taking turns with the
    RemoteObject call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import numpy as np

import remotemedia as rm
from remotemedia.remote import codec

SAMPLE_RATE = 48000
FRAME_MS = 20


class Passthrough(rm.Node):
    """Returns its input unchanged."""

    def process(self, data: Any) -> Any:
        return data


class Counter:
    """A stateful object for method-call latency."""

    def __init__(self) -> None:
        self.n = 0

    def increment(self) -> int:
        self.n += 1
        return self.n


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


class Row:
    def __init__(self, name: str, latencies_s: list[float], rate: float | None) -> None:
        self.name = name
        self.latencies = latencies_s
        self.p50 = 1000 * statistics.median(latencies_s)
        self.p99 = 1000 * _pct(latencies_s, 0.99)
        self.rate = rate


# -- raw gRPC echo -----------------------------------------------------------------------
async def _echo(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for data in requests:
        yield data


async def _echo_unary(data: bytes, context: Any) -> bytes:
    return data


def _options() -> list[tuple[str, Any]]:
    return [
        ("grpc.max_send_message_length", 64 * 2**20),
        ("grpc.max_receive_message_length", 64 * 2**20),
    ]


async def start_echo() -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server(options=_options())
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Bidi": grpc.stream_stream_rpc_method_handler(_echo),
            "Unary": grpc.unary_unary_rpc_method_handler(_echo_unary),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def serve_echo_forever() -> None:
    """Runs the echo server in this process (``--echo-server``), printing its address."""
    server, address = await start_echo()
    print(address, flush=True)
    await server.wait_for_termination()


def spawn_echo() -> tuple[subprocess.Popen[str], str]:
    """Starts the echo server in a separate process (like the remote server)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--echo-server"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def _channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=_options())


async def raw_ping(address: str, payload: bytes, frames: int) -> list[float]:
    """Latencies of ``frames`` echoes with one frame in flight (ping-pong)."""
    async with _channel(address) as channel:
        call = channel.stream_stream("/bench.Echo/Bidi")()
        latencies = []
        for _ in range(frames):
            start = time.perf_counter()
            await call.write(payload)
            await call.read()
            latencies.append(time.perf_counter() - start)
        await call.done_writing()
        return latencies


async def raw_flow(
    address: str, payload: bytes, frames: int, window: int, where: str = ""
) -> Row:
    """Echoes with up to ``window`` frames in flight."""
    async with _channel(address) as channel:
        call = channel.stream_stream("/bench.Echo/Bidi")()
        sent: list[float] = []
        lat: list[float] = []
        credits = asyncio.Semaphore(window)

        async def writer() -> None:
            for _ in range(frames):
                await credits.acquire()
                sent.append(time.perf_counter())
                await call.write(payload)
            await call.done_writing()

        start = time.perf_counter()
        task = asyncio.ensure_future(writer())
        for i in range(frames):
            await call.read()
            lat.append(time.perf_counter() - sent[i])
            credits.release()
        await task
        rate = frames / (time.perf_counter() - start)
        return Row(f"raw grpc.aio bidi echo{where} (window {window})", lat, rate)


async def raw_big(address: str, payload: bytes, repeats: int) -> Row:
    async with _channel(address) as channel:
        unary = channel.unary_unary("/bench.Echo/Unary")
        latencies = []
        for _ in range(repeats):
            start = time.perf_counter()
            await unary(payload)
            latencies.append(time.perf_counter() - start)
        return Row("raw grpc.aio echo of an 8 MB frame", latencies, None)


# -- remotemedia ----------------------------------------------------------------------------
async def remote_stream(
    session: Any, frames: list[rm.AudioFrame], window: int, label: str = ""
) -> Row:
    node = rm.remote(Passthrough(), session, window=window)
    await node.ainitialize()
    sent: list[float] = []

    async def source() -> AsyncIterator[rm.AudioFrame]:
        for frame in frames:
            sent.append(time.perf_counter())
            yield frame

    latencies = []
    start = time.perf_counter()
    index = 0
    async for _ in node.astream(source()):
        latencies.append(time.perf_counter() - sent[index])
        index += 1
    rate = len(frames) / (time.perf_counter() - start)
    return Row(label, latencies, rate)


def timed_calls(call: Callable[[], Any], calls: int) -> list[float]:
    latencies = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - start)
    return latencies


def remote_big(session: Any, frame: rm.VideoFrame, repeats: int) -> Row:
    node = rm.remote(Passthrough(), session)
    node.initialize()
    latencies = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = node.process(frame)
        latencies.append(time.perf_counter() - start)
    assert out[0] == frame
    return Row("remote node, 8 MB video frame", latencies, None)


def start_ray_actor() -> tuple[Callable[[], Any], Callable[[], None]] | str:
    """A Ray actor's ``increment`` as a blocking call, and Ray's shutdown; or why
    there is none."""
    try:
        import ray
    except ImportError:
        return "ray not installed (pip install ray) - Ray actor row skipped"
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # A private local instance on 127.0.0.1 (never an existing cluster).
    ray.init(
        address="local",
        num_cpus=1,
        include_dashboard=False,
        logging_level="ERROR",
        _node_ip_address="127.0.0.1",
    )
    actor = ray.remote(Counter).remote()
    ray.get(actor.increment.remote())
    return (lambda: ray.get(actor.increment.remote())), ray.shutdown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500, help="audio frames per row")
    parser.add_argument("--big", type=int, default=10, help="8 MB round trips")
    parser.add_argument("--window", type=int, default=8, help="frames in flight")
    parser.add_argument(
        "--rounds", type=int, default=5, help="turns of the 1-in-flight rows"
    )
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray row")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_server:
        asyncio.run(serve_echo_forever())
        return

    n = SAMPLE_RATE * FRAME_MS // 1000
    rng = np.random.default_rng(0)
    frames = [
        rm.AudioFrame(
            rng.standard_normal((1, n)).astype(np.float32) * 0.1,
            SAMPLE_RATE,
            i * FRAME_MS / 1000,
        )
        for i in range(args.frames)
    ]
    video = rm.VideoFrame(rng.integers(0, 256, (1632, 1712, 3), np.uint8))
    payload = codec.encode_bytes(frames[0])
    big_payload = codec.encode_bytes(video)

    loop = rm.core._sync.background_loop()

    def on_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    ray_actor = "--no-ray given" if args.no_ray else start_ray_actor()
    echo_server, echo_address = on_loop(start_echo())
    echo_process, xecho_address = spawn_echo()
    server = rm.start_server(args=["--workers", "1"])
    aio_server = rm.start_server(
        args=["--workers", "1", "--direct-transport", "grpcio"]
    )
    try:
        opens = []
        for _ in range(3):
            time.sleep(1.5)  # let the warm pool refill
            start = time.perf_counter()
            rm.connect(server.address, server.token).close()
            opens.append(time.perf_counter() - start)
        open_row = Row("connect + OpenSession (warm pool)", opens, None)
        with (
            rm.connect(server.address, server.token) as session,
            rm.connect(aio_server.address, aio_server.token) as aio_direct,
            rm.connect(server.address, server.token, direct=False) as relayed,
        ):
            # One frame in flight: the four paths take turns, round after round,
            # so that a busy moment of the machine hits them all alike.
            pings: dict[str, list[float]] = {
                "raw": [],
                "xraw": [],
                "direct": [],
                "aio_direct": [],
                "relayed": [],
            }
            chunk = max(50, args.frames // max(1, args.rounds))
            counter = rm.RemoteObject(Counter(), session)
            counter.increment()
            calls: dict[str, list[float]] = {"object": [], "ray": []}
            for _ in range(args.rounds):
                calls["object"] += timed_calls(counter.increment, chunk)
                if not isinstance(ray_actor, str):
                    calls["ray"] += timed_calls(ray_actor[0], chunk)
                pings["raw"] += on_loop(raw_ping(echo_address, payload, chunk))
                pings["xraw"] += on_loop(raw_ping(xecho_address, payload, chunk))
                for key, sess in (
                    ("direct", session),
                    ("aio_direct", aio_direct),
                    ("relayed", relayed),
                ):
                    row = rm.core._sync.run_sync(remote_stream(sess, frames[:chunk], 1))
                    pings[key] += row.latencies
            ping = Row("raw grpc.aio bidi echo (1 in flight)", pings["raw"], None)
            xping = Row(
                "raw grpc.aio bidi echo, other process (1 in flight)",
                pings["xraw"],
                None,
            )
            flow = on_loop(raw_flow(echo_address, payload, args.frames, args.window))
            xflow = on_loop(
                raw_flow(
                    xecho_address, payload, args.frames, args.window, ", other process"
                )
            )
            big = on_loop(raw_big(echo_address, big_payload, args.big))
            stream_flow = rm.core._sync.run_sync(
                remote_stream(
                    session,
                    frames,
                    args.window,
                    f"remote passthrough node (window {args.window})",
                )
            )
            rows: list[tuple[Row, Row | None]] = [
                (ping, None),
                (flow, None),
                (xping, ping),
                (xflow, flow),
                (
                    Row("remote passthrough node (1 in flight)", pings["direct"], None),
                    ping,
                ),
                (stream_flow, flow),
                (
                    Row(
                        "remote passthrough node, grpc.aio worker port (1 in flight)",
                        pings["aio_direct"],
                        None,
                    ),
                    ping,
                ),
                (
                    Row(
                        "remote passthrough node via front end (1 in flight)",
                        pings["relayed"],
                        None,
                    ),
                    ping,
                ),
                (Row("RemoteObject method call", calls["object"], None), ping),
                (big, None),
                (remote_big(session, video, args.big), big),
                (open_row, None),
            ]
            if not isinstance(ray_actor, str):
                rows.append((Row("Ray actor method call", calls["ray"], None), ping))
    finally:
        if not isinstance(ray_actor, str):
            ray_actor[1]()
        server.stop()
        aio_server.stop()
        echo_process.terminate()
        echo_process.wait()
        on_loop(echo_server.stop(None))

    print(
        f"\n{args.frames} frames of {FRAME_MS} ms at {SAMPLE_RATE} Hz mono "
        f"({len(payload)} B encoded); 8 MB frame = {len(big_payload) / 2**20:.1f} MiB"
    )
    header = (
        f"{'row':60s} {'p50 ms':>8s} {'p99 ms':>8s} {'frames/s':>10s} "
        f"{'p50/raw':>8s} {'p50/xraw':>8s} {'rate/raw':>8s}"
    )
    print(header)
    print("-" * len(header))
    for row, base in rows:
        rate = f"{row.rate:10.0f}" if row.rate else f"{'':10s}"
        ratio = f"{row.p50 / base.p50:8.2f}" if base else f"{'':8s}"
        # Against the echo server in another process: what any remote call crosses.
        xbase = xping if base is ping and row is not xping else None
        xratio = f"{row.p50 / xbase.p50:8.2f}" if xbase else f"{'':8s}"
        rate_ratio = (
            f"{row.rate / base.rate:8.2f}" if base and row.rate and base.rate else ""
        )
        print(
            f"{row.name:60s} {row.p50:8.3f} {row.p99:8.3f} {rate} {ratio} {xratio} "
            f"{rate_ratio}"
        )
    print(
        "p50/raw: against the in-process echo; p50/xraw: against the echo server in "
        "another process (the process boundary every remote call crosses)"
    )
    if isinstance(ray_actor, str):
        print(f"(skipped) {ray_actor}")


if __name__ == "__main__":
    main()
