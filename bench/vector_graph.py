"""Search by meaning: fonoteca's inverted file (FONOTECA_VECTOR_INDEX=lists, faiss's IVF) against its exact int8
scan, through fonoteca.search.ann itself, on vectors that are not copies of one another; with --lists, faiss's IVF
alone (the plain library) beside them, over the same stored vectors and questions.

Real passages of real Spanish speech (the Venezolanos transcripts of ../shared/data, as bench/embedding.py cuts them)
are embedded with the packaged model; an archive of --episodes episodes of 220 passages each is stored whose vectors
are those real vectors moved by noise of norm 0.5 (clustered as real passages are, none a copy of another). Two kinds
of questions: other real passages (held out) moved a little, and the real questions people ask of bench/retrieval.py
(bench/data/retrieval_eval.json, embedded as questions): a question lies farther from every passage than a passage
does. For each kind and number of cells probed: recall@10 of the approximate path against the exact scan, over the
whole archive and over a share of its episodes (a filter), and the time per question of each, beside usearch's own
exact search over the same int8 matrix (the plain library).

History (the file keeps its name): it measured usearch's HNSW graph, fonoteca's approximate path until faiss's IVF
replaced it. At 1,760,000 vectors the graph found 0.76 of a real question's exact top 10 at efSearch 2,048 and 0.87 at
4,096, some questions none of it (vector-graph-8000-episodes-m32-ef128.txt); faiss's IVF of 4,096 cells found 0.994 at
nprobe 64 in 2.4 ms, on the same vectors and questions in the same run (vector-graph-8000-episodes-ivf.txt, made by
this file's version of the commit that added --lists). An earlier judgement that the graph found 11-21 % of the exact
top 10 was made on bench/web.py's archive of the time, whose 163,827 stored vectors were 436 distinct rows copied
hundreds of times: there every top 10 is a tie among copies. Writes bench/results/vector-lists.txt
(vector-lists-N-episodes.txt for another --episodes, "-faiss" added with --lists).

    python bench/vector_graph.py [--episodes 750] [--real 500] [--questions 40] [--probes 16 32 64 128]
                                 [--lists 4096] [--nprobe 16 32 64 128 256] [--per-list 64] [--shares 1 0.25 0.01]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
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
SCOPES = {1.0: "whole archive", 0.25: "a quarter of the episodes", 0.01: "a hundredth of the episodes"}
RESCORE = 4  # IVF candidates scored again in float32 per passage wanted (see InvertedFile.nearest)


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


def scope(exact: ann.PassageVectors, share: float) -> np.ndarray:
    allowed = np.zeros(len(exact.episode_ids), bool)
    allowed[: max(1, int(len(allowed) * share))] = True
    return allowed


def exact_answers(exact: ann.PassageVectors, questions: np.ndarray, allowed: np.ndarray):
    """Each question's exact top 10 (as (episode, passage start), the same passage under any path's row numbers) and
    the exact scan's time per question: computed once per kind and scope, and every approximate row compared to it."""
    truths, spent = [], 0.0
    for question in questions:
        started = time.perf_counter()
        rows, _ = exact.nearest(question, allowed, 10)
        spent += time.perf_counter() - started
        truths.append({(exact.episode_of(r), float(exact.spans[r][0])) for r in rows})
    return truths, spent / len(questions) * 1000


def measure(nearest, rows_of: ann.PassageVectors, questions: np.ndarray, allowed: np.ndarray, truths) -> tuple:
    """recall@10 (mean, lowest) of an approximate path against the exact answers, and its time per question."""
    recalls, spent = [], 0.0
    for question, truth in zip(questions, truths, strict=True):
        started = time.perf_counter()
        rows, _ = nearest(question, allowed, 10)
        spent += time.perf_counter() - started
        found = {(rows_of.episode_of(r), float(rows_of.spans[r][0])) for r in rows}
        recalls.append(len(truth & found) / 10)
    return float(np.mean(recalls)), min(recalls), spent / len(questions) * 1000


class InvertedFile:
    """faiss's inverted-file index (IVF) over the same int8 rows, as fonoteca would hold one: k-means cells trained on
    a sample, each row's unit vector stored in its cell at 8 bits a dimension (IndexIVFScalarQuantizer, inner
    product), written to disk and opened again memory-mapped. A search probes the `nprobe` cells nearest to the
    question; a filter is an IDSelector over the scope's rows, so within the probed cells it is exact (a scope's
    passages in cells not probed are missed: the filtered rows say how many). Candidates are scored again in float32
    against the int8 rows, as fonoteca's other paths do, so scores are those of brute force."""

    def __init__(self, passages: ann.PassageVectors, lists: int, per_list: int, path: Path, rng) -> None:
        import faiss  # after fonoteca (onnxruntime, usearch): see the module's imports

        self.faiss, self.passages, self.path = faiss, passages, path
        stored = passages.stored
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building uses every core, as fonoteca's does
        started = time.perf_counter()
        sample = np.sort(rng.choice(len(stored), min(len(stored), lists * per_list), replace=False))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(stored.shape[1]), stored.shape[1], lists, faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )  # fmt: skip
        index.train(ann._unit(stored[sample]))
        self.train_s = time.perf_counter() - started
        for first in range(0, len(stored), 100_000):  # faiss numbers rows in the order added: its ids are the keys
            index.add(ann._unit(stored[first : first + 100_000]))
        self.build_s = time.perf_counter() - started
        sizes = np.array([index.invlists.list_size(i) for i in range(lists)])
        self.cells = f"cells of {sizes.mean():.0f} rows on average, {sizes.min()}-{sizes.max()}"
        faiss.write_index(index, str(path))
        self.bytes = path.stat().st_size
        del index
        # Searched as fonoteca would: opened from the file memory-mapped (the cells' codes stay in the page cache).
        # IO_FLAG_MMAP_IFC maps the cells as they are (ArrayInvertedLists over the file). Plain IO_FLAG_MMAP opens
        # them as OnDiskInvertedLists, which start 32 prefetch threads on every search: ~3.5 ms a question (measured
        # here, faiss 1.15.1) unless its prefetch_nthread is set to 0.
        self.index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)

    def nearest(
        self, question: np.ndarray, allowed: np.ndarray, count: int, *, nprobe: int
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss = self.faiss
        selector = bitmap = None
        if not allowed.all():
            wanted = np.append(allowed, False)[self.passages.row_episode]  # as PassageVectors reads a scope
            bitmap = np.packbits(wanted, bitorder="little")  # kept alive while faiss reads it
            selector = faiss.IDSelectorBitmap(len(wanted), faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersIVF(nprobe=nprobe, sel=selector)
        # 8-bit codes order close passages a little differently from the int8 rows: a few more candidates than
        # wanted are scored again in float32, as fonoteca's int8 scan takes OVERSCAN times as many.
        _, keys = self.index.search(question[None].astype(np.float32), count * RESCORE, params=params)
        keys = keys[0][keys[0] >= 0]
        scores = ann._unit(self.passages.stored[keys]) @ question
        top = ann.best(scores, count)
        return keys[top], scores[top]

    def scanned(self) -> int:
        """Codes compared with questions since the last call (faiss's own count)."""
        stats = self.faiss.cvar.indexIVF_stats
        ndis = stats.ndis
        stats.reset()
        return ndis


MAPPED_CHILD = """
import json, sys, time
import numpy as np
import fonoteca.search.ann  # noqa: F401 (before usearch and faiss)
import faiss

def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "RssAnon", "RssFile")}

path, questions, nprobe = sys.argv[1], np.load(sys.argv[2]), int(sys.argv[3])
faiss.omp_set_num_threads(1)
before = rss()
started = time.perf_counter()
index = faiss.read_index(path, faiss.IO_FLAG_MMAP_IFC)
opened_ms = (time.perf_counter() - started) * 1000
after_open = rss()
started = time.perf_counter()
index.search(questions[:1], 10, params=faiss.SearchParametersIVF(nprobe=nprobe))
first_ms = (time.perf_counter() - started) * 1000
index.search(questions, 10, params=faiss.SearchParametersIVF(nprobe=nprobe))
print(json.dumps({"before": before, "open": after_open, "searched": rss(), "opened_ms": opened_ms,
                  "first_ms": first_ms}))
"""


def mapped_memory(ivf: InvertedFile, questions: np.ndarray, nprobe: int, scratch: Path) -> str:
    """What a fresh process holds after opening the IVF file memory-mapped and answering every question: its own
    (anonymous) memory and the file's pages it maps (shared with every other process through the page cache)."""
    np.save(scratch / "questions.npy", questions.astype(np.float32))
    out = subprocess.run(
        [sys.executable, "-c", MAPPED_CHILD, str(ivf.path), str(scratch / "questions.npy"), str(nprobe)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    got = json.loads(out.stdout.strip().splitlines()[-1])
    before, opened, searched = got["before"], got["open"], got["searched"]
    return (
        f"a fresh process (python, numpy, fonoteca.search.ann, faiss: {before['VmRSS']} MB resident) opens it with "
        f"IO_FLAG_MMAP_IFC in {got['opened_ms']:.0f} ms holding {opened['RssAnon'] - before['RssAnon']} MB more of its "
        f"own; its first question (nprobe {nprobe}) takes {got['first_ms']:.0f} ms; after all {len(questions)} "
        f"questions it holds {searched['RssAnon'] - before['RssAnon']} MB more of its own and maps "
        f"{searched['RssFile'] - before['RssFile']} MB of the file (shared page cache)"
    )


def approximate_paths(lists: ann.PassageVectors, inverted: list[InvertedFile], probes, nprobes):
    """(path, setting, nearest, the plain IVF whose codes scanned are counted) for each row of the table."""
    for probe in probes:

        def through_lists(question, allowed, count, probe=probe):
            ann.PROBES = probe  # the cells fonoteca probes (more for a scope under a quarter: ann.cells_probed)
            return lists.nearest(question, allowed, count)

        yield "lists", f"probes {probe}", through_lists, None
    for ivf in inverted:
        for nprobe in nprobes:
            yield f"ivf{ivf.index.nlist}", f"nprobe {nprobe}", functools.partial(ivf.nearest, nprobe=nprobe), ivf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=750, help="of 220 passages each (750: 165,000 passages)")
    parser.add_argument("--real", type=int, default=500, help="real passages embedded (40 of them are questions)")
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument(
        "--probes",
        type=int,
        nargs="+",
        default=[16, 32, ann.PROBES, 128],
        help="cells fonoteca's lists probe (FONOTECA_VECTOR_INDEX=lists)",
    )
    parser.add_argument(
        "--lists",
        type=int,
        nargs="*",
        default=[],
        help="also faiss's IVF alone (the plain library) of this many cells (each)",
    )
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128, 256], help="IVF cells probed")
    parser.add_argument("--shares", type=float, nargs="+", default=[1.0, 0.25], help="scopes: shares of episodes")
    parser.add_argument("--per-list", type=int, default=64, help="IVF training sample: rows per cell (k-means)")
    args = parser.parse_args()
    ann.PROBED_SHARE = 2**31  # the probes asked for, not a share of the cells
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
    scopes = [(SCOPES.get(share, f"{share:g} of the episodes"), share) for share in args.shares]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        archive = build_archive(home, args.episodes, stored_from, embedder.name, rng)
        exact_index = ann.VectorIndex(home / "exact", kind="exact")
        exact_index.update(archive, embedder.name, embedder.dim)
        exact = exact_index.passages(archive, embedder.name, embedder.dim)
        header = [
            f"# bench/vector_graph.py — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, "
            f"{os.cpu_count()} cores, load average {load_before:.1f} before, {{after:.1f}} after "
            "(above 2, other work shared the cores: compare times within a run, not across runs)",
            f"# {exact.passages:,} stored passages ({args.episodes} episodes): {len(stored_from)} real passages' "
            f"vectors ({embedder.name}, {embedder.dim} dims, embedded in {embed_s:.0f} s) moved by noise of norm "
            f"{NOISE}; questions: 'passages', {args.questions} held-out real passages moved by {QUESTION_NOISE}; "
            f"'questions', the {len(asked)} real questions of {RETRIEVAL_SET.name} (Spanish and English)",
            "# every path scores its candidates again in float32; recall@10 is against fonoteca's exact int8 scan "
            "(computed once per kind and scope: its time is the 'exact scan ms' of every row; it searches with "
            "usearch's default threads, here both cores)",
        ]
        lists_index = ann.VectorIndex(home / "lists", kind="lists")
        started = time.perf_counter()
        lists_index.update(archive, embedder.name, embedder.dim)
        lists_build_s = time.perf_counter() - started
        by_lists = lists_index.passages(archive, embedder.name, embedder.dim)
        lists_mb = sum(f.stat().st_size for f in (home / "lists").rglob("*.ivf")) / 2**20
        header.append(
            f"# lists: fonoteca's inverted file (FONOTECA_VECTOR_INDEX=lists, faiss IVF{by_lists.lists.nlist},SQ8), "
            f"built in {lists_build_s:.0f} s ({os.cpu_count()} threads), {lists_mb:.0f} MB; searched on one thread "
            "(one question at a time)"
        )
        inverted = []
        for lists in args.lists:
            ivf = InvertedFile(exact, lists, args.per_list, home / f"ivf{lists}.faiss", rng)
            inverted.append(ivf)
            header.append(
                f"# ivf{lists}: faiss {ivf.faiss.__version__} IndexIVFScalarQuantizer, {lists} cells (flat inner-"
                f"product quantizer; k-means on {min(exact.passages, lists * args.per_list):,} rows), QT_8bit codes "
                f"of the unit vectors; trained in {ivf.train_s:.0f} s, built in {ivf.build_s:.0f} s in all "
                f"({os.cpu_count()} threads), {ivf.bytes / 2**20:.0f} MB on disk; {ivf.cells}; searched opened with "
                f"IO_FLAG_MMAP_IFC, on one thread, {RESCORE * 10} candidates scored again"
            )
        from usearch.index import MetricKind
        from usearch.index import search as usearch_exact

        matrix = np.ascontiguousarray(exact.stored)
        started = time.perf_counter()
        for question in ann.quantise(question_kinds["passages"]):  # one at a time, as searches come
            usearch_exact(matrix, question, 10, MetricKind.Cos, exact=True, threads=1)
        plain_ms = (time.perf_counter() - started) / args.questions * 1000
        header += [
            f"usearch's own exact search over the same int8 matrix (the plain library, one thread): {plain_ms:.1f} "
            "ms a question",
            "",
            f"{'asked':<9} {'path':<9} {'setting':<14} {'scope':<27} {'recall@10':>9} {'min':>4} {'ms':>6} "
            f"{'exact scan ms':>14} {'codes scanned':>13}",
        ]
        for ivf in inverted:
            ivf.faiss.omp_set_num_threads(1)  # one question on one core, as fonoteca's lists answer it
        paths = list(approximate_paths(by_lists, inverted, args.probes, args.nprobe))
        rows = []
        for kind, questions in question_kinds.items():
            for label, share in scopes:
                allowed = scope(exact, share)
                truths, exact_ms = exact_answers(exact, questions, allowed)
                for path, setting, nearest, ivf in paths:
                    if ivf is not None:
                        ivf.scanned()
                    recall, lowest, ms = measure(nearest, exact, questions, allowed, truths)
                    scanned = f"{ivf.scanned() // len(questions):,}" if ivf is not None else ""
                    rows.append(f"{kind:<9} {path:<9} {setting:<14} {label:<27} {recall:>9.3f} {lowest:>4.1f} "
                                f"{ms:>6.1f} {exact_ms:>14.1f} {scanned:>13}")  # fmt: skip
        memory = [
            f"ivf{ivf.index.nlist} memory-mapped: "
            + mapped_memory(ivf, question_kinds["questions"], max(args.nprobe), home)
            for ivf in inverted
        ]
    header[0] = header[0].format(after=os.getloadavg()[0])
    report = "\n".join(header + rows + [""] + memory) + "\n"
    print(report)
    name = "vector-lists.txt" if args.episodes == 750 else f"vector-lists-{args.episodes}-episodes.txt"
    if args.lists:  # with faiss's IVF alone beside
        name = name.replace(".txt", "-faiss.txt")
    (Path(__file__).parent / "results" / name).write_text(report)


if __name__ == "__main__":
    main()
