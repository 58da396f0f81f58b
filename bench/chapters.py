"""Chapter boundaries and grounding of an episode at a glance, on real transcripts.

Boundaries: documents made by joining excerpts of real transcripts of *different episodes of the same show* (Talk
Python To Me's WebVTT, Venezolanos' Markdown paragraphs timed at 150 words a minute as bench/retrieval.py times them):
each document has 3–8 parts, each part 5–15 minutes from one episode (a random stretch, starting at a segment), so the
joins are the true boundaries. The segments are cut into passages and embedded with the default packaged model as
fonoteca does, then compared, in the same run, against two baselines:

- even split: the document cut into as many equal parts as it truly has (the baseline is told the number);
- word TextTiling: NLTK's TextTilingTokenizer (Hearst 1997) on the segments as paragraphs, default parameters.

Measures Pk and WindowDiff (NLTK's, over 5-second units, k = half the mean true part length) and boundary F1 with
a hit within ±30 s, and the time fonoteca's chapters take per hour of audio with the vectors computed.

Grounding (`--parts grounding`): every episode of both corpora gets its overview as `after_transcripts` makes it;
checks that each key moment is a verbatim span of its transcript and that each topic and chapter title is in its
episode (chapter) by the grounding check, and counts what the check drops of the embedded model's LLM analyses when
`--llm` names a running endpoint.

    python bench/chapters.py [--documents 48] [--seed 27] [--parts boundaries grounding]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from nltk.metrics.segmentation import pk, windowdiff
from nltk.tokenize.texttiling import TextTilingTokenizer
from retrieval import CORPORA, episode_files, read_episode

from fonoteca.archive import Segment
from fonoteca.meaning.chapters import chapter_starts
from fonoteca.meaning.embed import spans_of
from fonoteca.meaning.embedders import BATCH, UseEmbedder
from fonoteca.meaning.keyness import stopwords
from fonoteca.meaning.passages import passages

RESULTS = Path(__file__).resolve().parent / "results" / "chapters.txt"
UNIT = 5.0  # seconds per unit of Pk and WindowDiff
TOLERANCE = 30.0  # a found boundary within this many seconds of a true one is a hit
PART_MINUTES = (5, 15)
PARTS = (3, 8)
# FONOTECA_BENCH_CACHE=folder keeps the documents' vectors between runs (the embedding is most of a run's time).
CACHE = Path(os.environ["FONOTECA_BENCH_CACHE"]) if os.environ.get("FONOTECA_BENCH_CACHE") else None
TARGETS = {"pk_vs_even": 0.6, "f1": 0.6}


@dataclass
class Document:
    corpus: str
    segments: list[Segment]
    joins: list[float]  # true boundaries (seconds), the start of every part after the first

    @property
    def end(self) -> float:
        return self.segments[-1].end


def excerpt(segments: list[Segment], rng: random.Random) -> list[Segment]:
    """A random stretch of 5–15 minutes (or the whole transcript when shorter), starting at a segment."""
    want = rng.uniform(*PART_MINUTES) * 60
    latest = max(0, next((i for i, s in enumerate(segments) if s.start > segments[-1].end - want), len(segments)) - 1)
    first = rng.randint(0, latest) if latest else 0
    out = []
    for s in segments[first:]:
        if s.end - segments[first].start > want and out:
            break
        out.append(s)
    return out


def build_documents(count: int, seed: int) -> list[Document]:
    rng = random.Random(seed)
    loaded = {corpus: [read_episode(p)[1] for p in episode_files(corpus)] for corpus in CORPORA}
    documents = []
    for n in range(count):
        corpus = list(CORPORA)[n % len(CORPORA)]
        episodes = [e for e in loaded[corpus] if e]
        parts = rng.sample(range(len(episodes)), rng.randint(*PARTS))
        clock, segments, joins = 0.0, [], []
        for part in parts:
            stretch = excerpt(episodes[part], rng)
            offset = clock - stretch[0].start
            if segments:
                joins.append(clock)
            for s in stretch:
                segments.append(
                    replace(s, start=s.start + offset, end=s.end + offset, idx=len(segments), episode_id="doc")
                )
            clock = segments[-1].end + 0.5
        documents.append(Document(corpus, segments, joins))
    return documents


def units(doc: Document, starts: list[float]) -> str:
    marks = ["0"] * (int(doc.end // UNIT) + 1)
    for t in starts:
        marks[min(len(marks) - 1, int(t // UNIT))] = "1"
    return "".join(marks)


def scores(doc: Document, found: list[float]) -> tuple[float, float, int, int, int]:
    """(Pk, WindowDiff, hits, found, true) of found boundaries (seconds, the first chapter's start left out)."""
    ref, hyp = units(doc, doc.joins), units(doc, found)
    k = max(2, round(len(ref) / (len(doc.joins) + 1) / 2))
    hits, used = 0, set()
    for t in found:
        near = [j for j in doc.joins if abs(j - t) <= TOLERANCE and j not in used]
        if near:
            used.add(min(near, key=lambda j: abs(j - t)))
            hits += 1
    return pk(ref, hyp, k=k), windowdiff(ref, hyp, k), hits, len(found), len(doc.joins)


def even_split(doc: Document) -> list[float]:
    parts = len(doc.joins) + 1
    return [doc.end * i / parts for i in range(1, parts)]


def word_texttiling(doc: Document) -> list[float]:
    """NLTK's TextTiling over the segments as paragraphs; boundaries mapped back to the segment they start at."""
    text = "\n\n".join(s.text.replace("\n", " ") for s in doc.segments)
    tiler = TextTilingTokenizer(stopwords=sorted(stopwords("es" if doc.corpus.startswith("venez") else "en")))
    try:
        tiles = tiler.tokenize(text)
    except ValueError:  # NLTK refuses text it finds too short to tile
        return []
    offsets, at = [], 0
    for tile in tiles[:-1]:
        at += len(tile)
        offsets.append(at)
    starts, cursor, out = [], 0, []
    for s in doc.segments:
        starts.append(cursor)
        cursor += len(s.text.replace("\n", " ")) + 2
    for offset in offsets:
        i = max(j for j, c in enumerate(starts) if c <= offset + 2)
        out.append(doc.segments[i].start)
    return out


def fonoteca_chapters(doc: Document, vectors: np.ndarray, spans: np.ndarray) -> list[float]:
    return [doc.segments[i].start for i in chapter_starts(doc.segments, vectors, spans)[1:]]


def summarise(name: str, rows: list[tuple[float, float, int, int, int]]) -> dict[str, float]:
    hits, found, true = (sum(r[i] for r in rows) for i in (2, 3, 4))
    precision = hits / found if found else 0.0
    recall = hits / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "name": name, "pk": float(np.mean([r[0] for r in rows])), "wd": float(np.mean([r[1] for r in rows])),
        "precision": precision, "recall": recall, "f1": f1,
    }  # fmt: skip


def run_boundaries(count: int, seed: int, lines: list[str]) -> None:
    documents = build_documents(count, seed)
    embedder = UseEmbedder()
    per_method: dict[str, list] = {"fonoteca": [], "even split": [], "word TextTiling (NLTK)": []}
    by_corpus: dict[tuple[str, str], list] = {}
    seconds_chapters = seconds_tiling = audio = 0.0
    embed_seconds = 0.0
    for doc in documents:
        cut = passages(doc.segments)
        t0 = time.perf_counter()
        texts = [p.text for p in cut]
        cached = CACHE / f"{hashlib.sha256(chr(0).join(texts).encode()).hexdigest()[:20]}.npy" if CACHE else None
        if cached and cached.exists():
            vectors = np.load(cached)
        else:
            vectors = np.concatenate(
                [embedder.embed(texts[i : i + BATCH], query=False) for i in range(0, len(texts), BATCH)]
            )
            if cached:
                np.save(cached, vectors)
        embed_seconds += time.perf_counter() - t0
        spans = spans_of(cut)
        t0 = time.perf_counter()
        found = fonoteca_chapters(doc, vectors, spans)
        seconds_chapters += time.perf_counter() - t0
        t0 = time.perf_counter()
        tiled = word_texttiling(doc)
        seconds_tiling += time.perf_counter() - t0
        audio += doc.end
        for name, result in (("fonoteca", found), ("even split", even_split(doc)), ("word TextTiling (NLTK)", tiled)):
            row = scores(doc, result)
            per_method[name].append(row)
            by_corpus.setdefault((doc.corpus, name), []).append(row)
    hours = audio / 3600
    parts = [len(d.joins) + 1 for d in documents]
    lines += [
        f"documents: {len(documents)} ({sum(d.corpus.startswith('talk') for d in documents)} Talk Python, "
        f"{sum(d.corpus.startswith('venez') for d in documents)} Venezolanos), {min(parts)}-{max(parts)} parts "
        f"(mean {np.mean(parts):.1f}), {hours:.1f} h of audio in all; seed {seed}",
        f"passages embedded with {embedder.name} in {embed_seconds:.1f} s (not counted below)",
        "",
        f"{'method':<26} {'Pk':>6} {'WinDiff':>8} {'P':>6} {'R':>6} {'F1':>6}",
    ]
    results = {}
    for name, rows in per_method.items():
        r = summarise(name, rows)
        results[name] = r
        lines.append(
            f"{name:<26} {r['pk']:6.3f} {r['wd']:8.3f} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f}"
        )
    lines.append("")
    for (corpus, name), rows in sorted(by_corpus.items()):
        r = summarise(name, rows)
        lines.append(f"  {CORPORA[corpus][0]:<18} {name:<24} Pk {r['pk']:.3f}  WD {r['wd']:.3f}  F1 {r['f1']:.3f}")
    ours, even, tiling = results["fonoteca"], results["even split"], results["word TextTiling (NLTK)"]
    pk_target = TARGETS["pk_vs_even"] * even["pk"]
    lines += [
        "",
        f"time per hour of audio (vectors computed): fonoteca {seconds_chapters / hours:.3f} s, "
        f"NLTK TextTiling {seconds_tiling / hours:.3f} s",
        f"targets: Pk <= {TARGETS['pk_vs_even']} x even split: {ours['pk']:.3f} vs {pk_target:.3f} -> "
        f"{'met' if ours['pk'] <= pk_target else 'MISSED'}; "
        f"F1 >= {TARGETS['f1']}: {ours['f1']:.3f} -> {'met' if ours['f1'] >= TARGETS['f1'] else 'MISSED'}; "
        f"better than word TextTiling (Pk and F1): "
        f"{'met' if ours['pk'] < tiling['pk'] and ours['f1'] > tiling['f1'] else 'MISSED'}; "
        f"< 2 s per hour: {'met' if seconds_chapters / hours < 2 else 'MISSED'}",
    ]


def run_grounding(every: int, lines: list[str]) -> None:
    """Every `every`-th episode of both corpora in one archive, overviews made as after_transcripts makes them with
    FONOTECA_EMBEDDINGS=none (passages compared by their words: the same quotes, topics and titles are checked, without
    embedding hundreds of hours first), then each key moment, topic and chapter title checked against its transcript."""
    import tempfile

    from fonoteca.app import Fonoteca
    from fonoteca.archive import EpisodeKind, Source, SourceKind
    from fonoteca.meaning.grounding import Grounding
    from fonoteca.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="fonoteca-bench-chapters-"))
    settings = Settings.from_env(environ={}, home=home, embeddings="none")
    moments = verbatim = topics = topics_in = titles = titles_in = 0
    episodes = 0
    with Fonoteca(settings) as app:
        for corpus, (title, language) in CORPORA.items():
            show, _ = app.archive.add_show(title=title, source=f"bench://{corpus}", source_kind=SourceKind.TRANSCRIPTS)
            for path in episode_files(corpus)[::every]:
                name, segments = read_episode(path)
                episode, _ = app.archive.upsert_episode(show, guid=str(path), title=name, kind=EpisodeKind.AUDIO)
                app.archive.replace_transcript(
                    episode.id, segments, source=Source.IMPORTED, language=language, duration=segments[-1].end
                )
        app.update_index()
        t0 = time.perf_counter()
        app.glance()
        seconds = time.perf_counter() - t0
        for episode in app.archive.list_episodes():
            _, overview = app.overview(episode.id)
            if overview is None:
                continue
            episodes += 1
            segments = app.archive.segments(episode.id, words=False)
            text = " ".join(" ".join(s.text.split()) for s in segments)
            grounding = Grounding.of(text, episode.language)
            moments += len(overview.moments)
            verbatim += sum(" ".join(m.quote.split()) in text for m in overview.moments)
            topics += len(overview.topics)
            topics_in += sum(grounding.grounded(t.term) for t in overview.topics)
            for n, chapter in enumerate(overview.chapters):
                end = overview.chapters[n + 1].start if n + 1 < len(overview.chapters) else float("inf")
                said = " ".join(s.text for s in segments if s.start < end and (n == 0 or s.start >= chapter.start))
                titles += 1
                titles_in += Grounding.of(said, episode.language).grounded(chapter.title)
    lines += [
        "",
        f"grounding: {episodes} episodes (every {every}th of both corpora), overviews made in {seconds:.1f} s",
        f"  key moments verbatim in their transcript: {verbatim}/{moments} ({100 * verbatim / max(1, moments):.1f} %)",
        f"  topics said in their episode:            {topics_in}/{topics} ({100 * topics_in / max(1, topics):.1f} %)",
        f"  chapter titles said in their chapter:    {titles_in}/{titles} ({100 * titles_in / max(1, titles):.1f} %)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=48)
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--parts", nargs="+", default=["boundaries", "grounding"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--grounding-every", type=int, default=1, help="check every Nth episode of the corpora")
    args = parser.parse_args()
    lines = [
        "bench/chapters.py — chapters, key moments and topics on real transcripts",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "other engineers' work ran beside it (timings are noisy, ratios hold)",
        "",
    ]
    if "boundaries" in args.parts:
        run_boundaries(args.documents, args.seed, lines)
    if "grounding" in args.parts:
        run_grounding(args.grounding_every, lines)
    print("\n".join(lines))
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
