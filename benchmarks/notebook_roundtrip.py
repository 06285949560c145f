"""Round trip of a trivial remote notebook cell: ``%%remote`` against ipyparallel's ``%%px``.

Run: ``python benchmarks/notebook_roundtrip.py [--n 100]`` (well under a minute).

Both magics run on one IPython shell in this process, each against a local server on
127.0.0.1 (remotemedia's embedded server; an ipyparallel cluster with one engine),
and execute the same trivial cell ``x = 1``. The table gives the p50 and p90 over
``n`` runs after a few warm-up runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

CELL = "x = 1"


def measure(run: Callable[[], object], n: int, warmup: int = 5) -> list[float]:
    """Wall-clock seconds of ``n`` calls of ``run`` (after ``warmup`` calls)."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_remote(ip: InteractiveShell, n: int) -> list[float]:
    """``%%remote`` on the embedded remotemedia server."""
    ip.run_line_magic("load_ext", "remotemedia")
    with capture_output():
        ip.run_line_magic("remote", "start")

    def run() -> None:
        with capture_output():
            ip.run_cell_magic("remote", "", CELL)

    try:
        return measure(run, n)
    finally:
        with capture_output():
            ip.run_line_magic("remote", "stop")


def bench_px(ip: InteractiveShell, n: int) -> list[float] | None:
    """``%%px`` on a local ipyparallel cluster with one engine (None if unavailable)."""
    try:
        import ipyparallel
    except ImportError:
        print("ipyparallel is not installed: skipping %%px")
        return None
    cluster = ipyparallel.Cluster(n=1, controller_ip="127.0.0.1", log_level=40)
    client = cluster.start_and_connect_sync()
    try:
        client.wait_for_engines(1, timeout=60)
        client[:].activate()  # registers %%px on the current shell

        def run() -> None:
            with capture_output():
                ip.run_cell_magic("px", "", CELL)

        return measure(run, n)
    finally:
        client.close()
        cluster.stop_cluster_sync()


def main() -> None:
    """Runs both benchmarks and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100, help="timed runs per magic")
    args = parser.parse_args()
    ip = InteractiveShell.instance()
    rows = [("%%remote (remotemedia)", bench_remote(ip, args.n))]
    px = bench_px(ip, args.n)
    if px is not None:
        rows.append(("%%px (ipyparallel, 1 engine)", px))
    print(f"trivial cell {CELL!r}, n={args.n}, loopback")
    print(f"{'magic':32} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}")
    for label, times in rows:
        print(
            f"{label:32} {1000 * percentile(times, 0.5):8.2f} "
            f"{1000 * percentile(times, 0.9):8.2f} "
            f"{1000 * statistics.fmean(times):8.2f}"
        )


if __name__ == "__main__":
    main()
