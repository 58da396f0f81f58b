"""Search over every transcript of the archive: BM25 by default, newest first on request, filters by show, episode,
date and speaker, who says each hit, the matched words of each hit (its highlights) and links to the exact second.

keyword_search() here and every mode of search (fonoteca.search.hybrid) only read: they answer from the index as it
is. Whoever changed the archive brings the index up to date (`sync_index`, `Fonoteca.update_index`): the pipeline
after a sync, the CLI before a search, the web server's background indexer. So a web request never waits for, or
takes, the index writer."""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import tantivy

from fonoteca.archive import Archive
from fonoteca.search.common import common_pairs
from fonoteca.search.index import BadDate, SearchIndex, document_fields, pair_tokens, reindex, sync_index
from fonoteca.search.query import Clause, ParsedQuery, parse
from fonoteca.search.scope import EVERYWHERE, SearchScope
from fonoteca.text import ASCII_WORD, ascii_folded, word_spans, words

__all__ = [
    "BadDate", "Hit", "SearchResults", "SearchScope", "keyword_search", "sync_index", "reindex", "episode_url",
    "matches",
]  # fmt: skip


# A newest-first search of one term looks within the newest episodes first when they are at most 1/this of the archive.
NEWEST_WINDOW_SHARE = 4


@dataclass
class Hit:
    episode_id: str
    show: str
    title: str
    date: str | None
    start: float
    end: float
    text: str
    highlights: list[tuple[int, int]]  # the character ranges of `text` that the query's words matched
    score: float
    url: str
    # "words": found by the keywords; "meaning": by meaning alone (the passage, nothing highlighted);
    # "both": a keyword hit inside a passage close in meaning too.
    matched: str = "words"
    similarity: float | None = None  # the passage's cosine similarity to the question, when meaning was searched
    speaker: str | None = None  # who says it, where the transcript names them (one voice for a whole passage)


@dataclass
class SearchResults:
    total: int
    hits: list[Hit]
    mode: str = "keyword"  # the mode that ran: keyword, meaning or hybrid
    note: str = ""  # why it is not the mode asked for (nothing embedded yet...), or what else the reader should know
    reason: str = ""  # which mode ran and why, in words for the person who searched (hybrid search and fallbacks)


def episode_url(episode_id: str, start: float = 0.0) -> str:
    return f"/episode/{episode_id}?t={int(start)}"


def _clause_term(clause: Clause) -> tuple[str, str] | None:
    """The (field, token) a clause is in the index when it is a single term: a word, or two words in a row that the
    `pairs` field holds as one token. None for a prefix and a longer phrase."""
    if clause.prefix:
        return None
    if not clause.is_phrase:
        return "text", clause.words[0]
    if len(clause.words) == 2 and all(common_pairs(clause.words)):
        return "pairs", pair_tokens(clause.words)[0]
    return None


def _clause_query(schema: tantivy.Schema, clause: Clause) -> tantivy.Query:
    if term := _clause_term(clause):
        return tantivy.Query.term_query(schema, *term)
    if clause.prefix:
        return tantivy.Query.regex_query(schema, "text", re.escape(clause.words[0]) + ".*")
    if not all(common_pairs(clause.words)):
        # Two rarer words in a row: tantivy reads the shortest posting list of the phrase first, then the positions
        # of its other words only in the segments that have it.
        return tantivy.Query.phrase_query(schema, "text", clause.words)
    # Every pair has a common word: on `text`, tantivy would walk the long posting lists of those words.
    return tantivy.Query.phrase_query(schema, "pairs", pair_tokens(clause.words))


def _group_query(schema: tantivy.Schema, group: list[Clause]) -> tantivy.Query:
    if len(group) == 1:
        return _clause_query(schema, group[0])
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, _clause_query(schema, c)) for c in group])


def build_query(schema: tantivy.Schema, parsed: ParsedQuery, scope: SearchScope = EVERYWHERE) -> tantivy.Query:
    must = [_group_query(schema, group) for group in parsed.must]
    if not must:
        must.append(tantivy.Query.all_query())
    if scope.show_id is not None:
        must.append(tantivy.Query.term_query(schema, "show_id", scope.show_id))
    if scope.episode_id is not None:
        must.append(tantivy.Query.term_query(schema, "episode_id", scope.episode_id))
    if scope.speaker is not None:
        must.append(tantivy.Query.term_query(schema, "speaker_key", scope.speaker))
    if scope.dated:
        # An undated episode (0) matches no date filter: nobody knows whether it was before or after.
        low = scope.first_second if scope.first_second is not None else 1
        must.append(tantivy.Query.range_query(schema, "published", tantivy.FieldType.Integer, low, scope.last_second))
    if len(must) == 1 and not parsed.must_not:
        # Alone, not inside a boolean query of one clause: tantivy scores a lone term query ~30% faster (a common
        # word at 15,000 h: p95 18 ms against 26, bench/search.py's archive).
        return must[0]
    clauses = [(tantivy.Occur.Must, q) for q in must]
    clauses += [(tantivy.Occur.MustNot, _clause_query(schema, c)) for c in parsed.must_not]
    return tantivy.Query.boolean_query(clauses)


def _newest_episodes(archive: Archive, matches: int, wanted: int) -> list[str] | None:
    """The newest episodes that likely hold a term's `wanted` newest matches (of `matches` in the whole archive):
    twice as many as its matches per episode say, and every other episode as new as the oldest of them, so the
    newest matches in them are the archive's (what is outside is older). tantivy's top-k by the date's fast field
    reads every match: 22 ms for a common word at 15,000 h, 0.3 ms within its 16 newest episodes. None when the
    window would be a large share of the archive (a rarer word: its matches are few to read anyway)."""
    dated = [entry for entry in archive.timeline() if entry.published_at]
    if not dated or not matches:
        return None
    count = math.ceil(2 * wanted * len(dated) / matches)
    if count * NEWEST_WINDOW_SHARE > len(dated):
        return None
    oldest = heapq.nlargest(count, dated, key=lambda entry: entry.published_at)[-1].published_at
    return [entry.id for entry in dated if entry.published_at >= oldest]


def _one_term(parsed: ParsedQuery, scope: SearchScope) -> tuple[str, str] | None:
    """The (field, token) of a query that is one term over the whole archive: its matches are counted by the term's
    document frequency (SearchIndex.snapshot)."""
    if scope.narrowed or parsed.must_not or len(parsed.must) != 1 or len(parsed.must[0]) != 1:
        return None
    return _clause_term(parsed.must[0][0])


def occurrences(clause: Clause, folded: list[str]) -> list[int]:
    """Where `clause` occurs in a list of folded words (index of its first word): the same whole-word matching as the
    index, for highlighting, matching transcript lines and counting a phrase's mentions."""
    if clause.prefix:
        return [i for i, word in enumerate(folded) if word.startswith(clause.words[0])]
    n = len(clause.words)
    if n == 1:  # the common case: a comparison per word rather than a list slice per word
        only = clause.words[0]
        return [i for i, word in enumerate(folded) if word == only]
    return [i for i in range(len(folded) - n + 1) if folded[i : i + n] == clause.words]


def matches(parsed: ParsedQuery, text: str) -> bool:
    """Whether any positive word or phrase of the query is in `text` (a transcript line to mark)."""
    folded = words(text)
    return any(occurrences(clause, folded) for clause in parsed.positive_clauses())


def _highlights(parsed: ParsedQuery, text: str) -> list[tuple[int, int]]:
    """Character ranges of `text` to mark: each word of each occurrence of a positive clause."""
    quick = ascii_folded(text)
    if quick is None:
        return _highlights_of_words(parsed, text)
    # Most text: one pattern per clause over the folded text, instead of a tuple per word of it.
    marked = {
        found.span(group)
        for clause in parsed.positive_clauses()
        for found in _clause_pattern(tuple(clause.words), clause.prefix).finditer(quick)
        for group in range(1, len(clause.words) + 1)
    }
    return sorted(marked)


def _highlights_of_words(parsed: ParsedQuery, text: str) -> list[tuple[int, int]]:
    """_highlights for text of any script: its words located one by one (word_spans)."""
    spans = word_spans(text)
    folded = [word for _start, _end, word in spans]
    marked: set[int] = set()
    for clause in parsed.positive_clauses():
        for i in occurrences(clause, folded):
            marked.update(range(i, i + len(clause.words)))
    return [spans[i][:2] for i in sorted(marked)]


@lru_cache(maxsize=1024)
def _clause_pattern(clause_words: tuple[str, ...], prefix: bool) -> re.Pattern[str]:
    """The occurrences of a clause in ASCII folded text (text.ascii_folded), as occurrences() finds them in its words:
    whole words in a row, each word a group, overlapping ones too (the pattern is a lookahead)."""
    parts = [f"({re.escape(word)})" for word in clause_words]
    if prefix:  # a prefix clause is one word, matched with the rest of the word it starts
        parts = [f"({re.escape(clause_words[0])}{ASCII_WORD}*)"]
    apart = f"[^{ASCII_WORD[1:-1]}]+"
    return re.compile(f"(?<!{ASCII_WORD})(?={apart.join(parts)}(?!{ASCII_WORD}))")


def keyword_search(
    archive: Archive,
    index: SearchIndex,
    query: str,
    scope: SearchScope = EVERYWHERE,
    *,
    limit: int = 20,
    offset: int = 0,
    order: str = "relevance",
) -> SearchResults:
    """Segments of the scope matching `query`, best first (or newest first with order='date'). Never raises on query
    syntax."""
    parsed = parse(query)
    if not parsed.must:
        return SearchResults(0, [])  # only exclusions, or nothing searchable: no useful answer
    tantivy_query = build_query(index.schema, parsed, scope)
    searcher, without_deletes = index.snapshot()
    term = _one_term(parsed, scope) if without_deletes else None
    term_matches = searcher.doc_freq(*term) if term else None
    limit, offset = max(1, limit), max(0, offset)
    options: dict[str, Any] = {"limit": limit, "count": term is None, "offset": offset}
    result = None
    if order == "date":
        options.update(order_by_field="published", order=tantivy.Order.Desc)
        window = term_matches is not None and _newest_episodes(archive, term_matches, offset + limit)
        if window:
            within = tantivy.Query.boolean_query([
                (tantivy.Occur.Must, tantivy_query),
                (tantivy.Occur.Must, tantivy.Query.term_set_query(index.schema, "episode_id", window)),
            ])  # fmt: skip
            result = searcher.search(within, **options)
            if len(result.hits) < limit:  # fewer matches there than the page needs: the whole archive's, then
                result = None
    if result is None:
        result = searcher.search(tantivy_query, **options)
    matched = term_matches if term_matches is not None else result.count or 0
    found = [(score, document_fields(searcher.doc(address))) for score, address in result.hits]
    # One archive query for the page's episodes; one deleted since the index was last synced (the writer was busy) is
    # absent, and its segments are not results.
    episodes = archive.cards_by_ids(fields["episode_id"] for _score, fields in found)
    hits = []
    missing = 0
    for score, fields in found:
        ep_id = fields["episode_id"]
        ep = episodes.get(ep_id)
        if ep is None:
            missing += 1
            continue
        hits.append(
            Hit(
                episode_id=ep_id,
                show=ep.show_title,
                title=ep.title,
                date=ep.date,
                start=fields["start"],
                end=fields["end"],
                text=fields["text"],
                highlights=_highlights(parsed, fields["text"]),
                score=float(score) if order != "date" else 0.0,
                url=episode_url(ep_id, fields["start"]),
                speaker=fields.get("speaker"),
            )
        )
    return SearchResults(total=max(0, matched - missing), hits=hits)
