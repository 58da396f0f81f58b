"""Search and trend latency on a synthetic archive the size of a long-running show, against plain SQLite FTS5.

Builds the archive of bench/synthetic.py (default 1 500 h, ~13 M words, 750 episodes over 6 years; --hours 15000 is
7 500 episodes), indexes it with fonoteca (tantivy + per-episode word counts) and, as references in the same run, with
raw tantivy (the same segment texts, its default tokenizer, 2 writer threads: indexing is reported as a ratio to it)
and with an SQLite FTS5 table over the same segments (unicode61, diacritics removed, BM25 top 20). Each query kind
runs on many different terms; p50/p95/p99 in ms.
Like `fonoteca serve`, the process freezes what it holds (gc.freeze) once the archive is built and indexed.
The graph's rows: a trend of 10 words, one word split by show (three more shows, copies of synthetic episodes, are
added after every other row is measured) and the front page's time to first byte with the graph of two words (its
points are in the page) from a real `fonoteca serve`.
The meaning rows, last (an embedded archive makes a plain search hybrid): the packaged model embeds the passages of
--embed-sample episodes (throughput, and the whole archive's time scaled from it: embedding 1 500 h takes hours), every
other episode gets vectors near those and near --real passages of real Spanish speech (../shared/data) (a real
vector plus noise: clustered like real ones), the vector index is built
(fonoteca.search.ann), then meaning and hybrid queries run over all of it, with recall@10 against exact brute force
over the same stored vectors (whole archive, and one year), brute force's own time, and new searching processes'
first query and memory (one, then two at once: the mapped index's pages are shared); the int8 storage's cost is the
top-10 overlap with float32 on the sample.
Writes bench/results/search.txt.
--indexing-only measures indexing alone (bench/results/search-indexing.txt): fonoteca's update_index in a process of
its own on a copy of the archive (and, with --before, another fonoteca's on another copy, in the same run), beside raw
tantivy and the floor (tantivy with fonoteca's schema), then where fonoteca's CPU seconds go, each of its Python steps
timed alone, and raw tantivy again at the end.

    python bench/search.py [--hours 1500] [--queries 60] [--embed-sample 6] [--embeddings-model NAME]
    python bench/search.py --indexing-only [--hours 1000] [--before OTHER/src]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np
import tantivy
from embedding import CORPUS, real_passages
from synthetic import FUNCTION_WORDS, add_vector_index_option, build_synthetic_archive
from web import start_server

from fonoteca.app import Fonoteca
from fonoteca.archive import Archive, Segment
from fonoteca.archive.vectors import EpisodeVectors
from fonoteca.meaning.embed import episode_vectors, spans_of
from fonoteca.meaning.passages import passages
from fonoteca.search import build_query
from fonoteca.search.index import (
    COUNT_ROWS,
    _schema,
    date_bound,
    episode_counts,
    episode_documents,
    epoch,
    indexed_pairs,
    pair_tokens,
    register_analyzers,
)
from fonoteca.search.query import parse
from fonoteca.settings import Settings
from fonoteca.text import fold

TARGET_SEARCH_MS, TARGET_TREND_MS, TARGET_INDEX_RATIO = 20, 50, 4
TARGET_GRAPH_MS, TARGET_PAGE_MS = 100, 200  # a 10-word or split-by-show trend; the front page with its graph
TARGET_HYBRID_MS = 50
TARGET_RECALL, TARGET_RSS_MB, TARGET_FIRST_MS = 0.95, 600, 200
NOISE = 0.5  # norm of the noise that makes each synthetic vector from a real one
FTS_PER_EPISODE = "SELECT episode_id, COUNT(*) FROM bench_fts WHERE bench_fts MATCH ? GROUP BY episode_id"
FTS_PER_SHOW = (
    "SELECT e.show_id, f.episode_id, COUNT(*) FROM bench_fts f JOIN episodes e ON e.id = f.episode_id "
    "WHERE bench_fts MATCH ? GROUP BY f.episode_id"
)


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return pick(0.50), pick(0.95), pick(0.99)


def timed(fn: Callable[[str], object], inputs: list[str]) -> list[float]:
    fn(inputs[0])  # warm-up
    out = []
    for item in inputs:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1000)
    return out


def build_fts(db_path: Path) -> float:
    start = time.perf_counter()
    with sqlite3.connect(db_path) as db:
        db.execute("DROP TABLE IF EXISTS bench_fts")
        db.execute("CREATE VIRTUAL TABLE bench_fts USING fts5(text, episode_id UNINDEXED, start UNINDEXED, "
                   "tokenize = 'unicode61 remove_diacritics 2')")  # fmt: skip
        db.execute("INSERT INTO bench_fts (text, episode_id, start) SELECT text, episode_id, start FROM segments")
    return time.perf_counter() - start


def build_raw_tantivy(db_path: Path, folder: Path, *, fonoteca_schema: bool = False) -> tuple[float, float]:
    """The engine alone: tantivy's Python binding (2 writer threads, as fonoteca) indexing the same segment texts, read
    from the database as they are indexed. Plain: its default tokenizer into one stored text field. With fonoteca's
    schema (the floor of what fonoteca could reach with its features): the same fields, the word pairs field
    included (its common grams), filled with as little Python as the binding allows (words cut at spaces, pairs
    joined, no folding, no counts). Returns (wall seconds, CPU seconds of the process, all its threads)."""
    builder = tantivy.SchemaBuilder()
    if fonoteca_schema:
        schema = _schema()
    else:
        builder.add_text_field("text", stored=True)
        schema = builder.build()
    folder.mkdir()
    index = tantivy.Index(schema, path=str(folder))
    register_analyzers(index)
    start, cpu = time.perf_counter(), time.process_time()
    writer = index.writer(256 * 1024 * 1024, 2)
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT text, episode_id, idx, start, end FROM segments")
        for text, episode_id, idx, seg_start, seg_end in rows:
            if not fonoteca_schema:
                writer.add_document(tantivy.Document(text=text))
                continue
            said = text.lower().split()
            doc = tantivy.Document()
            doc.add_text("text", " ".join(said))
            doc.add_text("pairs", indexed_pairs(said, pair_tokens(said)))
            doc.add_bytes("body", text.encode())
            doc.add_text("episode_id", episode_id)
            doc.add_integer("show_id", 1)
            doc.add_integer("idx", idx)
            doc.add_float("start", seg_start)
            doc.add_float("end", seg_end)
            doc.add_integer("published", 0)
            doc.add_integer("words", len(said))
            doc.add_float("seconds", seg_end - seg_start)
            writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    return time.perf_counter() - start, time.process_time() - cpu


ONE_INDEXING = """
import sys, time
from pathlib import Path
from fonoteca.app import Fonoteca
from fonoteca.settings import Settings
app = Fonoteca(Settings.from_env(environ={}, home=Path(sys.argv[1])))
wall, cpu = time.perf_counter(), time.process_time()
app.update_index()
print(time.perf_counter() - wall, time.process_time() - cpu)
app.close()
"""


def index_copy(settings: Settings, source: str) -> tuple[float, float]:
    """update_index of the fonoteca in `source` (a src folder) on a copy of the archive, in a process of its own:
    (wall seconds, CPU seconds of the process, all its threads)."""
    home = settings.home.with_name(settings.home.name + "-copy")
    shutil.copytree(settings.home, home)
    try:
        out = subprocess.run([sys.executable, "-c", ONE_INDEXING, str(home)], env={**os.environ, "PYTHONPATH": source},
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    finally:
        shutil.rmtree(home)
    wall, cpu = map(float, out.split())
    return wall, cpu


def indexing_steps(settings: Settings) -> dict[str, float]:
    """fonoteca's own steps of indexing, each alone over the whole archive (a copy), in CPU seconds of this thread:
    reading the segments, cutting and counting their words (fonoteca.text.words, the episode's counts: what
    count_words does), making the tantivy documents besides (episode_documents, minus the counting), storing the
    counts (COUNT_ROWS rows a store, as update_index does, but waited for). What update_index spends beyond them is
    tantivy's own indexing (its writer threads, commits and merges) and the documents' hand-over."""
    home = settings.home.with_name(settings.home.name + "-steps")
    shutil.copytree(settings.home, home)
    archive = Archive(home / settings.db_path.name)
    try:
        pending = archive.episodes_to_count()
        cpu = time.process_time()
        segments = [list(archive.iter_segments(episode_id, words=False)) for episode_id, _ in pending]
        steps = {"reading the segments": time.process_time() - cpu}
        cpu = time.process_time()
        counts = [episode_counts(episode) for episode in segments]
        steps["cutting and counting words"] = time.process_time() - cpu
        cpu = time.process_time()
        for episode in segments:
            documents, _ = episode_documents(episode, "e", 1, 0)
            for _ in documents:
                pass
        steps["the tantivy documents"] = time.process_time() - cpu - steps["cutting and counting words"]
        cpu = time.process_time()
        batch: list[tuple[str, int, dict[str, int]]] = []
        for (episode_id, rev), counted in zip(pending, counts, strict=True):
            batch.append((episode_id, rev, dict(counted)))
            if sum(len(c) for _, _, c in batch) >= COUNT_ROWS:
                archive.store_word_counts_many(batch)
                batch = []
        archive.store_word_counts_many(batch)
        steps["storing the counts"] = time.process_time() - cpu
    finally:
        archive.close()
        shutil.rmtree(home)
    return steps


def fts_query(text: str, kind: str) -> str:
    if kind == "phrase":
        return '"' + text + '"'
    if kind == "prefix":
        return text + "*"
    return " AND ".join(f'"{w}"' for w in text.split())


def add_shows(fonoteca: Fonoteca, fts: sqlite3.Connection | None, *, shows: int, episodes: int) -> None:
    """More shows for the split-by-show row: each has `episodes` of the synthetic show's episodes again (their text
    and dates), added to the FTS5 reference too (when there is one)."""
    archive = fonoteca.archive
    originals = archive.timeline()
    copies = []
    for number in range(1, shows + 1):
        show, _ = archive.add_show(title=f"Otro programa {number}", source=f"synthetic://show{number}",
                                   source_kind="feed")  # fmt: skip
        for n, original in enumerate(originals[number :: max(1, len(originals) // episodes)][:episodes]):
            episode, _ = archive.upsert_episode(
                show, guid=f"copy{n}", title=f"Copia {n + 1}", kind="audio", published=original.published,
                duration=original.duration, status="done", source="transcribed", language="es",
            )  # fmt: skip
            segments = [Segment(s.start, s.end, s.text) for s in archive.segments(original.id, words=False)]
            archive.append_segments(episode.id, segments)
            copies.append(episode.id)
    if fts is None:
        return
    with fts:  # one transaction, once the archive's writes are done (it would lock them out)
        for episode_id in copies:
            fts.execute("INSERT INTO bench_fts (text, episode_id, start) SELECT text, episode_id, start FROM segments "
                        "WHERE episode_id = ?", (episode_id,))  # fmt: skip


def front_page_ttfb(settings: Settings, words: list[str]) -> list[float]:
    """Time to the first byte of the front page drawing the graph of `words` (its points are in the page), from a
    real `fonoteca serve`."""
    process, base = start_server(settings)
    try:
        with httpx.Client(base_url=base, timeout=60) as http:

            def first_byte(word: str) -> None:
                with http.stream("GET", "/", params={"word": word}) as response:
                    response.raise_for_status()
                    next(response.iter_raw())

            return timed(first_byte, words)
    finally:
        process.terminate()
        process.wait()


def corpus_vectors(fonoteca: Fonoteca, count: int) -> tuple[np.ndarray, str]:
    """The vectors of `count` passages of real Spanish speech (the Venezolanos transcripts of ../shared/data, as
    bench/embedding.py cuts them), embedded with the archive's model, and a line saying what they are."""
    embedder = fonoteca.embedder
    if not count or not CORPUS.exists():
        reason = "--real 0" if not count else f"no transcripts at {CORPUS} (../shared/data, see its MANIFEST.md)"
        return np.zeros((0, embedder.dim), np.float32), f"no real corpus passages as centres ({reason})"
    texts = real_passages(count, per_episode=None)
    started = time.perf_counter()
    vectors = np.concatenate([embedder.embed(texts[i : i + 64], query=False) for i in range(0, len(texts), 64)])
    seconds = time.perf_counter() - started
    return vectors, (
        f"centres: {len(texts):,} passages of real Spanish speech (venezolanos_es, ../shared/data) embedded in "
        f"{seconds:.0f} s ({len(texts) / seconds:.0f} passages/s), besides the sample's own"
    )


def embed_archive(fonoteca: Fonoteca, sample: int, real: int) -> tuple[list[str], float, int, int, np.ndarray]:
    """Embed the passages of `sample` episodes for real, then give every other episode vectors near those and near
    `real` passages of a real corpus (each a real vector plus noise of norm NOISE: clustered as real passages are,
    none a copy of another; the more real centres, the fewer near-ties among each one's copies, which an archive of
    real passages does not have). Returns the lines to report, passages per second, the sample's and the archive's
    passages, and the sample's float32 vectors (to measure what int8 storage costs)."""
    archive, embedder = fonoteca.archive, fonoteca.embedder
    pending = archive.vectors.pending(embedder.name, embedder.dim)
    embedded_sample: list[np.ndarray] = []
    rng = np.random.default_rng(5)
    started = time.perf_counter()
    for episode_id, rev in pending[:sample]:
        embedded = episode_vectors(archive, embedder, episode_id, rev)
        archive.vectors.save_many(embedder.name, embedder.dim, [embedded])
        embedded_sample.append(embedded.vectors)
    seconds = time.perf_counter() - started
    sampled = np.concatenate(embedded_sample)
    rate = len(sampled) / seconds
    total = len(sampled)
    corpus, corpus_line = corpus_vectors(fonoteca, real)
    centres = np.concatenate([sampled, corpus])
    batch: list[EpisodeVectors] = []
    for episode_id, rev in pending[sample:]:
        cut = passages(archive.segments(episode_id, words=False))
        # Clustered like real ones: each a real passage's vector moved a little (not a copy, which would make ties).
        near = centres[rng.integers(0, len(centres), len(cut))]
        reused = near + rng.standard_normal(near.shape).astype(np.float32) * (NOISE / np.sqrt(embedder.dim))
        reused /= np.linalg.norm(reused, axis=1, keepdims=True)
        batch.append(EpisodeVectors(episode_id, rev, spans_of(cut), reused))
        total += len(cut)
        if len(batch) == 50:
            archive.vectors.save_many(embedder.name, embedder.dim, batch)
            batch = []
    archive.vectors.save_many(embedder.name, embedder.dim, batch)
    stored_passages, stored_bytes = archive.vectors.size(embedder.name)
    lines = [
        f"embedding ({embedder.name}, {embedder.dim} dims): {rate:.1f} passages/s measured on {len(sampled):,} "
        f"passages of {sample} episodes ({os.cpu_count()} cores); the whole archive, {total:,} passages, would take "
        f"{total / rate / 3600:.1f} h at that rate (scaled from the sample, not measured)",
        f"synthetic vectors: each of the other episodes' passages is one of {len(centres):,} real vectors moved by "
        f"noise of norm {NOISE} ({corpus_line})",
        f"vectors: {stored_bytes / 2**20:.0f} MB stored for {stored_passages:,} passages (int8 + passage times); "
        f"{stored_passages * embedder.dim * 4 / 2**20:.0f} MB of float32 in the memory of a process that searches",
    ]
    return lines, rate, len(sampled), total, sampled


def int8_overlap(fonoteca: Fonoteca, sampled: np.ndarray, queries: list[str]) -> float:
    """Mean share of the float32 top 10 that the int8-stored vectors also rank in their top 10, on the real vectors."""
    embedder = fonoteca.embedder
    scale = np.abs(sampled).max(axis=1, keepdims=True)
    stored = np.round(sampled / scale * 127).astype(np.int8).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    overlaps = []
    for query in queries:
        q = embedder.embed([query], query=True)[0]
        exact, quantised = np.argsort(-(sampled @ q))[:10], np.argsort(-(stored @ q))[:10]
        overlaps.append(len(set(exact) & set(quantised)) / 10)
    return float(np.mean(overlaps))


def recall_against_exact(fonoteca: Fonoteca, questions: list[str], rows: list) -> list[str]:
    """recall@10 of search by meaning against exact brute force over the very same stored vectors (the whole
    archive, and one year of it: a filter the graph serves), and brute force's own time as a row beside ours."""
    embedder, archive = fonoteca.embedder, fonoteca.archive
    matrix = archive.vectors.load(embedder.name, embedder.dim)  # float32: what every process held before the index
    epochs = np.array([epoch(p) for p in matrix.episode_published], np.int64)
    year = (date_bound("2022", end=False), date_bound("2022", end=True))
    in_year = np.flatnonzero(((epochs >= year[0]) & (epochs <= year[1]))[matrix.row_episode])
    vectors = {q: embedder.embed([q], query=True)[0] for q in questions}
    scopes = [("whole archive", None, {}),
              ("one year (2022)", in_year, {"date_from": "2022", "date_to": "2022"})]  # fmt: skip
    lines = []
    for label, subset, dates in scopes:
        recalls = []
        for question in questions:
            if subset is None:
                top = np.argsort(-(matrix.vectors @ vectors[question]))[:10]
            else:
                top = subset[np.argsort(-(matrix.vectors[subset] @ vectors[question]))[:10]]
            exact = {(matrix.episode_ids[matrix.row_episode[r]], round(float(matrix.spans[r][0]), 2)) for r in top}
            found = fonoteca.search(question, mode="meaning", limit=10, **dates).hits
            recalls.append(len(exact & {(h.episode_id, round(h.start, 2)) for h in found}) / 10)
        ok = "yes" if np.mean(recalls) >= TARGET_RECALL else "NO"
        lines.append(f"meaning recall@10 against exact brute force, {label}: {np.mean(recalls):.3f} (min "
                     f"{min(recalls):.1f}; target >= {TARGET_RECALL})   {ok}")  # fmt: skip
    exact_ms = timed(lambda q: np.argpartition(-(matrix.vectors @ vectors[q]), 10)[:10], questions)
    rows.append(("exact brute force (ref.)", percentiles(exact_ms), None, TARGET_HYBRID_MS))
    lines.append(f"exact brute force holds {matrix.vectors.nbytes / 2**20:.0f} MB of float32 vectors in each process "
                 "that searches (the row below: its product and top 10 alone, no page)")  # fmt: skip
    return lines


_SEARCHER = """
import gc, sys, time
from pathlib import Path
from fonoteca.app import Fonoteca
from fonoteca.archive.models import epoch
from fonoteca.search.index import date_bound
from fonoteca.settings import Settings
questions = sys.argv[3:]
with Fonoteca(Settings.from_env(environ={"FONOTECA_VECTOR_INDEX": sys.argv[2]}, home=Path(sys.argv[1]))) as app:
    # The model's load and the modules' import are not the index's cost: a web worker has both before any request.
    # faiss is among the modules (fonoteca.search.ann imports it when an index first needs it: ~65 ms).
    app.embedder.embed(["calentando el modelo"], query=True)
    import faiss  # noqa: F401
    app.search(questions[0], mode="keyword")
    gc.collect()  # then frozen, as `fonoteca serve` does once started (fonoteca/web/__init__.py)
    gc.freeze()
    start = time.perf_counter()
    app.search(questions[0], mode="meaning")
    first = (time.perf_counter() - start) * 1000
    for question in questions:
        app.search(question, mode="meaning")
    rss = pss = index_rss = index_pss = 0
    in_index = False
    for line in open("/proc/self/smaps"):
        head = line.split()
        if not head[0].endswith(":"):  # a mapping's first line: its address range, then its file if any
            in_index = head[-1].endswith((".vectors.npy", ".ivf"))
        elif head[0] in ("Rss:", "Pss:"):
            kb = int(head[1])
            rss, pss = (rss + kb, pss) if head[0] == "Rss:" else (rss, pss + kb)
            if in_index:
                index_rss, index_pss = (index_rss + kb, index_pss) if head[0] == "Rss:" else (index_rss, index_pss + kb)
    print(first, rss, pss, index_rss, index_pss, flush=True)
    sys.stdin.read()
"""


def searching_processes(settings: Settings, questions: list[str]) -> list[str]:
    """New processes that search by meaning (as web workers do): the first query's time, and the memory of one and
    of two at once (RSS counts the shared index in each; PSS splits it between them)."""
    figures = []
    for count in (1, 2):
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _SEARCHER, str(settings.home), settings.vector_index, *questions[:20]],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(count)
        ]
        answers = [[float(v) for v in child.stdout.readline().split()] for child in children]
        for child in children:
            child.communicate("")
        figures.append(answers)
    (one,), two = figures
    first_ok = "yes" if one[0] < TARGET_FIRST_MS else "NO"
    rss_ok = "yes" if one[1] / 1024 < TARGET_RSS_MB else "NO"
    index_mb = sum(f.stat().st_size for f in settings.vector_index_dir.rglob("*.*") if f.suffix in (".npy", ".ivf"))
    index_mb /= 2**20
    grew = (sum(a[4] for a in two) - one[4]) / 1024  # the index's pages (PSS): what the second process adds
    share_ok = "yes" if grew < index_mb / 2 else "NO"
    return [
        f"first meaning query of a new process (model loaded, modules imported, faiss's too): {one[0]:.0f} ms "
        f"(target < {TARGET_FIRST_MS} ms)   {first_ok}",
        f"searching process after 20 meaning queries: RSS {one[1] / 1024:.0f} MB (target < {TARGET_RSS_MB} MB), "
        f"of which the mapped index {one[3] / 1024:.0f} MB; PSS {one[2] / 1024:.0f} MB   {rss_ok}",
        f"two searching processes at once: RSS {two[0][1] / 1024:.0f} + {two[1][1] / 1024:.0f} MB (each loads its own"
        f" embeddings model); the mapped index's PSS {one[4] / 1024:.0f} MB for one process, "
        f"{sum(a[4] for a in two) / 1024:.0f} MB for both: the second adds {grew:.0f} MB of a {index_mb:.0f} MB "
        f"index file (target < half)   {share_ok}",
    ]


class References(NamedTuple):
    """What fonoteca's indexing is measured against, on the same archive in the same run: (wall s, CPU s) each."""

    raw: tuple[float, float]  # raw tantivy, its default tokenizer
    floor: tuple[float, float]  # raw tantivy with fonoteca's schema
    fts_seconds: float | None  # None: the FTS5 reference was not built (--no-fts5)


def index_references(settings: Settings, fts5: bool = True) -> References:
    fts_seconds = build_fts(settings.db_path) if fts5 else None
    raw_folder, floor_folder = settings.home / "raw-tantivy", settings.home / "raw-tantivy-fonoteca-schema"
    raw = build_raw_tantivy(settings.db_path, raw_folder)
    floor = build_raw_tantivy(settings.db_path, floor_folder, fonoteca_schema=True)
    shutil.rmtree(raw_folder)
    shutil.rmtree(floor_folder)
    return References(raw, floor, fts_seconds)


def indexing_report(label: str, indexed: tuple[float, float], references: References) -> list[str]:
    (seconds, cpu), (raw_seconds, raw_cpu), (floor_seconds, floor_cpu) = indexed, references.raw, references.floor
    return [
        f"indexing: {label} {seconds:.1f} s = {seconds / raw_seconds:.1f}x raw tantivy's "
        f"{raw_seconds:.1f} s on the same texts (target <= {TARGET_INDEX_RATIO:g}x)   "
        f"{'yes' if seconds / raw_seconds <= TARGET_INDEX_RATIO else 'NO'}"
        + (f"   FTS5 {references.fts_seconds:.1f} s" if references.fts_seconds is not None else ""),
        f"  the floor, raw tantivy with fonoteca's schema (word pairs field included): {floor_seconds:.1f} s = "
        f"{floor_seconds / raw_seconds:.1f}x raw tantivy; {label} = {seconds / floor_seconds:.1f}x the floor",
        f"  CPU seconds (all threads; steadier than wall time on a shared machine): {label} {cpu:.1f}, raw "
        f"tantivy {raw_cpu:.1f} ({cpu / raw_cpu:.1f}x), the floor {floor_cpu:.1f} ({cpu / floor_cpu:.1f}x)",
    ]


def indexing_only(settings: Settings, args: argparse.Namespace, references: References) -> None:
    """Indexing alone, each fonoteca in a process of its own on a copy of the archive (--before first), then where
    this fonoteca's CPU seconds go, then raw tantivy again (how far the load moved meanwhile)."""
    lines = []
    if args.before:
        lines += indexing_report("fonoteca before", index_copy(settings, args.before), references)
    now = index_copy(settings, str(Path(__file__).resolve().parents[1] / "src"))
    lines += indexing_report("fonoteca now" if args.before else "fonoteca", now, references)
    steps = indexing_steps(settings)
    rest = now[1] - sum(steps.values())
    lines.append(
        "  where its CPU seconds go (each Python step alone, one thread; the rest is tantivy's writer threads, "
        "commits and merges, and the documents' hand-over): "
        + ", ".join(f"{step} {seconds:.1f}" for step, seconds in steps.items())
        + f", the rest {rest:.1f} (the floor: {references.floor[1]:.1f}; raw tantivy: {references.raw[1]:.1f})"
    )
    raw_folder = settings.home / "raw-tantivy"
    again = build_raw_tantivy(settings.db_path, raw_folder)
    shutil.rmtree(raw_folder)
    lines.append(f"  raw tantivy again, at the end: {again[0]:.1f} s wall, {again[1]:.1f} s CPU")
    segments_total = sqlite3.connect(settings.db_path).execute("SELECT COUNT(*) FROM segments").fetchone()[0]
    report = "\n".join([
        f"# bench/search.py --indexing-only{' --before ' + args.before if args.before else ''} — "
        f"{time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        f"# synthetic archive: {args.hours:g} h, {args.episodes} episodes, {segments_total:,} segments",
        *lines,
    ]) + "\n"  # fmt: skip
    print(report)
    (Path(__file__).parent / "results" / "search-indexing.txt").write_text(report)


def keep_run(out: Path, report: str) -> Path:
    """Write `report` into `out` in place of the run of the same size (its first line names --hours; none is the
    default 1,500), beside runs of other sizes, smallest first: the file holds the 1,500 h and 15,000 h runs that the
    README's growth table compares."""

    def hours(run: str) -> float:
        flags = run.split(" — ", 1)[0].split()
        return float(flags[flags.index("--hours") + 1]) if "--hours" in flags else 1500.0

    runs = {}
    if out.exists():
        runs = {hours(run): "# bench/search.py" + run for run in out.read_text().split("# bench/search.py")[1:]}
    runs[hours(report)] = report
    out.write_text("\n".join(runs[size].rstrip("\n") + "\n" for size in sorted(runs)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1500)
    parser.add_argument("--episodes", type=int, default=0, help="default: one per two hours")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--embed-sample", type=int, default=6, help="episodes embedded for real (the rest reuse them)")
    parser.add_argument("--embeddings-model", default="", help="a packaged model (default: the settings' default)")
    parser.add_argument(
        "--real",
        type=int,
        default=12000,
        help="real corpus passages embedded as centres of the synthetic vectors (needs ../shared/data)",
    )
    add_vector_index_option(parser)
    parser.add_argument(
        "--no-fts5",
        dest="fts5",
        action="store_false",
        help="no SQLite FTS5 reference (at 15,000 h its common-word queries take seconds each)",
    )
    parser.add_argument("--indexing-only", action="store_true",
                        help="measure indexing alone (writes bench/results/search-indexing.txt)")  # fmt: skip
    parser.add_argument("--before", default="", help="with --indexing-only: another fonoteca's src folder, indexing a "
                        "copy of the same archive in the same run (`git archive REV src | tar -x -C DIR`)")  # fmt: skip
    parser.add_argument("--keep", action="store_true",
                        help="keep the synthetic archive's folder (to profile one kind on it afterwards)")  # fmt: skip
    args = parser.parse_args()

    args.episodes = args.episodes or max(1, round(args.hours / 2))
    home = Path(tempfile.mkdtemp(prefix="fonoteca-search-bench-"))
    load_before = os.getloadavg()[0]
    settings, vocabulary = build_synthetic_archive(home, hours=args.hours, episodes=args.episodes)
    settings = settings.replace(vector_index=args.vector_index)
    references = index_references(settings, fts5=args.fts5)
    if args.indexing_only:
        indexing_only(settings, args, references)
        shutil.rmtree(home, ignore_errors=True)
        return
    fonoteca = Fonoteca(settings)
    start, cpu = time.perf_counter(), time.process_time()
    fonoteca.update_index()
    indexing_lines = indexing_report("fonoteca", (time.perf_counter() - start, time.process_time() - cpu), references)

    # As `fonoteca serve` does at start (fonoteca/web/__init__.py): what is loaded by now stays, and a full garbage
    # collection walking it again (60-70 ms here) would land in every few trend queries of this process.
    gc.collect()
    gc.freeze()
    rng = random.Random(1)
    n = args.queries
    with sqlite3.connect(settings.db_path) as db:
        sample = [r[0] for r in db.execute("SELECT text FROM segments ORDER BY random() LIMIT 5000")]
        words_total = db.execute(
            "SELECT SUM(length(text) - length(replace(text, ' ', '')) + 1) FROM segments"
        ).fetchone()[0]
        segments_total = db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
    common = set(FUNCTION_WORDS[:30])
    pairs = [(a, b) for text in sample for a, b in zip(text.lower().split(), text.lower().split()[1:], strict=False)]
    common_phrases = [f"{a} {b}".strip(".") for a, b in pairs if a in common and b.strip(".") in common]
    any_phrases = [f"{a} {b}".strip(".") for a, b in pairs]
    mid = vocabulary[200:5000]
    kinds: dict[str, list[str]] = {
        "single word": rng.sample(mid, n),
        "two words": [f"{a} {b}" for a, b in zip(rng.sample(mid, n), rng.sample(mid, n), strict=False)],
        "phrase": rng.sample(any_phrases, n),
        "phrase of common words": rng.sample(common_phrases, n),
        "prefix": [w[:4] for w in rng.sample(mid, n)],
        "rare word": rng.sample(vocabulary[30_000:], n),
        "common word": rng.sample(FUNCTION_WORDS[:40], min(n, 40)),
    }

    rows = []
    fts = sqlite3.connect(settings.db_path) if args.fts5 else None
    # The engine alone on fonoteca's own index: the very query fonoteca builds, its top 20 counted and read.
    engine: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {}
    searcher = fonoteca.index.searcher()

    def raw_query(text: str, newest: bool = False) -> list:
        order = {"order_by_field": "published", "order": tantivy.Order.Desc} if newest else {}
        found = searcher.search(build_query(fonoteca.index.schema, parse(text)), 20, count=True, **order)
        return [searcher.doc(address) for _score, address in found.hits]

    for kind, terms in kinds.items():
        as_query = {"phrase": lambda t: f'"{t}"', "phrase of common words": lambda t: f'"{t}"',
                    "prefix": lambda t: t + "*"}.get(kind, lambda t: t)  # fmt: skip
        ours = timed(lambda t, q=as_query: fonoteca.search(q(t), limit=20), terms)
        fts_kind = "phrase" if kind.startswith("phrase") else "prefix" if kind == "prefix" else "words"
        theirs = fts and timed(
            lambda t, k=fts_kind: fts.execute(
                "SELECT episode_id, start, snippet(bench_fts, 0, '<b>', '</b>', '…', 12) FROM bench_fts "
                "WHERE bench_fts MATCH ? ORDER BY bm25(bench_fts) LIMIT 20",
                (fts_query(fold(t), k),),
            ).fetchall(),
            terms,
        )
        rows.append((kind, percentiles(ours), theirs and percentiles(theirs), TARGET_SEARCH_MS))
        engine[kind] = (percentiles(ours), percentiles(timed(lambda t, q=as_query: raw_query(q(t)), terms)))
    common = kinds["common word"]
    newest = timed(lambda t: fonoteca.search(t, limit=20, order="date"), common)
    rows.append(("common word, newest first", percentiles(newest), None, TARGET_SEARCH_MS))
    engine["common word, newest first"] = (
        percentiles(newest),
        percentiles(timed(lambda t: raw_query(t, True), common)),
    )

    def trend_row(kind: str, terms: list[str], fts_match: Callable[[str], str]) -> tuple:
        ours = timed(lambda t: fonoteca.trend([t]), terms)
        theirs = fts and timed(lambda t: fts.execute(FTS_PER_EPISODE, (fts_match(t),)).fetchall(), terms)
        return kind, percentiles(ours), theirs and percentiles(theirs), TARGET_TREND_MS

    trend_words = rng.sample(mid, 20) + FUNCTION_WORDS[:10]
    rows.append(trend_row("trend of one word", trend_words, lambda t: f'"{t}"'))
    trend_phrases = rng.sample(any_phrases, 20) + rng.sample(common_phrases, 10)
    rows.append(trend_row("trend of a phrase", trend_phrases, lambda t: fts_query(t, "phrase")))
    # Longer phrases are counted by reading the segments that have them: measured apart, with common words too.
    triples = [" ".join(t.lower().split()[i : i + 3]).strip(".") for t in sample[:600] for i in (0, 5, 10)]
    trend_triples = rng.sample([t for t in triples if len(t.split()) == 3], 30)
    rows.append(trend_row("trend of 3-word phrase", trend_triples, lambda t: fts_query(t, "phrase")))

    index_size = sum(f.stat().st_size for f in settings.index_dir.rglob("*") if f.is_file())
    db_size = settings.db_path.stat().st_size + sum(
        p.stat().st_size for p in settings.db_path.parent.glob("fonoteca.db-*")
    )

    # The graph: ten words at once; one word split by show (three more shows are added for it, after the sizes and
    # every row above were measured on the synthetic archive alone); the front page drawing it, over HTTP.
    tens = [",".join(rng.sample(mid, 9) + [rng.choice(FUNCTION_WORDS[:10])]) for _ in range(n)]
    ours = timed(lambda t: fonoteca.trend(t.split(",")), tens)
    theirs = fts and timed(lambda t: [fts.execute(FTS_PER_EPISODE, (f'"{w}"',)).fetchall() for w in t.split(",")], tens)
    rows.append(("trend of 10 words", percentiles(ours), theirs and percentiles(theirs), TARGET_GRAPH_MS))
    add_shows(fonoteca, fts, shows=3, episodes=max(1, args.episodes // 40))
    fonoteca.update_index()
    split_words = rng.sample(mid, 20) + FUNCTION_WORDS[:10]
    ours = timed(lambda t: fonoteca.trend([t], split_by="show"), split_words)
    theirs = fts and timed(lambda t: fts.execute(FTS_PER_SHOW, (f'"{t}"',)).fetchall(), split_words)
    rows.append(("trend split by 4 shows", percentiles(ours), theirs and percentiles(theirs), TARGET_GRAPH_MS))
    pairs_of_words = [f"{a}, {b}" for a, b in zip(rng.sample(mid, n), rng.sample(mid, n), strict=True)]
    rows.append(("front page + graph TTFB", percentiles(front_page_ttfb(settings, pairs_of_words)), None,
                 TARGET_PAGE_MS))  # fmt: skip

    # Search by meaning, last: once the archive is embedded, a search without a mode is hybrid.
    fonoteca.settings.embeddings_model = args.embeddings_model
    meaning_lines, _rate, _sampled_count, _total, sampled = embed_archive(fonoteca, args.embed_sample, args.real)
    questions = [" ".join(rng.sample(mid, 6)) for _ in range(n)]
    embedder = fonoteca.embedder
    start = time.perf_counter()
    fonoteca.vectors.update(fonoteca.archive, embedder.name, embedder.dim)
    ann_seconds = time.perf_counter() - start
    ann_bytes = sum(f.stat().st_size for f in settings.vector_index_dir.rglob("*") if f.is_file())
    lists = any(settings.vector_index_dir.rglob("*.ivf"))
    how = "with faiss's inverted file (IVF)" if lists else "exact usearch int8 scan, no lists"
    meaning_lines.append(f"vector index (int8, memory-mapped, {how}): built in {ann_seconds:.1f} s, "
                         f"{ann_bytes / 2**20:.0f} MB on disk; int8 storage keeps "
                         f"{int8_overlap(fonoteca, sampled, questions):.0%} of the float32 top 10")  # fmt: skip
    meaning_lines += recall_against_exact(fonoteca, questions, rows)
    meaning_lines += searching_processes(settings, questions)
    embedder = fonoteca.embedder
    rows.append(("question embedding", percentiles(timed(lambda t: embedder.embed([t], query=True), questions)), None,
                 TARGET_HYBRID_MS))  # fmt: skip
    rows.append(("meaning (6 words)", percentiles(timed(lambda t: fonoteca.search(t, mode="meaning"), questions)),
                 None, TARGET_HYBRID_MS))  # fmt: skip
    rows.append(("hybrid (6 words)", percentiles(timed(lambda t: fonoteca.search(t, mode="hybrid"), questions)),
                 None, TARGET_HYBRID_MS))  # fmt: skip
    two = kinds["two words"]
    rows.append(("hybrid (two words)", percentiles(timed(lambda t: fonoteca.search(t, mode="hybrid"), two)), None,
                 TARGET_HYBRID_MS))  # fmt: skip
    lines = [
        f"# bench/search.py --hours {args.hours:g} — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        "(above 2: other work shared the cores; read the ratios to the references measured in the same run)",
        f"# synthetic archive: {args.hours:g} h, {args.episodes} episodes over 6 years, {words_total:,} words,"
        f" {segments_total:,} segments; Zipf vocabulary of {len(vocabulary):,} Spanish-like words",
        "# fonoteca = tantivy (+ word counts in SQLite for trends), through Fonoteca.search()/trend(); reference = "
        + ("SQLite FTS5 over the same segments" if fts else "none for the kinds (--no-fts5), raw tantivy below")
        + f"; {n} different terms per kind, top 20 by BM25",
        "# queries run after gc.freeze(), as in `fonoteca serve`: without it a full collection (60-70 ms here) lands in"
        " every few 10-word trends (p95 76-111 ms in earlier runs)",
        "",
        *indexing_lines,
        f"sizes: archive database {db_size / 2**20:.0f} MB{' (incl. the FTS5 reference table)' if fts else ''}, "
        f"tantivy index {index_size / 2**20:.0f} MB",
        *meaning_lines,
        "",
        f"{'query kind':24} {'fonoteca p50/p95/p99 ms':>26} {'FTS5 p50/p95/p99 ms':>26}  target p95   ok",
    ]
    for kind, (a50, a95, a99), reference, target in rows:
        ok = "yes" if a95 < target else "NO"
        theirs = " ".join(f"{v:8.1f}" for v in reference) if reference else f"{'(none)':>26}"
        lines.append(f"{kind:24} {a50:8.1f} {a95:8.1f} {a99:8.1f} {theirs}  < {target:3d} ms   {ok}")
    lines += ["", "raw tantivy on fonoteca's own index, the same query (built by fonoteca), top 20 counted and their "
              "stored documents read: what fonoteca adds to each query is the difference",
              f"{'query kind':26} {'fonoteca p50/p95':>20} {'tantivy p50/p95':>20} {'added p50':>14} (ms)"]  # fmt: skip
    for kind, ((a50, a95, _), (t50, t95, _)) in engine.items():
        lines.append(f"{kind:26} {a50:10.2f} {a95:9.2f} {t50:10.2f} {t95:9.2f} {a50 - t50:14.2f}")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.hours >= 1500:
        print(f"wrote {keep_run(Path(__file__).parent / 'results' / 'search.txt', report)}")
    fonoteca.close()
    if args.keep:
        print(f"kept the archive: FONOTECA_HOME={home}")
    else:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
