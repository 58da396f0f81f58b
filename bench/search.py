"""Search and trend latency on a synthetic archive the size of a long-running show, against plain SQLite FTS5.

Builds the archive of bench/synthetic.py (default 1 500 h, ~13 M words, 750 episodes over 6 years), indexes it with
fonoteca (tantivy + per-episode word counts) and, as the reference, with an SQLite FTS5 table over the same segments
(unicode61, diacritics removed, BM25 top 20). Each query kind runs on many different terms; p50/p95/p99 in ms.
Writes bench/results/search.txt.

    python bench/search.py [--hours 1500] [--queries 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from synthetic import FUNCTION_WORDS, build_synthetic_archive

from fonoteca.app import Fonoteca
from fonoteca.text import fold

TARGET_SEARCH_MS, TARGET_TREND_MS, TARGET_INDEX_S = 20, 50, 60


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


def fts_query(text: str, kind: str) -> str:
    if kind == "phrase":
        return '"' + text + '"'
    if kind == "prefix":
        return text + "*"
    return " AND ".join(f'"{w}"' for w in text.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1500)
    parser.add_argument("--episodes", type=int, default=750)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="fonoteca-search-bench-"))
    settings, vocabulary = build_synthetic_archive(home, hours=args.hours, episodes=args.episodes)
    fts_seconds = build_fts(settings.db_path)
    fonoteca = Fonoteca(settings)
    start = time.perf_counter()
    fonoteca.update_index()
    index_seconds = time.perf_counter() - start

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
    fts = sqlite3.connect(settings.db_path)
    for kind, terms in kinds.items():
        as_query = {"phrase": lambda t: f'"{t}"', "phrase of common words": lambda t: f'"{t}"',
                    "prefix": lambda t: t + "*"}.get(kind, lambda t: t)  # fmt: skip
        ours = timed(lambda t, q=as_query: fonoteca.search(q(t), limit=20), terms)
        fts_kind = "phrase" if kind.startswith("phrase") else "prefix" if kind == "prefix" else "words"
        theirs = timed(
            lambda t, k=fts_kind: fts.execute(
                "SELECT episode_id, start, snippet(bench_fts, 0, '<b>', '</b>', '…', 12) FROM bench_fts "
                "WHERE bench_fts MATCH ? ORDER BY bm25(bench_fts) LIMIT 20",
                (fts_query(fold(t), k),),
            ).fetchall(),
            terms,
        )
        rows.append((kind, percentiles(ours), percentiles(theirs), TARGET_SEARCH_MS))

    def trend_row(kind: str, terms: list[str], fts_match: Callable[[str], str]) -> tuple:
        ours = timed(lambda t: fonoteca.trend([t]), terms)
        theirs = timed(
            lambda t: fts.execute(
                "SELECT episode_id, COUNT(*) FROM bench_fts WHERE bench_fts MATCH ? GROUP BY episode_id",
                (fts_match(t),),
            ).fetchall(),
            terms,
        )
        return kind, percentiles(ours), percentiles(theirs), TARGET_TREND_MS

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
    lines = [
        f"# bench/search.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores",
        f"# synthetic archive: {args.hours:g} h, {args.episodes} episodes over 6 years, {words_total:,} words,"
        f" {segments_total:,} segments; Zipf vocabulary of {len(vocabulary):,} Spanish-like words",
        f"# fonoteca = tantivy (+ word counts in SQLite for trends), through Fonoteca.search()/trend();"
        f" reference = SQLite FTS5 over the same segments; {n} different terms per kind, top 20 by BM25",
        "",
        f"indexing: fonoteca {index_seconds:.1f} s (target < {TARGET_INDEX_S} s)   FTS5 {fts_seconds:.1f} s",
        f"sizes: archive database {db_size / 2**20:.0f} MB (incl. the FTS5 reference table), "
        f"tantivy index {index_size / 2**20:.0f} MB",
        "",
        f"{'query kind':24} {'fonoteca p50/p95/p99 ms':>26} {'FTS5 p50/p95/p99 ms':>26}  target p95   ok",
    ]
    for kind, (a50, a95, a99), (b50, b95, b99), target in rows:
        ok = "yes" if a95 < target else "NO"
        lines.append(f"{kind:24} {a50:8.1f} {a95:8.1f} {a99:8.1f} {b50:8.1f} {b95:8.1f} {b99:8.1f}  < {target:3d} ms"
                     f"   {ok}")  # fmt: skip
    report = "\n".join(lines) + "\n"
    print(report)
    out = Path(__file__).parent / "results" / "search.txt"
    if args.hours >= 1500:
        out.write_text(report)
        print(f"wrote {out}")
    fonoteca.close()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
