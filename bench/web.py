"""The web archive under concurrent load: p50/p95 of search, an episode page and a trend with 1, 10 and 50 clients.

Runs the real `fonoteca serve` (one uvicorn process, as a user starts it) over the synthetic archive of
bench/synthetic.py (default 1 500 h, 750 episodes), and drives it over HTTP with httpx from this process. The same
search and trend called directly in this process, one at a time, are printed beside it: what the web layer wraps.

    python bench/web.py                    # builds the archive in a temporary folder (a few minutes)
    python bench/web.py --home /tmp/bh     # keeps (and reuses) the archive in /tmp/bh
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from synthetic import build_synthetic_archive

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive
from fonoteca.llm.server import free_port
from fonoteca.settings import Settings

CLIENTS = (1, 10, 50)
TARGET_P95_MS = 200  # with 50 clients


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return pick(0.5), pick(0.95), pick(0.99)


def archive_for(home: Path, hours: float, episodes: int) -> tuple[Settings, list[str]]:
    """The synthetic archive in `home`, built on the first run and reused after; its vocabulary's words 100–5000."""
    settings = Settings.from_env(environ={}, home=home)
    words = home / "vocabulary.txt"
    if not words.exists():
        print(f"building a {hours:g} h synthetic archive in {home} …", flush=True)
        settings, vocabulary = build_synthetic_archive(home, hours=hours, episodes=episodes)
        words.write_text("\n".join(vocabulary))
    with Fonoteca(settings) as fonoteca:
        fonoteca.update_index()
    return settings, words.read_text().split("\n")[100:5000]


def start_server(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/stats", timeout=5).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("fonoteca serve did not start")


async def load(base: str, paths: list[str], clients: int) -> list[float]:
    """Every path requested once, by `clients` concurrent clients; each request's latency in seconds."""
    queue = list(paths)
    latencies: list[float] = []

    tls = ssl.create_default_context()  # one for all: each client loading the CA store costs ~40 ms of CPU

    async def client() -> None:
        # A client of its own, with one connection, for each user: one pool shared by 50 concurrent requests spends
        # more CPU than the server does (httpcore matches requests to connections in a loop over all of them, ~20 ms
        # a request at 50), and this machine's cores are the server's too.
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits, verify=tls) as http:
            while queue:
                path = queue.pop()
                start = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def direct(fn: Callable[[str], object], inputs: list[str]) -> list[float]:
    latencies = []
    for value in inputs:
        start = time.perf_counter()
        fn(value)
        latencies.append(time.perf_counter() - start)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1500)
    parser.add_argument("--episodes", type=int, default=750)
    parser.add_argument("--home", type=Path, default=None, help="archive folder to build or reuse")
    parser.add_argument("--requests", type=int, default=200, help="requests per kind and level")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="fonoteca-web-bench-"))
    settings, vocabulary = archive_for(home, args.hours, args.episodes)
    with Archive(settings.db_path) as archive:
        episode_ids = [e.id for e in archive.timeline()]
    rng = random.Random(1)
    n = args.requests
    words = [rng.choice(vocabulary) for _ in range(60)]  # for the plain calls
    # Each level (and each warm-up) draws its own requests: the server caches rendered transcripts, and the same
    # episodes again at the next level would measure that cache, not the archive.
    kinds: dict[str, Callable[[], str]] = {
        "search": lambda: f"/api/search?q={rng.choice(vocabulary)}",
        "episode page": lambda: f"/episode/{rng.choice(episode_ids)}",
        "trend": lambda: f"/api/trend?term={rng.choice(vocabulary)}",
    }

    with Fonoteca(settings) as fonoteca:
        plain = {
            "search": percentiles(direct(lambda w: fonoteca.search(w, limit=20), words)),
            "trend": percentiles(direct(lambda w: fonoteca.trend([w]), words)),
        }

    process, base = start_server(settings)
    rows = []
    try:
        for kind, draw in kinds.items():
            asyncio.run(load(base, [draw() for _ in range(20)], 5))  # warm-up: first index open, threads' connections
            for clients in CLIENTS:
                paths = [draw() for _ in range(n)]
                started = time.perf_counter()
                latencies = asyncio.run(load(base, paths, clients))
                rate = len(latencies) / (time.perf_counter() - started)
                rows.append((kind, clients, percentiles(latencies), rate))
    finally:
        process.terminate()
        process.wait(timeout=30)

    lines = [
        f"# bench/web.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores",
        f"# synthetic archive: {args.hours:g} h, {args.episodes} episodes; one `fonoteca serve` process (uvicorn), "
        f"httpx clients in the same machine; {n} requests per kind and level, drawn afresh for each level",
        "# plain = the same search()/trend() called directly in one thread, no HTTP (what the web layer wraps)",
        "",
        f"{'request':14} {'clients':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}   plain p50/p95 ms"
        f"   target p95 (50 clients)",
    ]
    for kind, clients, (p50, p95, p99), rate in rows:
        reference = f"{plain[kind][0]:7.1f} {plain[kind][1]:7.1f}" if kind in plain else f"{'–':>7} {'–':>7}"
        verdict = f"< {TARGET_P95_MS} ms  {'yes' if p95 < TARGET_P95_MS else 'NO'}" if clients == 50 else ""
        lines.append(f"{kind:14} {clients:7d} {p50:8.1f} {p95:8.1f} {p99:8.1f} {rate:7.0f}   {reference}   {verdict}")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.hours >= 1500:
        out = Path(__file__).parent / "results" / "web.txt"
        out.write_text(report)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
