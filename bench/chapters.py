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
    python bench/chapters.py --parts grounding [--grounding-every 1] [--llm-every 20]   # chapters-grounding.txt
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
from retrieval import CORPORA, TRANSCRIPTS, episode_files, read_episode

from fonoteca.app import Fonoteca
from fonoteca.archive import Episode, Segment
from fonoteca.ingest.transcripts import parse_transcript
from fonoteca.meaning.chapters import chapter_starts
from fonoteca.meaning.embed import spans_of
from fonoteca.meaning.embedders import BATCH, UseEmbedder
from fonoteca.meaning.keyness import stopwords
from fonoteca.meaning.passages import passages
from fonoteca.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "chapters.txt"
GROUNDING_RESULTS = RESULTS.with_name("chapters-grounding.txt")  # where --parts grounding alone writes
UNIT = 5.0  # seconds per unit of Pk and WindowDiff
TOLERANCE = 30.0  # a found boundary within this many seconds of a true one is a hit
PART_MINUTES = (5, 15)
PARTS = (3, 8)
# FONOTECA_BENCH_CACHE=folder keeps the documents' vectors between runs (the embedding is most of a run's time).
CACHE = Path(os.environ["FONOTECA_BENCH_CACHE"]) if os.environ.get("FONOTECA_BENCH_CACHE") else None
TARGETS = {"pk_vs_even": 0.6, "f1": 0.6}
TUNED, HELD_OUT = "tuned-on half", "held-out half"


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
    stop = stopwords("es" if doc.corpus.startswith("venez") else "en")
    return [doc.segments[i].start for i in chapter_starts(doc.segments, vectors, spans, stop)[1:]]


def summarise(name: str, rows: list[tuple[float, float, int, int, int]]) -> dict[str, float]:
    hits, found, true = (sum(r[i] for r in rows) for i in (2, 3, 4))
    precision = hits / found if found else 0.0
    recall = hits / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "name": name, "pk": float(np.mean([r[0] for r in rows])), "wd": float(np.mean([r[1] for r in rows])),
        "precision": precision, "recall": recall, "f1": f1,
    }  # fmt: skip


def half(n: int) -> str:
    """Which half document n is in: pairs of consecutive documents (one of each show) alternate between the half the
    parameters of fonoteca.meaning.chapters were chosen on and the half they were not."""
    return TUNED if (n // 2) % 2 == 0 else HELD_OUT


def run_boundaries(count: int, seed: int, lines: list[str]) -> None:
    documents = build_documents(count, seed)
    embedder = UseEmbedder()
    methods = ("fonoteca", "even split", "word TextTiling (NLTK)")
    rows: dict[tuple[str, str], list] = {}  # (group, method) -> per-document scores; group: a half, a show or "all"
    seconds_chapters = seconds_tiling = audio = 0.0
    embed_seconds = 0.0
    read = 0
    for n, doc in enumerate(documents):
        cut = passages(doc.segments)
        t0 = time.perf_counter()
        texts = [p.text for p in cut]
        cached = CACHE / f"{hashlib.sha256(chr(0).join(texts).encode()).hexdigest()[:20]}.npy" if CACHE else None
        if cached and cached.exists():
            vectors = np.load(cached)
            read += 1
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
        for name, result in zip(methods, (found, even_split(doc), tiled), strict=True):
            row = scores(doc, result)
            for group in ("all", half(n), CORPORA[doc.corpus][0]):
                rows.setdefault((group, name), []).append(row)
    hours = audio / 3600
    parts = [len(d.joins) + 1 for d in documents]
    lines += [
        f"documents: {len(documents)} ({sum(d.corpus.startswith('talk') for d in documents)} Talk Python, "
        f"{sum(d.corpus.startswith('venez') for d in documents)} Venezolanos), {min(parts)}-{max(parts)} parts "
        f"(mean {np.mean(parts):.1f}), {hours:.1f} h of audio in all; seed {seed}",
        f"passages embedded with {embedder.name} in {embed_seconds:.1f} s (not counted below)"
        + (f"; {read} documents' vectors read from FONOTECA_BENCH_CACHE, made by an earlier run" if read else ""),
        f"{TUNED}: documents 0-1, 4-5, 8-9, ... ({sum(half(n) == TUNED for n in range(len(documents)))}); "
        f"{HELD_OUT}: 2-3, 6-7, ... ({sum(half(n) == HELD_OUT for n in range(len(documents)))})",
    ]
    groups = ["all", TUNED, HELD_OUT, *(title for title, _ in CORPORA.values())]
    results: dict[tuple[str, str], dict] = {}
    for group in groups:
        lines += ["", f"{group}", f"  {'method':<26} {'Pk':>6} {'WinDiff':>8} {'P':>6} {'R':>6} {'F1':>6}"]
        for name in methods:
            r = results[group, name] = summarise(name, rows[group, name])
            lines.append(
                f"  {name:<26} {r['pk']:6.3f} {r['wd']:8.3f} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f}"
            )
    lines += [
        "",
        f"time per hour of audio (vectors computed): fonoteca {seconds_chapters / hours:.3f} s, "
        f"NLTK TextTiling {seconds_tiling / hours:.3f} s",
    ]
    for group in (HELD_OUT, "all"):
        ours, even, tiling = (results[group, name] for name in methods)
        pk_target = TARGETS["pk_vs_even"] * even["pk"]
        lines.append(
            f"targets ({group}): Pk <= {TARGETS['pk_vs_even']} x even split: {ours['pk']:.3f} vs {pk_target:.3f} -> "
            f"{'met' if ours['pk'] <= pk_target else 'MISSED'}; "
            f"F1 >= {TARGETS['f1']}: {ours['f1']:.3f} -> {'met' if ours['f1'] >= TARGETS['f1'] else 'MISSED'}; "
            f"better than word TextTiling (Pk and F1): "
            f"{'met' if ours['pk'] < tiling['pk'] and ours['f1'] > tiling['f1'] else 'MISSED'}; "
            f"< 2 s per hour: {'met' if seconds_chapters / hours < 2 else 'MISSED'}"
        )


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / max(1, whole):.1f} %)"


def grounding_corpora() -> list[tuple[str, str, list[tuple[str, list[Segment]]]]]:
    """(show, language, [(title, segments)]) of every episode of the shared corpora: the Talk Python VTTs, the
    Venezolanos transcripts and the Podcasting 2.0 spec's example transcripts (one episode per format)."""
    out = []
    for corpus, (title, language) in CORPORA.items():
        out.append((title, language, [read_episode(path) for path in episode_files(corpus)]))
    examples = TRANSCRIPTS / "podcast20_spec_examples" / "transcripts"
    out.append(
        (
            "Podcasting 2.0 examples",
            "en",
            [(path.name, parse_transcript(path.read_bytes(), path.suffix[1:])) for path in sorted(examples.glob("*.*"))
             if path.suffix in (".html", ".json", ".srt", ".vtt")],
        )
    )  # fmt: skip
    return out


def run_grounding(every: int, llm_every: int, lines: list[str]) -> None:
    """Every `every`-th episode of each show of the shared corpora (in the corpus' file order, from the first) in one
    archive, overviews made as after_transcripts makes them with FONOTECA_EMBEDDINGS=none (passages compared by their
    words: the same quotes, topics and titles are made and checked, without embedding hundreds of hours first), then
    each key moment, topic and chapter title checked against its transcript. With `llm_every`, every `llm_every`-th
    of each show's checked episodes is also analysed by the embedded SmolLM2-135M model (see run_embedded_model)."""
    import tempfile

    from fonoteca.archive import EpisodeKind, Source, SourceKind
    from fonoteca.meaning.grounding import Grounding

    home = Path(tempfile.mkdtemp(prefix="fonoteca-bench-chapters-"))
    settings = Settings.from_env(environ={}, home=home, embeddings="none")
    moments = verbatim = topics = topics_in = titles = titles_in = 0
    episodes = 0
    shows = []
    by_show: list[list[str]] = []  # each show's checked episodes' ids, in the corpus' order
    with Fonoteca(settings) as app:
        for title, language, transcripts in grounding_corpora():
            show, _ = app.archive.add_show(title=title, source=f"bench://{title}", source_kind=SourceKind.TRANSCRIPTS)
            chosen = transcripts[::every]
            shows.append(f"{len(chosen)} of {len(transcripts)} {title}")
            by_show.append([])
            for name, segments in chosen:
                episode, _ = app.archive.upsert_episode(show, guid=name, title=name, kind=EpisodeKind.AUDIO)
                app.archive.replace_transcript(
                    episode.id, segments, source=Source.IMPORTED, language=language, duration=segments[-1].end
                )
                by_show[-1].append(episode.id)
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
            f"grounding: {episodes} episodes ({', '.join(shows)}), overviews made in {seconds:.1f} s",
            f"  key moments verbatim in their transcript: {share(verbatim, moments)}",
            f"  topics said in their episode:            {share(topics_in, topics)}",
            f"  chapter titles said in their chapter:    {share(titles_in, titles)}",
        ]
        if llm_every:
            sample = [ids[::llm_every] for ids in by_show]
            # The shows taken in turn, so that a run stopped early has analysed some of each.
            turns = [ids[n] for n in range(max(map(len, sample))) for ids in sample if n < len(ids)]
            chosen_by = f"every {every * llm_every}th episode of each show in its corpus' file order, from the first"
            run_embedded_model(settings, [app.archive.get_episode(i) for i in turns], chosen_by, lines)


@dataclass
class Tally:
    """What the grounding check did to one kind of the model's items over the episodes analysed."""

    proposed: list[int]  # per episode whose analysis of this kind worked
    dropped: list[int]
    failed: int = 0  # episodes whose analysis of this kind failed (no valid answer)

    def line(self, kind: str, seed: int = 27) -> str:
        n, k = sum(self.proposed), sum(self.dropped)
        if not n:
            return f"  {kind:<9} no items proposed ({self.failed} failed)"
        low, high = wilson(k, n)
        # Items of one episode are not independent (one transcript, one answer): resample episodes too.
        rng = np.random.default_rng(seed)
        proposed, dropped = np.array(self.proposed), np.array(self.dropped)
        draws = rng.integers(0, len(proposed), size=(2000, len(proposed)))
        rates = dropped[draws].sum(axis=1) / np.maximum(1, proposed[draws].sum(axis=1))
        boot_low, boot_high = np.percentile(rates, [2.5, 97.5])
        return (
            f"  {kind:<9} dropped {share(k, n)} of the items proposed on {len(self.proposed)} episodes; 95 % interval "
            f"{100 * low:.1f}-{100 * high:.1f} % (Wilson, items), {100 * boot_low:.1f}-{100 * boot_high:.1f} % "
            f"(episodes resampled); {self.failed} episodes failed"
        )


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (95 % with z = 1.96)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half_width = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def run_embedded_model(settings: Settings, episodes: list[Episode], chosen_by: str, lines: list[str]) -> None:
    """The embedded SmolLM2-135M model's topics and entities of `episodes`, and how many of its items the grounding
    check drops (kept in each stored result under `dropped`), per kind, with the model's requests and tokens. Ctrl-C
    or SIGTERM stops it early: what was analysed until then is still summarised."""
    from fonoteca.llm.server import LocalServer, free_port

    tallies = {"topics": Tally([], []), "entities": Tally([], [])}
    examples: dict[str, list[str]] = {"topics": [], "entities": []}
    errors: list[str] = []
    done = 0
    stopped = ""
    t0 = time.perf_counter()
    server = LocalServer(port=free_port())
    with server.running(), Fonoteca(settings.replace(llm_base_url=server.base_url)) as model_app:
        analyzer = model_app.analyzer()
        try:
            for episode in episodes:
                results, failures = analyzer.analyze_each(episode, ["topics", "entities"])
                for kind, exc in failures.items():
                    tallies[kind].failed += 1
                    errors.append(f"{kind}: {str(exc)[:100]}")
                said = []
                if "topics" in results:
                    topics = results["topics"].result
                    tallies["topics"].proposed.append(len(topics["topics"]) + len(topics["dropped"]))
                    tallies["topics"].dropped.append(len(topics["dropped"]))
                    examples["topics"] += [f"{t} ({episode.language})" for t in topics["dropped"][:2]]
                    said.append(f"topics dropped {len(topics['dropped'])} of {tallies['topics'].proposed[-1]}")
                if "entities" in results:
                    entities = results["entities"].result
                    lost = [name for names in entities["dropped"].values() for name in names]
                    kept = sum(len(v) for k, v in entities.items() if k != "dropped")
                    tallies["entities"].proposed.append(kept + len(lost))
                    tallies["entities"].dropped.append(len(lost))
                    examples["entities"] += [f"{name} ({episode.language})" for name in lost[:2]]
                    said.append(f"entities dropped {len(lost)} of {kept + len(lost)}")
                done += 1
                print(  # as it goes: a run cut short still says what it measured
                    f"  {done}/{len(episodes)} {episode.title[:40]!r} ({(episode.duration or 0) / 60:.0f} min): "
                    f"{'; '.join(said) or 'both failed'}; {dict(analyzer.client.calls)} requests so far; "
                    f"{time.perf_counter() - t0:.0f} s so far",
                    flush=True,
                )
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (LocalServer.running raises Stopped for them)
            stopped = f", STOPPED EARLY after {done} of the {len(episodes)} episodes planned"
        calls = dict(analyzer.client.calls)
    seconds = time.perf_counter() - t0
    minutes = sum((e.duration or 0) for e in episodes[:done]) / 60
    lines += [
        "",
        f"embedded model (SmolLM2-135M through llama.cpp, context {settings.llm_context} tokens): {done} episodes "
        f"({minutes / 60:.1f} h of transcripts) analysed for topics and entities in {seconds:.0f} s "
        f"({seconds / max(1, done):.0f} s each){stopped}",
        f"  sample: {chosen_by}; the shows taken in turn",
        f"  requests: {calls}",
        *(tally.line(kind) for kind, tally in tallies.items()),
        "  chapter titles: the embedded model writes none (only a capable endpoint, FONOTECA_LLM_CAPABLE, does)",
    ]
    for kind, said in examples.items():
        lines.append(f"  e.g. {kind} dropped: {', '.join(repr(e) for e in said[:12])}")
    if errors:
        lines.append(f"  failures: {'; '.join(sorted(set(errors))[:6])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=48)
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--parts", nargs="+", default=["boundaries", "grounding"])
    parser.add_argument("--out", type=Path, default=None, help="default: results/chapters.txt, or -grounding.txt")
    parser.add_argument("--grounding-every", type=int, default=1, help="check every Nth episode of the corpora")
    parser.add_argument(
        "--llm-every",
        type=int,
        default=0,
        help="also analyse every Nth checked episode of each show with the embedded 135M model (Ctrl-C stops it early "
        "with a summary of what it did)",
    )
    args = parser.parse_args()
    lines = [
        "bench/chapters.py — chapters, key moments and topics on real transcripts",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "other engineers' work ran beside it (timings are noisy, ratios hold)",
        "",
    ]
    if "boundaries" in args.parts:
        run_boundaries(args.documents, args.seed, lines)
    out = args.out or (RESULTS if "boundaries" in args.parts else GROUNDING_RESULTS)
    if "grounding" in args.parts:
        run_grounding(args.grounding_every, args.llm_every, lines)
    print("\n".join(lines))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
