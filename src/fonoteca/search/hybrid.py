"""Search by meaning, and hybrid search: the question's nearest passages in the scope (an approximate-nearest-neighbour
index over the archive's vectors, exact within a small scope: fonoteca.search.ann), fused with the keyword search's
BM25 hits by reciprocal rank fusion, the fusion of cast2md and of most hybrid engines: it needs no score calibration
between two scales that have nothing in common.

A hit is still a moment. A passage the keywords also found is shown as the keyword hit inside it (its segment, its
second, its highlighted words); a passage found by meaning alone shows its own text, without highlights, from its
first second, and says so (`Hit.matched == "meaning"`). Without vectors for the scope (nothing embedded yet, the
model cannot load, FONOTECA_EMBEDDINGS=none) the answer is the keyword search's, and `SearchResults.note` says why.

What was typed decides the ranking (fonoteca.search.query.intent): a quoted phrase, an exclusion, a prefix or a few
plain words put every keyword hit before the passages found by meaning alone; a question or a sentence fuses both.
In a partly embedded scope the note says how much of it is embedded, and neither ranking lets the embedded part take
the places of what only the words can find (bench/retrieval.py measures both states on a 530-episode archive).

A speaker's filter is exact by meaning too: a passage (30–60 s) often spans a change of speaker, and it is the
speaker's when they say most of its words (its main voice, what it means is mostly theirs); a keyword hit is theirs
when its line is. Unfiltered searches do none of this work.

The vectors are read through this machine's vector index (VectorIndex, which fonoteca.app.Fonoteca holds with the
model and the keyword index): memory-mapped and shared by every process that searches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from fonoteca.archive import Archive, Segment
from fonoteca.archive.models import epoch
from fonoteca.errors import ConfigError, FonotecaError
from fonoteca.meaning.embedders import Embedder
from fonoteca.meaning.questions import QuestionBatch
from fonoteca.search import Hit, SearchResults, episode_url, keyword_search, occurrences
from fonoteca.search.ann import IndexBeingBuilt, PassageVectors, VectorIndex
from fonoteca.search.index import SearchIndex, speaker_key
from fonoteca.search.query import Clause, in_order, intent, parse
from fonoteca.search.scope import EVERYWHERE, SearchScope
from fonoteca.text import words

MODES = ("keyword", "meaning", "hybrid")
RRF_K = 60  # the constant of the reciprocal rank fusion paper (Cormack et al. 2009), as cast2md uses it
# A rank by meaning counts twice a rank by words: on the labelled questions of bench/retrieval.py (USE, 80 questions,
# the chat's OR-of-keywords list fused with meaning's top 100) it lifts recall@10 from 0.62 to 0.71 overall, 0.48 to
# 0.59 on paraphrases, 0.92 to 0.96 on literal ones.
MEANING_WEIGHT = 2.0
CANDIDATES = 100  # hits each side brings to the fusion; a page further than this has nothing new to fuse

_WORDS_ONLY = "by words only: this scope cannot be searched by meaning yet (see the note)"
_NOTHING_EMBEDDED = (
    "nothing in this scope is embedded for search by meaning yet (`fonoteca embed` does it): these are keyword results"
)


class HybridSearch:
    """Every mode of search over one archive and its index. `embedder` is called for the embeddings model only when
    meaning is searched (loading one is slow, and most scopes of a fresh archive have no vectors); `questions` embeds
    each question, with those of the searches announced to come. `meaning_off` (FONOTECA_EMBEDDINGS=none): a search
    that names no mode is by keywords."""

    def __init__(
        self,
        archive: Archive,
        index: SearchIndex,
        vectors: VectorIndex,
        embedder: Callable[[], Embedder],
        questions: QuestionBatch,
        *,
        meaning_off: bool = False,
    ) -> None:
        self.archive = archive
        self.index = index
        self.vectors = vectors
        self.embedder = embedder
        self.questions = questions
        self.meaning_off = meaning_off
        self.embedded = False  # whether anything was embedded when last asked

    def search(
        self,
        query: str,
        scope: SearchScope = EVERYWHERE,
        *,
        mode: str | None = None,
        meaning_query: str | None = None,
        limit: int = 20,
        offset: int = 0,
        order: str = "relevance",
    ) -> SearchResults:
        """Search the scope in `mode` (keyword, meaning or hybrid; None: hybrid where the scope has vectors, else
        keyword). `meaning_query` is what the meaning side embeds when it differs from the keyword query (the chat's
        question beside its OR-of-keywords); what was typed (it, else `query`) decides how hybrid search ranks
        (query.intent). In hybrid search a passage less similar to the question than the model's `min_similarity` is
        no match: the nearest passages of an archive that has nothing on the subject are no answer (and the chat's
        "not found" stays one); a search by meaning alone ranks them all. Raises ConfigError for an unknown mode."""
        if mode is not None and mode not in MODES:
            raise ConfigError(f"unknown search mode {mode!r}", f"use one of {', '.join(MODES)}")
        archive = self.archive
        wanted = intent(meaning_query if meaning_query is not None else query)

        def by_keywords(note: str = "", reason: str = "", *, size: int = limit, start: int = offset) -> SearchResults:
            found = keyword_search(archive, self.index, query, scope, limit=size, offset=start, order=order)
            return replace(found, mode="keyword", note=note, reason=reason)

        if mode == "keyword":
            return by_keywords()
        if mode is None and self.meaning_off:
            return by_keywords(reason="by words only: search by meaning is turned off (FONOTECA_EMBEDDINGS=none)")
        # Nothing embedded at all: not worth loading a model to find that out. Once something is, it is not asked again
        # (an archive whose vectors all go finds the scope without vectors below).
        self.embedded = self.embedded or archive.vectors.any()
        if not self.embedded:
            return by_keywords(_NOTHING_EMBEDDED, _WORDS_ONLY)
        text = meaning_query if meaning_query is not None else question_of(query)
        if not text.strip():  # only exclusions: nothing to look for
            return by_keywords()
        try:
            embedder = self.embedder()
            loaded = self.vectors.passages(archive, embedder.name, embedder.dim)
            allowed = scope.allows(loaded.episode_show, loaded.episode_ids, loaded.epochs)
            embedded = int(allowed.sum())
            if scope.speaker is not None:  # only the episodes the speaker says something in (the index knows)
                allowed &= np.isin(loaded.episode_ids, list(_episodes_of(self.index, scope)))
            question = self.questions.vector(embedder, text) if allowed.any() else None
        except IndexBeingBuilt as exc:
            return by_keywords(f"{exc}; these are keyword results meanwhile", _WORDS_ONLY)
        except (FonotecaError, OSError) as exc:  # an endpoint gone, a model that cannot load
            return by_keywords(f"search by meaning is unavailable ({exc}); these are keyword results", _WORDS_ONLY)
        damaged = loaded.damaged[0] if loaded.damaged else ""
        if question is None:
            return by_keywords(" ".join(filter(None, [_NOTHING_EMBEDDED, damaged])), _WORDS_ONLY)
        share = _embedded_share(archive, scope, embedded)
        note = " ".join(filter(None, [share, damaged]))
        if scope.speaker is None:
            rows, scores = loaded.nearest(question, allowed, CANDIDATES)
        else:
            rows, scores = _nearest_said_by(archive, loaded, question, allowed, scope.speaker)
        if mode == "meaning":
            by_meaning = [(int(row), float(score)) for row, score in zip(rows, scores, strict=True)]
            page = _page(archive, loaded, _fuse(loaded, [], by_meaning), order=order, excluded=parse(query).must_not,
                         offset=offset, limit=limit, literal_first=False)  # fmt: skip
            return replace(page, mode="meaning", note=note)
        # The top CANDIDATES of those similar enough are the similar enough ones of the top CANDIDATES.
        keep = scores >= embedder.min_similarity
        by_meaning = [(int(row), float(score)) for row, score in zip(rows[keep], scores[keep], strict=True)]
        if wanted.literal:
            # Every keyword hit of the page must be among those fetched, so pages past the fusion's candidates still
            # list what the words found before anything found by meaning alone.
            size = max(CANDIDATES, offset + limit)
            all_words = by_keywords(size=size, start=0)
            tiers = [all_words.hits]
            phrase = in_order(query)
            if phrase:  # plain words said in the order typed come before the same words apart
                said = keyword_search(archive, self.index, phrase, scope, limit=size, offset=0, order=order).hits
                heard = {(h.episode_id, h.start) for h in said}
                tiers = [said, [h for h in all_words.hits if (h.episode_id, h.start) not in heard]]
            fused = _literal_first(loaded, tiers, by_meaning)
            unfetched = all_words.total - sum(len(tier) for tier in tiers)
        else:
            fused = _fuse(loaded, by_keywords(size=CANDIDATES, start=0).hits, by_meaning)
            unfetched = 0
        page = _page(archive, loaded, fused, order=order, excluded=parse(query).must_not, offset=offset, limit=limit,
                     literal_first=wanted.literal)  # fmt: skip
        reason = ("by words, then by meaning: " if wanted.literal else "by meaning and words together: ") + wanted.why
        return replace(page, total=page.total + unfetched, mode="hybrid", note=note, reason=reason)


def _episodes_of(index: SearchIndex, scope: SearchScope) -> set[str]:
    """The episodes of the scope's show (or all) in which its speaker says something: one aggregation of the index."""
    from fonoteca.search.trends import speaker_shares

    return {episode for said in speaker_shares(index, scope).values() for episode in said}


def _nearest_said_by(
    archive: Archive, loaded: PassageVectors, question: np.ndarray, allowed: np.ndarray, speaker: str
) -> tuple[np.ndarray, np.ndarray]:
    """The CANDIDATES passages nearest the question (of the `allowed` episodes) whose main voice is `speaker` (its
    index.speaker_key): the one who says most of a passage's words, as a passage often spans a change of speaker and
    means what its main voice says. The nearest passages are asked for in growing numbers until enough of them are
    the speaker's or none is left, so the ranking is the unfiltered one's, restricted: as exact as it is."""
    in_scope = int(loaded.row_count[allowed].sum())
    voices: dict[int, bool] = {}
    ask = CANDIDATES * 4
    while True:
        rows, scores = loaded.nearest(question, allowed, min(ask, in_scope))
        theirs = np.array([voices.setdefault(int(r), _main_voice(archive, loaded, int(r)) == speaker) for r in rows])
        if int(theirs.sum()) >= CANDIDATES or ask >= in_scope:
            return rows[theirs][:CANDIDATES], scores[theirs][:CANDIDATES]
        ask *= 4


def _main_voice(archive: Archive, loaded: PassageVectors, row: int) -> str | None:
    """The speaker_key of the speaker who says most of the passage's words (the first to speak on a tie), or None
    when its lines name nobody."""
    _start, _end, first, last = loaded.spans[row]
    said: dict[str, int] = {}
    for segment in archive.segments(loaded.episode_of(row), words=False, first=int(first), last=int(last)):
        if segment.speaker and segment.speaker.strip():
            key = speaker_key(segment.speaker)
            said[key] = said.get(key, 0) + len(segment.text.split())
    return max(said, key=lambda key: said[key]) if said else None


def _embedded_share(archive: Archive, scope: SearchScope, embedded: int) -> str:
    """A note saying how much of the scope is embedded, when not all of it is (`embedded`: its episodes in the
    matrix). The scope's transcribed episodes come from the archive's timeline, which a thread keeps until the archive
    changes: asking the vector store which episodes are still to embed read every vector row's header, ~0.2 s a query
    at 1,500 hours (bench/search.py)."""
    transcribed = archive.timeline(scope.show_id)  # already only the scope's show
    in_scope = len(transcribed)
    if scope.episode_id is not None or scope.dated:
        in_scope = int(
            scope.allows(
                np.array([e.show_id for e in transcribed], np.int64), [e.id for e in transcribed],
                np.array([epoch(e.published) for e in transcribed], np.int64),
            ).sum()
        )  # fmt: skip
    waiting = in_scope - embedded
    if waiting <= 0:
        return ""
    total = embedded + waiting
    return (
        f"{embedded * 100 // total}% of this scope is embedded for search by meaning ({embedded} of {total} "
        "episodes); the rest is found by its words only until `fonoteca embed` (or the web server) embeds it"
    )


@dataclass
class _Fused:
    score: float
    row: int | None  # the matrix row of a passage found by meaning alone
    similarity: float | None
    hit: Hit | None  # the keyword hit inside the passage, if the keywords found it


def _credited(
    loaded: PassageVectors, by_words: list[Hit], by_meaning: list[tuple[int, float]]
) -> tuple[list[tuple[_Fused, bool]], list[_Fused]]:
    """Each keyword hit with its reciprocal rank, plus that of the passage it falls in when meaning found it too, and
    whether its episode is embedded; then the passages found by meaning alone. A passage lends its rank to the best
    keyword hit inside it only, and is a hit of its own only when no keyword hit is."""
    meaning = {row: (rank, similarity) for rank, (row, similarity) in enumerate(by_meaning, start=1)}
    episode_index = loaded.slot
    words_found, credited = [], set()
    for rank, hit in enumerate(by_words, start=1):
        entry = _Fused(1 / (RRF_K + rank), None, None, hit)
        row = _passage_row(loaded, episode_index.get(hit.episode_id), hit.start)
        if row in meaning and row not in credited:
            meaning_rank, entry.similarity = meaning[row]
            entry.score += MEANING_WEIGHT / (RRF_K + meaning_rank)
            credited.add(row)
        words_found.append((entry, row is not None))
    meaning_only = [
        _Fused(MEANING_WEIGHT / (RRF_K + rank), row, sim, None)
        for row, (rank, sim) in meaning.items()
        if row not in credited
    ]
    return words_found, meaning_only


def _fuse(loaded: PassageVectors, by_words: list[Hit], by_meaning: list[tuple[int, float]]) -> list[_Fused]:
    """Reciprocal rank fusion of both lists. A keyword hit in an episode that is not embedded yet counts as if
    meaning had ranked it where the words did: what meaning cannot see is not ranked below what it can (in a partly
    embedded archive the embedded part would otherwise take the whole page, bench/retrieval.py measures it)."""
    words_found, meaning_only = _credited(loaded, by_words, by_meaning)
    for rank, (entry, embedded) in enumerate(words_found, start=1):
        if not embedded:
            entry.score += MEANING_WEIGHT / (RRF_K + rank)
    fused = [entry for entry, _embedded in words_found] + meaning_only
    return sorted(fused, key=lambda f: (-f.score, f.hit is None))  # a tie goes to what the words found


def _literal_first(loaded: PassageVectors, tiers: list[list[Hit]], by_meaning: list[tuple[int, float]]) -> list[_Fused]:
    """Every keyword hit, tier after tier, before any passage found by meaning alone. Within a tier the hits of
    embedded episodes are reordered by the fusion among the places the keyword ranking gave them, and the others keep
    theirs: meaning reorders what it can see without taking places from what it cannot."""
    words_found, meaning_only = _credited(loaded, [hit for tier in tiers for hit in tier], by_meaning)
    ranked = [entry for entry, _embedded in words_found]
    start = 0
    for tier in tiers:
        places = [place for place in range(start, start + len(tier)) if words_found[place][1]]
        for place, entry in zip(places, sorted((ranked[p] for p in places), key=lambda f: -f.score), strict=True):
            ranked[place] = entry
        start += len(tier)
    return ranked + meaning_only


def _passage_row(loaded: PassageVectors, episode: int | None, start: float) -> int | None:
    if episode is None:
        return None
    first = int(loaded.first_row[episode])
    starts = loaded.spans[first : first + int(loaded.row_count[episode]), 0]
    at = int(np.searchsorted(starts, start + 1e-3, side="right")) - 1  # float32 times: a millisecond's leeway
    return first + max(at, 0)


def _page(
    archive: Archive,
    loaded: PassageVectors,
    fused: list[_Fused],
    *,
    order: str,
    excluded: list[Clause],
    offset: int,
    limit: int,
    literal_first: bool,
) -> SearchResults:
    """The fused list's page of hits, and how many there are (newest first within each tier when `literal_first`).
    A passage found by meaning alone gets its own text from the archive, only for the page (reading and marking up a
    hundred passages was a third of a query's time), and is left out when it says a word the query excludes
    (`-word`), as a keyword hit would be."""
    ids = [f.hit.episode_id if f.hit else loaded.episode_of(f.row) for f in fused]
    episodes = archive.cards_by_ids(ids)  # one deleted since it was embedded is absent: not a result
    found = [(f, episode_id) for f, episode_id in zip(fused, ids, strict=True) if episode_id in episodes]
    texts: dict[int, tuple[str, str | None]] = {}  # a passage's text and its one voice, read once

    def read_passages(rows: Iterable[int]) -> None:
        spans = {row: _span_of(loaded, row) for row in rows if row not in texts}
        said = archive.passages(spans.values())
        for row, span in spans.items():
            texts[row] = _text_and_voice(said[span])

    if excluded:
        read_passages(f.row for f, _episode_id in found if f.hit is None)
        found = [
            (f, episode_id)
            for f, episode_id in found
            if f.hit is not None or not any(occurrences(c, words(texts[f.row][0])) for c in excluded)
        ]
    if order == "date":
        found.sort(key=lambda pair: episodes[pair[1]].date or "", reverse=True)
        if literal_first:
            found.sort(key=lambda pair: pair[0].hit is None)
    shown = found[offset : offset + limit]
    read_passages(f.row for f, _episode_id in shown if f.hit is None)
    hits = []
    for f, episode_id in shown:
        if f.hit is not None:
            hits.append(replace(f.hit, score=f.score, matched="both" if f.similarity is not None else "words",
                                similarity=f.similarity))  # fmt: skip
            continue
        ep = episodes[episode_id]
        start, end = (float(t) for t in loaded.spans[f.row][:2])
        text, speaker = texts[f.row]
        hits.append(
            Hit(
                episode_id=ep.id, show=ep.show_title, title=ep.title, date=ep.date, start=start, end=end,
                text=text, highlights=[], score=f.score, url=episode_url(ep.id, start),
                matched="meaning", similarity=f.similarity, speaker=speaker,
            )
        )  # fmt: skip
    return SearchResults(total=len(found), hits=hits)


def _span_of(loaded: PassageVectors, row: int) -> tuple[str, int, int]:
    """The passage's episode and its first and last segments."""
    _start, _end, first, last = loaded.spans[row]
    return loaded.episode_of(row), int(first), int(last)


def _text_and_voice(passage: list[Segment]) -> tuple[str, str | None]:
    """A passage's text, and its one voice (None when several speak: each turn then says who, `Ana: …`, for the
    reader and for the chat's model)."""
    voices = {s.speaker for s in passage}
    if len(voices) == 1:
        return " ".join(s.text.strip() for s in passage), voices.pop()
    turns = [
        (f"{s.speaker}: " if s.speaker and s.speaker != before.speaker else "") + s.text.strip()
        for before, s in zip([Segment(0, 0, "", speaker=""), *passage], passage, strict=False)
    ]
    return " ".join(turns), None


_SYNTAX = re.compile(r'(?:^|\s)-\S+|\bOR\b|["*]')


def question_of(query: str) -> str:
    """What search by meaning embeds for a query: the query without keyword syntax (exclusions, OR, quotes, prefix
    stars), as what it means is in its words."""
    return " ".join(_SYNTAX.sub(" ", query).split())
