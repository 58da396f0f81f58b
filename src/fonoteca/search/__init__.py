"""Search over every transcript of the archive: BM25 by default, newest first on request, filters by show, episode
and date, snippets with the matched words highlighted and links to the exact second."""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass
from typing import Any

import tantivy

from fonoteca.archive import Archive, Episode
from fonoteca.search.index import SearchIndex, document_fields, epoch, reindex, sync_index
from fonoteca.search.query import Clause, ParsedQuery, parse
from fonoteca.settings import Settings

__all__ = ["Hit", "SearchResults", "search", "sync_index", "reindex", "episode_url"]


@dataclass
class Hit:
    episode_id: str
    show: str
    title: str
    date: str | None
    start: float
    end: float
    snippet: str  # HTML: escaped text, matches in <b>
    text: str
    score: float
    url: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResults:
    total: int
    hits: list[Hit]


def episode_url(episode_id: str, start: float = 0.0) -> str:
    return f"/episode/{episode_id}?t={int(start)}"


def _clause_query(schema: tantivy.Schema, clause: Clause) -> tantivy.Query:
    if clause.prefix:
        return tantivy.Query.regex_query(schema, "text", re.escape(clause.words[0]) + ".*")
    if not clause.is_phrase:
        return tantivy.Query.term_query(schema, "text", clause.words[0])
    pairs = [f"{a}_{b}" for a, b in zip(clause.words, clause.words[1:], strict=False)]
    if len(pairs) == 1:
        return tantivy.Query.term_query(schema, "pairs", pairs[0])
    return tantivy.Query.phrase_query(schema, "pairs", pairs)


def _group_query(schema: tantivy.Schema, group: list[Clause]) -> tantivy.Query:
    if len(group) == 1:
        return _clause_query(schema, group[0])
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, _clause_query(schema, c)) for c in group])


def build_query(
    schema: tantivy.Schema,
    parsed: ParsedQuery,
    *,
    show_id: int | None = None,
    episode_id: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
) -> tantivy.Query:
    must = [_group_query(schema, group) for group in parsed.must]
    if not must:
        must.append(tantivy.Query.all_query())
    if show_id is not None:
        must.append(tantivy.Query.term_query(schema, "show_id", show_id))
    if episode_id:
        must.append(tantivy.Query.term_query(schema, "episode_id", episode_id))
    if date_from or date_to:
        low = epoch(date_from) if date_from else None
        high = epoch(date_to[:10] + "T23:59:59Z") if date_to else None
        must.append(tantivy.Query.range_query(schema, "published", tantivy.FieldType.Integer, low, high))
    clauses = [(tantivy.Occur.Must, q) for q in must]
    clauses += [(tantivy.Occur.MustNot, _clause_query(schema, c)) for c in parsed.must_not]
    return tantivy.Query.boolean_query(clauses)


def _highlight_query(schema: tantivy.Schema, parsed: ParsedQuery, searcher: tantivy.Searcher) -> tantivy.Query:
    """The words to mark in snippets: every positive word on the text field (phrases are searched on pairs, and the
    snippet generator cannot highlight a regex, so a prefix is expanded to its most frequent words)."""
    parts = []
    for clause in parsed.positive_clauses():
        if clause.prefix:
            expanded = searcher.terms_with_prefix("text", clause.words[0], limit=64)
            parts.extend(tantivy.Query.term_query(schema, "text", term) for term, _count in expanded)
        else:
            parts.extend(tantivy.Query.term_query(schema, "text", w) for w in clause.words)
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in parts])


def _snippet_html(snippet: tantivy.Snippet, text: str) -> str:
    """Escaped text with <b> around matches. Tantivy's ranges are byte offsets into the fragment."""
    fragment = snippet.fragment() or ""
    if not fragment:
        return html.escape(text)
    raw = fragment.encode()
    out, cursor = [], 0
    for rng in sorted(snippet.highlighted(), key=lambda r: r.start):
        out.append(html.escape(raw[cursor : rng.start].decode(errors="ignore")))
        out.append(f"<b>{html.escape(raw[rng.start : rng.end].decode(errors='ignore'))}</b>")
        cursor = rng.end
    out.append(html.escape(raw[cursor:].decode(errors="ignore")))
    prefix = "… " if not text.startswith(fragment[:20]) else ""
    suffix = " …" if not text.rstrip().endswith(fragment.rstrip()[-20:]) else ""
    return prefix + "".join(out) + suffix


def search(
    archive: Archive,
    settings: Settings,
    query: str,
    *,
    show: str | None = None,
    episode: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    limit: int = 20,
    offset: int = 0,
    order: str = "relevance",
) -> SearchResults:
    """Segments matching `query`, best first (or newest first with order='date'). Never raises on query syntax."""
    sync_index(archive, settings)
    parsed = parse(query)
    if not parsed.must:
        return SearchResults(0, [])  # only exclusions, or nothing searchable: no useful answer
    index = SearchIndex.for_settings(settings)
    schema = index.schema
    show_id = archive.get_show(show).id if show else None
    episode_id = archive.get_episode(episode).id if episode else None
    tantivy_query = build_query(
        schema, parsed, show_id=show_id, episode_id=episode_id, date_from=date_from, date_to=date_to
    )
    searcher = index.searcher()
    options: dict[str, Any] = {"limit": max(1, limit), "count": True, "offset": max(0, offset)}
    if order == "date":
        options.update(order_by_field="published", order=tantivy.Order.Desc)
    result = searcher.search(tantivy_query, **options)
    generator = tantivy.SnippetGenerator.create(searcher, _highlight_query(schema, parsed, searcher), schema, "text")
    generator.set_max_num_chars(320)
    episodes: dict[str, Episode] = {}
    hits = []
    for score, address in result.hits:
        doc = searcher.doc(address)
        fields = document_fields(doc)
        ep_id = fields["episode_id"]
        if ep_id not in episodes:
            episodes[ep_id] = archive.get_episode(ep_id)
        ep = episodes[ep_id]
        hits.append(
            Hit(
                episode_id=ep_id,
                show=ep.show_title,
                title=ep.title,
                date=ep.date,
                start=fields["start"],
                end=fields["end"],
                snippet=_snippet_html(generator.snippet_from_doc(doc), fields["text"]),
                text=fields["text"],
                score=float(score) if order != "date" else 0.0,
                url=episode_url(ep_id, fields["start"]),
            )
        )
    return SearchResults(total=result.count or 0, hits=hits)
