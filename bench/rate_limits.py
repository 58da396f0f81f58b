"""What counting a request against the per-address rate limits costs (web/rate_store.py), beside the plain library:
the `limits` moving window in memory (one process's counts) and in the shared diskcache folder (every server
process's), with one process counting and with two counting at once against the same folder, as `serve --workers 2`
does. Each count is a new client address, as a crowd's are, and each address is counted a second time against its
window (the limit is 2/minute: the second hit is refused), so the store's read, write and refusal are all measured.

    python bench/rate_limits.py                 # 5 000 counts per process
    python bench/rate_limits.py --counts 20000
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from fonoteca.web.rate_store import SharedWindows, wait_over

ITEM = parse("2/minute")


def count(limiter: MovingWindowRateLimiter, counts: int, prefix: str) -> list[float]:
    """Microseconds per count, for `counts` new addresses each counted twice."""
    times = []
    for n in range(counts):
        address = f"{prefix}.{n}"
        started = time.perf_counter()
        allowed = wait_over(limiter, ITEM, "search", address) is None
        refused_after = wait_over(limiter, ITEM, "search", address) is None
        times.append((time.perf_counter() - started) / 2 * 1e6)
        assert allowed and refused_after
    return times


def one_process(folder: str, counts: int, prefix: str, out: multiprocessing.Queue) -> None:
    out.put(count(MovingWindowRateLimiter(SharedWindows(Path(folder))), counts, prefix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, default=5000)
    counts = parser.parse_args().counts
    print(f"{platform.node()}: Python {sys.version.split()[0]}, {counts} addresses per process, each counted twice")
    print("Other work (several engineers' tests) ran beside this on the shared 2-core machine: compare the ratios.")
    rows = [("memory (limits' MemoryStorage), 1 process", count(MovingWindowRateLimiter(MemoryStorage()), counts, "m"))]
    with tempfile.TemporaryDirectory() as folder:
        rows.append(("shared (SharedWindows), 1 process", count(MovingWindowRateLimiter(SharedWindows(Path(folder))),
                                                               counts, "s")))  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        spawn = multiprocessing.get_context("spawn")  # fresh processes, as uvicorn's workers are
        out: multiprocessing.Queue = spawn.Queue()
        workers = [spawn.Process(target=one_process, args=(folder, counts, f"p{n}", out)) for n in range(2)]
        for worker in workers:
            worker.start()
        both = out.get() + out.get()
        for worker in workers:
            worker.join()
        rows.append(("shared (SharedWindows), 2 processes at once", both))
    memory = statistics.median(rows[0][1])
    print(f"{'store':48} {'p50 µs':>8} {'p99 µs':>8} {'× memory (p50)':>15}")
    for name, times in rows:
        p50, p99 = statistics.median(times), statistics.quantiles(times, n=100)[98]
        print(f"{name:48} {p50:8.1f} {p99:8.1f} {p50 / memory:15.0f}")


if __name__ == "__main__":
    main()
