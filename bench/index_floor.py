"""Where tantivy's time goes when it indexes fonoteca's fields, beside raw tantivy in the same run.

The segment texts of a synthetic archive (bench/synthetic.py) are folded and cut into words once, outside the timed
part; then each variant builds its documents from those words and indexes them with 2 writer threads (as fonoteca),
one commit at the end and its merges waited for. Variants take fonoteca's schema apart (the word pairs field, the
positions, the stored fields) and try the common-grams layouts (a word pair indexed only when its words are common).
CPU seconds are the process's, all threads (steadier than wall time on a shared machine).

    python bench/index_floor.py [--hours 200]
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

import tantivy
from synthetic import build_synthetic_archive

from fonoteca.search.common import common_pairs
from fonoteca.search.index import ANALYZER, GAP, PAIRS_ANALYZER, indexed_pairs, pair_tokens, register_analyzers
from fonoteca.search.index import _schema as fonoteca_schema
from fonoteca.text import words

REPEATS = 5


def _schema(text: str | None, pairs: str | None, *, stored: bool = True) -> tantivy.Schema:
    """fonoteca's fields with the text and pairs fields' index options as given (None: the field is left out)."""
    builder = tantivy.SchemaBuilder()
    if text:
        builder.add_text_field("text", stored=False, tokenizer_name=ANALYZER, index_option=text)
    if pairs:
        builder.add_text_field("pairs", stored=False, tokenizer_name=PAIRS_ANALYZER, index_option=pairs)
    if stored:
        builder.add_bytes_field("body", stored=True, indexed=False)
        builder.add_text_field("episode_id", stored=True, tokenizer_name="raw", fast=True)
        builder.add_integer_field("show_id", stored=True, indexed=True, fast=True)
        builder.add_integer_field("idx", stored=True)
        builder.add_float_field("start", stored=True)
        builder.add_float_field("end", stored=True)
        builder.add_integer_field("published", stored=True, indexed=True, fast=True)
        builder.add_integer_field("words", fast=True)
        builder.add_float_field("seconds", fast=True)
    return builder.build()


def _index(
    schema: tantivy.Schema, documents: Callable[[], object], folder: Path, *, keep: bool = False
) -> tuple[float, float, int]:
    folder.mkdir()
    index = tantivy.Index(schema, path=str(folder))
    register_analyzers(index)  # PAIRS_ANALYZER drops GAP, the place of a pair left out, and keeps its position
    start, cpu = time.perf_counter(), time.process_time()
    writer = index.writer(256 * 1024 * 1024, 2)
    for doc in documents():
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    if not keep:
        shutil.rmtree(folder)
    return wall, cpu, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=200)
    parser.add_argument("--common", default="30,78", help="sizes of the common-word lists tried (top of the Zipf)")
    parser.add_argument("--queries", type=int, default=60, help="phrases of each kind timed on two layouts (0: none)")
    parser.add_argument("--no-variants", action="store_true", help="time the phrases only")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fonoteca-floor-bench-"))
    settings, vocabulary = build_synthetic_archive(home, hours=args.hours, episodes=max(1, round(args.hours / 2)))
    with sqlite3.connect(settings.db_path) as db:
        rows = db.execute("SELECT text, episode_id, idx, start, end FROM segments").fetchall()
    folded = [words(text) for text, *_ in rows]
    joined = [" ".join(said) for said in folded]
    all_pairs = [pair_tokens(said) for said in folded]
    vocabulary_folded = [" ".join(words(w)) for w in vocabulary]

    def fields(doc: tantivy.Document, i: int) -> None:
        text, episode_id, idx, start, end = rows[i]
        doc.add_bytes("body", text.encode())
        doc.add_text("episode_id", episode_id)
        doc.add_integer("show_id", 1)
        doc.add_integer("idx", idx)
        doc.add_float("start", start)
        doc.add_float("end", end)
        doc.add_integer("published", 0)
        doc.add_integer("words", len(folded[i]))
        doc.add_float("seconds", end - start)

    def made(pairs_text: list[str] | None, *, text: bool = True, stored: bool = True) -> Callable[[], object]:
        def documents() -> object:
            for i in range(len(rows)):
                doc = tantivy.Document()
                if text:
                    doc.add_text("text", joined[i])
                if pairs_text is not None:
                    doc.add_text("pairs", pairs_text[i])
                if stored:
                    fields(doc, i)
                yield doc

        return documents

    every_pair = [" ".join(pairs) for pairs in all_pairs]
    variants: list[tuple[str, tantivy.Schema, Callable[[], object], int]] = []
    raw_builder = tantivy.SchemaBuilder()
    raw_builder.add_text_field("text", stored=True)
    raw_schema = raw_builder.build()

    def raw_documents() -> object:
        for text, *_ in rows:
            yield tantivy.Document(text=text)

    n_pairs = sum(len(p) for p in all_pairs)
    distinct = len({pair for pairs in all_pairs for pair in pairs})
    variants.append(("raw tantivy (default tokenizer, text stored)", raw_schema, raw_documents, 0))
    variants.append(("floor: fonoteca's schema (text freq, every pair positions)", _schema("freq", "position"),
                     made(every_pair), n_pairs))  # fmt: skip
    variants.append(("  without the pairs field", _schema("freq", None), made(None), 0))
    variants.append(("  without pairs, text with positions", _schema("position", None), made(None), 0))
    variants.append(("  pairs without positions (basic)", _schema("freq", "basic"), made(every_pair), n_pairs))
    variants.append(("  stored and fast fields only", _schema(None, None), made(None, text=False), 0))
    variants.append(("  text (freq) only", _schema("freq", None, stored=False), made(None, stored=False), 0))
    variants.append(("  pairs (positions) only", _schema(None, "position", stored=False),
                     made(every_pair, text=False, stored=False), n_pairs))  # fmt: skip
    kept_now = [indexed_pairs(said, pairs) for said, pairs in zip(folded, all_pairs, strict=True)]
    kept_count = sum(len(p.split()) - p.split().count(GAP) for p in kept_now)
    variants.append(("fonoteca's layout: text positions, pairs with a word of COMMON_WORDS, positions",
                     fonoteca_schema(), made(kept_now), kept_count))  # fmt: skip
    for size in [int(s) for s in args.common.split(",")]:
        common = set(vocabulary_folded[:size])
        for rule, keep in (("either", lambda a, b, c=common: a in c or b in c),
                           ("both", lambda a, b, c=common: a in c and b in c)):  # fmt: skip
            kept = [[p if keep(*p.split("_")) else GAP for p in pairs] for pairs in all_pairs]
            gapped = [" ".join(pairs) for pairs in kept]
            count = sum(len(p) - p.count(GAP) for p in kept)
            variants.append((f"common grams, top {size}, {rule} word common: text positions, pairs positions",
                             _schema("position", "position"), made(gapped), count))  # fmt: skip
            compact = [" ".join(p for p in pairs if p != GAP) for pairs in kept]
            variants.append((f"common grams, top {size}, {rule} word common: text positions, pairs basic",
                             _schema("position", "basic"), made(compact), count))  # fmt: skip

    lines = [
        f"# bench/index_floor.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.1f} at the start",
        f"# synthetic archive: {args.hours:g} h, {len(rows):,} segments, {sum(len(f) for f in folded):,} words, "
        f"{n_pairs:,} word pairs ({distinct:,} distinct)",
        f"{'variant':84} {'wall s':>7} {'CPU s':>7} {'x raw CPU':>9} {'MB':>6} {'pairs kept':>11}",
    ]
    print("\n".join(lines), flush=True)
    raw_cpu = None
    for name, schema, documents, pairs in (
        [] if args.no_variants else [*variants, ("raw tantivy again (how far the load moved)", *variants[0][1:])]
    ):
        wall, cpu, size = _index(schema, documents, home / "variant")
        raw_cpu = raw_cpu or cpu
        line = f"{name:84} {wall:7.1f} {cpu:7.1f} {cpu / raw_cpu:9.1f} {size / 2**20:6.0f} {pairs / n_pairs:11.0%}"
        print(line, flush=True)
        lines.append(line)
    if args.queries:
        sizes = [int(size) for size in args.common.split(",")]
        lines += phrase_latency(home, folded, all_pairs, made, vocabulary_folded, args.queries, sizes)
    lines.append(f"# load average {os.getloadavg()[0]:.1f} at the end")
    (Path(__file__).parent / "results" / "index-floor.txt").write_text("\n".join(lines) + "\n")
    shutil.rmtree(home, ignore_errors=True)


def phrase_latency(
    home: Path,
    folded: list[list[str]],
    all_pairs: list[list[str]],
    made: Callable,
    ranked: list[str],
    queries: int,
    sizes: list[int],
) -> list[str]:
    """The same phrases on the layout with every pair and on common-grams layouts, tantivy alone: top 20 counted and
    their stored documents read (a search), and the count per episode (a trend's aggregation). A common-grams layout
    matches a phrase on its pairs when it keeps every pair of it, else on the words' positions (as fonoteca's
    build_query does). Each phrase runs REPEATS times on each layout, one layout after the other; its fastest run is
    kept (the load of a shared machine only adds)."""
    rules = {"every pair": lambda a, b: True, "no pair": lambda a, b: False,
             "COMMON_WORDS, either": lambda a, b: common_pairs([a, b])[0]}  # fmt: skip
    for size in sizes:
        rules[f"top {size}, both"] = lambda a, b, c=set(ranked[:size]): a in c and b in c
    layouts = {}
    for name, keep in rules.items():
        pairs_text = [" ".join(p if keep(*p.split("_")) else GAP for p in pairs) for pairs in all_pairs]
        folder = home / name.replace(" ", "-").replace(",", "")
        schema = fonoteca_schema()
        _index(schema, made(pairs_text), folder, keep=True)
        index = tantivy.Index(schema, path=str(folder))
        register_analyzers(index)
        index.reload()
        layouts[name] = (schema, index.searcher(), keep)

    def query_of(name: str, phrase: list[str]) -> tantivy.Query:
        schema, _searcher, keep = layouts[name]
        pairs = pair_tokens(phrase)
        if not all(keep(a, b) for a, b in zip(phrase, phrase[1:], strict=False)):
            found = tantivy.Query.phrase_query(schema, "text", phrase)
        elif len(pairs) == 1:
            found = tantivy.Query.term_query(schema, "pairs", pairs[0])
        else:
            found = tantivy.Query.phrase_query(schema, "pairs", pairs)
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, found)])

    rng = random.Random(3)
    top, next_ranks = set(ranked[:30]), set(ranked[max(sizes) : max(sizes) + 200])
    said = [line for line in folded if len(line) >= 3]
    twos = [line[i : i + 2] for line in said for i in range(0, len(line) - 1, 5)]
    threes = [line[i : i + 3] for line in rng.sample(said, 3000) for i in range(0, len(line) - 2, 7)]
    kinds = {
        "phrase (two words said)": rng.sample(twos, queries),
        "phrase of common words": rng.sample([p for p in twos if set(p) <= top], queries),
        f"common + a word of rank {max(sizes)}-{max(sizes) + 200}": rng.sample(
            [p for p in twos if (p[0] in top and p[1] in next_ranks) or (p[1] in top and p[0] in next_ranks)], queries
        ),
        "phrase of two rarer words": rng.sample([p for p in twos if not (set(p) & set(ranked[:500]))], queries),
        "3-word phrase said": rng.sample(threes, queries),
        "3-word phrase of common words": rng.sample([p for p in threes if set(p) <= top], queries),
    }
    per_episode = {"per_episode": {"terms": {"field": "episode_id", "size": 1_000_000}}}
    lines = [
        "",
        f"phrase latency, tantivy alone, ms: p50/p95 over {queries} phrases a kind, each its fastest of {REPEATS}"
        " runs; search = top 20 counted and read, trend = count per episode",
        f"{'phrase kind':36} {'layout':20} {'search p50':>10} {'p95':>6} {'trend p50':>10} {'p95':>6}",
    ]
    print("\n".join(lines), flush=True)
    for kind, phrases in kinds.items():
        best: dict[tuple[str, str], list[float]] = {}
        for phrase in phrases:
            found = set()
            for name, (_schema_of, searcher, _keep) in layouts.items():
                query = query_of(name, phrase)
                search, trend = [], []
                for _ in range(REPEATS):
                    start = time.perf_counter()
                    result = searcher.search(query, 20, count=True)
                    [searcher.doc(address) for _score, address in result.hits]
                    search.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    searcher.aggregate(query, per_episode)
                    trend.append(time.perf_counter() - start)
                found.add(result.count)
                best.setdefault((name, "search"), []).append(min(search) * 1000)
                best.setdefault((name, "trend"), []).append(min(trend) * 1000)
            assert len(found) == 1, (phrase, found)  # every layout finds the same segments
        for name in layouts:
            cells = []
            for what in ("search", "trend"):
                ordered = sorted(best[(name, what)])
                cells.append(f"{ordered[len(ordered) // 2]:10.2f} {ordered[int(0.95 * (len(ordered) - 1))]:6.2f}")
            line = f"{kind:36} {name:20} {cells[0]} {cells[1]}"
            print(line, flush=True)
            lines.append(line)
    return lines


if __name__ == "__main__":
    main()
