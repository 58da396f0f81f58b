"""Search by meaning: fonoteca's HNSW graph path (FONOTECA_VECTOR_GRAPH) against its exact int8 scan, through
fonoteca.search.ann itself, on vectors that are not copies of one another.

Real passages of real Spanish speech (the Venezolanos transcripts of ../shared/data, as bench/embedding.py cuts them)
are embedded with the packaged model; an archive of --episodes episodes of 220 passages each is stored whose vectors
are those real vectors moved by noise of norm 0.5 (clustered as real passages are, none a copy of another). Two kinds
of questions: other real passages (held out) moved a little, and the real questions people ask of bench/retrieval.py
(bench/data/retrieval_eval.json, embedded as questions): a question lies farther from every passage than a passage
does, and a graph finds its exact top 10 less often. For each kind and efSearch: recall@10 of the graph path against
the exact scan, over the whole archive and over a quarter of its episodes (a filter), and the time per question of
each, beside usearch's own exact search over the same int8 matrix (the plain library).

Why this bench exists: an earlier judgement that the graph finds 11-21 % of the exact top 10 was made on an archive
whose 163,827 stored vectors were 436 distinct rows copied hundreds of times (bench/web.py's archive, built before
bench/search.py added the noise): there every top 10 is a tie among copies, and HNSW over exact duplicates is
degenerate. Writes bench/results/vector-graph.txt (vector-graph-N-episodes.txt for another --episodes).

    python bench/vector_graph.py [--episodes 750] [--real 500] [--questions 40] [--ef 256 512 1024]
                                 [--connectivity 16] [--expansion-add 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from embedding import real_passages

import fonoteca.search.ann as ann  # before usearch (see fonoteca/search/ann.py)
from fonoteca.archive import Archive, Segment, Source
from fonoteca.archive.vectors import EpisodeVectors
from fonoteca.meaning.embedders import UseEmbedder

PASSAGES_PER_EPISODE = 220
RETRIEVAL_SET = Path(__file__).parent / "data" / "retrieval_eval.json"
NOISE = 0.5  # norm of the noise that moves each stored vector away from its real one (as bench/search.py's)
QUESTION_NOISE = 0.3


def moved(vectors: np.ndarray, norm: float, rng: np.random.Generator) -> np.ndarray:
    out = vectors + rng.standard_normal(vectors.shape).astype(np.float32) * (norm / np.sqrt(vectors.shape[1]))
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build_archive(home: Path, episodes: int, real: np.ndarray, model: str, rng: np.random.Generator) -> Archive:
    archive = Archive(home / "fonoteca.db")
    show, _ = archive.add_show(title="Vectores", source="https://example.org/feed.xml", source_kind="feed")
    spans = np.array([[k, k + 1, k, k] for k in range(PASSAGES_PER_EPISODE)], np.float32)
    batch: list[EpisodeVectors] = []
    for number in range(episodes):
        episode, _ = archive.upsert_episode(
            show, guid=f"e{number}", title=f"Episodio {number}", kind="audio",
            published=f"{2010 + number % 12}-0{1 + number % 9}-01T00:00:00+00:00",
        )  # fmt: skip
        lines = [Segment(float(k), float(k) + 1, "palabra") for k in range(PASSAGES_PER_EPISODE)]
        archive.replace_transcript(episode.id, lines, source=Source.PUBLISHER)
        rev = archive.get_episode(episode.id).transcript_rev
        vectors = moved(real[rng.integers(0, len(real), PASSAGES_PER_EPISODE)], NOISE, rng)
        batch.append(EpisodeVectors(episode.id, rev, spans, vectors))
        if len(batch) == 50:
            archive.vectors.save_many(model, real.shape[1], batch)
            batch = []
    archive.vectors.save_many(model, real.shape[1], batch)
    return archive


def measure(exact: ann.PassageVectors, graph: ann.PassageVectors, questions: np.ndarray, share: float):
    allowed = np.zeros(len(exact.episode_ids), bool)
    allowed[: max(1, int(len(allowed) * share))] = True
    recalls, graph_s, exact_s = [], 0.0, 0.0
    for question in questions:
        started = time.perf_counter()
        exact_rows, _ = exact.nearest(question, allowed, 10)
        exact_s += time.perf_counter() - started
        started = time.perf_counter()
        graph_rows, _ = graph.nearest(question, allowed, 10)
        graph_s += time.perf_counter() - started
        truth = {(exact.episode_of(r), float(exact.spans[r][0])) for r in exact_rows}
        found = {(graph.episode_of(r), float(graph.spans[r][0])) for r in graph_rows}
        recalls.append(len(truth & found) / 10)
    n = len(questions)
    return float(np.mean(recalls)), min(recalls), graph_s / n * 1000, exact_s / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=750, help="of 220 passages each (750: 165,000 passages)")
    parser.add_argument("--real", type=int, default=500, help="real passages embedded (40 of them are questions)")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--ef", type=int, nargs="+", default=[256, 512, ann.EXPANSION_SEARCH])
    parser.add_argument("--connectivity", type=int, default=ann.CONNECTIVITY, help="HNSW's M")
    parser.add_argument("--expansion-add", type=int, default=ann.EXPANSION_ADD, help="HNSW's efConstruction")
    args = parser.parse_args()
    ann.CONNECTIVITY, ann.EXPANSION_ADD = args.connectivity, args.expansion_add
    rng = np.random.default_rng(5)
    embedder = UseEmbedder()
    started = time.perf_counter()
    real = embedder.embed(real_passages(args.real), query=False)
    embed_s = time.perf_counter() - started
    order = rng.permutation(len(real))
    asked = [item["question"] for item in json.loads(RETRIEVAL_SET.read_text())["items"]]
    question_kinds = {
        "passages": moved(real[order[: args.questions]], QUESTION_NOISE, rng),
        "questions": embedder.embed(asked, query=True),
    }
    stored_from = real[order[args.questions :]]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        archive = build_archive(home, args.episodes, stored_from, embedder.name, rng)
        exact_index, graph_index = ann.VectorIndex(home / "exact"), ann.VectorIndex(home / "graph", graph=True)
        exact_index.update(archive, embedder.name, embedder.dim)
        started = time.perf_counter()
        graph_index.update(archive, embedder.name, embedder.dim)
        graph_build_s = time.perf_counter() - started
        exact, graph = (i.passages(archive, embedder.name, embedder.dim) for i in (exact_index, graph_index))
        graph_mb = sum(f.stat().st_size for f in (home / "graph").rglob("*.usearch")) / 2**20
        from usearch.index import MetricKind
        from usearch.index import search as usearch_exact

        matrix = np.ascontiguousarray(exact.stored)
        started = time.perf_counter()
        for question in ann.quantise(question_kinds["passages"]):  # one at a time, as searches come
            usearch_exact(matrix, question, 10, MetricKind.Cos, exact=True, threads=1)
        plain_ms = (time.perf_counter() - started) / args.questions * 1000
        lines = [
            f"# bench/vector_graph.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, "
            f"{os.cpu_count()} cores, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
            "(above 2, other work shared the cores: compare the graph's and the scan's times within a row, not across "
            "runs)",
            f"# {exact.passages:,} stored passages ({args.episodes} episodes): {len(stored_from)} real passages' "
            f"vectors ({embedder.name}, {embedder.dim} dims, embedded in {embed_s:.0f} s) moved by noise of norm "
            f"{NOISE}; questions: 'passages', {args.questions} held-out real passages moved by {QUESTION_NOISE}; "
            f"'questions', the {len(asked)} real questions of {RETRIEVAL_SET.name} (Spanish and English)",
            f"# graph: usearch HNSW, int8, M={ann.CONNECTIVITY}, efConstruction={ann.EXPANSION_ADD}, built in "
            f"{graph_build_s:.0f} s, {graph_mb:.0f} MB; both paths score their candidates again in float32",
            f"usearch's own exact search over the same int8 matrix (the plain library, one thread): {plain_ms:.1f} "
            "ms a question",
            "",
            f"{'asked':<9} {'efSearch':>8}  {'scope':<26} {'recall@10':>9} {'min':>4} {'graph ms':>9} "
            f"{'exact scan ms':>14}",
        ]
        for kind, questions in question_kinds.items():
            for ef in args.ef:
                ann.EXPANSION_SEARCH = ef
                for label, share in (("whole archive", 1.0), ("a quarter of the episodes", 0.25)):
                    recall, lowest, graph_ms, exact_ms = measure(exact, graph, questions, share)
                    lines.append(f"{kind:<9} {ef:>8}  {label:<26} {recall:>9.3f} {lowest:>4.1f} {graph_ms:>9.1f} "
                                 f"{exact_ms:>14.1f}")  # fmt: skip
    report = "\n".join(lines) + "\n"
    print(report)
    name = "vector-graph.txt" if args.episodes == 750 else f"vector-graph-{args.episodes}-episodes.txt"
    if (args.connectivity, args.expansion_add) != (
        parser.get_default("connectivity"),
        parser.get_default("expansion_add"),
    ):
        name = name.replace(".txt", f"-m{args.connectivity}-ef{args.expansion_add}.txt")
    (Path(__file__).parent / "results" / name).write_text(report)


if __name__ == "__main__":
    main()
