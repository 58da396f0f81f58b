"""How many times a word (or phrase) was said in each episode, week, month or year, over the whole history of the
archive or of one show: raw, per hour of audio or per 1,000 words said; by everyone, by one speaker, or one line per
speaker (who says it, from the index's speaker of each segment: see speaker_counts).

Words are counted once per transcript (`term_counts`, with each episode's total of words, in the archive), so a word's
trend is one lookup. A phrase is the index's count of segments that have it, plus the mentions that count cannot tell
(said again in one segment; for two words also across two segments; a longer phrase cut by a segment boundary is not
counted): see _phrase_counts. All are accent- and case-insensitive whole-word matches, on the same words as search:
`IA` never counts `media`. Like search, trend() only reads the index (and the counts stored with it): whoever changed
the archive indexes it.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import tantivy

from fonoteca.archive import Archive, TimelineEntry
from fonoteca.errors import ConfigError
from fonoteca.search import SearchResults, build_query, keyword_search, occurrences
from fonoteca.search.index import SearchIndex, document_fields, pair_tokens
from fonoteca.search.query import Clause, ParsedQuery
from fonoteca.search.scope import EVERYWHERE, SearchScope
from fonoteca.text import words

GROUPINGS = ("episode", "week", "month", "year")
NORMALISATIONS = ("raw", "hour", "1000-words")
SPLITS = ("show", "speaker")
TOP_SPEAKERS = 6  # lines of a split by speaker: the speakers who said it most; everyone else is one more line
OTHERS = "everyone else"  # the line of the other speakers and the lines no speaker is named for
MAX_TERMS = 10
UNITS = {"raw": "mentions", "hour": "mentions per hour", "1000-words": "mentions per 1,000 words"}
EXPLAINED = {
    "raw": "How many times it was said.",
    "hour": "Mentions divided by the hours of audio of the episode or period, so long and short episodes compare "
    "(text posts have no audio: their value is 0).",
    "1000-words": "Mentions for every 1,000 words said in the episode or period, so talkative and quiet episodes "
    "compare (text posts included).",
}


class BadTrend(ConfigError):
    """A trend that cannot be drawn as asked: too many words, a split of several words, an unknown option."""


@dataclass(slots=True)  # a 10-word trend of a long history makes thousands of points: slots make them faster
class TrendPoint:
    term: str
    key: str  # episode id, YYYY-Www (ISO week), YYYY-MM or YYYY; "unknown" for the undated episodes of a period
    label: str  # episode title, or the period's key
    date: str | None  # the episode's date, or the first day of the period
    count: int
    hours: float
    value: float  # count, count per hour of audio, or count per 1,000 words
    episode_id: str | None
    title: str | None
    words: int = 0  # words said in the episode or period
    episodes: int = 1  # episodes in the period
    mentioned: int = 0  # of which said it at least once
    series: str = ""  # the line it belongs to: the term, or the show when split by show
    show: str | None = None  # the show's slug when split by show
    speaker: str | None = None  # the speaker's label when split by speaker (None on the line of everyone else)
    split: str | None = None  # what the lines are split by: "show", "speaker" or None
    colour: str | None = None  # the line's own colour: a speaker's, as the pages show them (None: the chart's palette)


@dataclass
class SeriesSummary:
    series: str
    total: int
    first: str | None  # the first episode or period that has it
    peak: str | None
    peak_count: int
    peak_value: float
    latest: str | None
    mentioned: int  # episodes that said it
    episodes: int

    def line(self, per: str = "raw") -> str:
        """E.g. "first said 2021-03-02, peak 2023-05 with 41, said in 63 of 746 episodes"."""
        if not self.total:
            return f"never said in {self.episodes} episodes"
        peak = f"peak {self.peak} with {self.peak_count}"
        if per != "raw":
            peak += f" ({self.peak_value:g} {UNITS[per]})"
        latest = f", latest {self.latest}" if self.latest != self.first else ""
        return f"first said {self.first}, {peak}{latest}, said in {self.mentioned} of {self.episodes} episodes"


def parse_terms(raw: Iterable[str]) -> list[str]:
    """The words and phrases of one or more inputs: comma-separated, a phrase in quotes may hold a comma
    (`IA, "sí, claro"`). Repeats (by their folded words) are dropped; more than MAX_TERMS is an error."""
    terms: dict[tuple[str, ...], str] = {}
    for text in raw:
        for cell in next(csv.reader([text], skipinitialspace=True), []):
            term = cell.strip().strip('"').strip()
            if words(term):
                terms.setdefault(tuple(words(term)), term)
    if len(terms) > MAX_TERMS:
        raise BadTrend(f"{len(terms)} words or phrases: at most {MAX_TERMS}", "remove some of them")
    return list(terms.values())


def _phrase_counts(archive: Archive, index: SearchIndex, folded: list[str], show_id: int | None) -> dict[str, int]:
    """{episode_id: mentions} of a phrase: the index counts the segments that have it (an aggregation: no segment is
    read), and only the mentions beyond one per segment need more. For two words they were counted at indexing,
    together with those across two segments; a longer phrase can only be said twice in a segment where its first
    pair is, so just those segments are read."""
    clause = Clause(folded)
    query = build_query(index.schema, ParsedQuery(must=[[clause]]), SearchScope(show_id=show_id))
    searcher = index.searcher()
    result = searcher.aggregate(query, {"per_episode": {"terms": {"field": "episode_id", "size": 1_000_000}}})
    counts = Counter({b["key"]: int(b["doc_count"]) for b in result["per_episode"]["buckets"]})
    first_pair = pair_tokens(folded[:2])[0]
    if len(folded) == 2:
        counts.update(archive.term_counts(first_pair, show_id))
        return dict(counts)
    for fields, extra in _said_again(index, searcher, query, clause, first_pair):
        counts[fields["episode_id"]] += extra
    return dict(counts)


def _said_again(
    index: SearchIndex, searcher: tantivy.Searcher, query: tantivy.Query, clause: Clause, first: str
) -> Iterator[tuple[dict[str, Any], int]]:
    """(stored fields, mentions beyond the first) of each segment `query` finds that says `first` (the clause's first
    word or pair) more than once: the index's `repeats`, so only those few segments are read."""
    repeats = tantivy.Query.term_query(index.schema, "repeats", first)
    again = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, repeats)])
    total = searcher.search(again, limit=1, count=True).count or 0
    if total:
        for _score, address in searcher.search(again, limit=total, count=False).hits:
            fields = document_fields(searcher.doc(address))
            yield fields, len(occurrences(clause, words(fields["text"]))) - 1


def speaker_counts(index: SearchIndex, term: str, scope: SearchScope) -> dict[str, Counter[str]]:
    """{speaker: {episode id: mentions}} of a word or phrase in the scope's show (and speaker), from the index: its
    segments counted per episode and speaker in one aggregation, plus the mentions beyond one per segment (read only
    in the segments that say its first word or pair more than once: the index's `repeats`). Mentions in lines without
    a speaker, and a two-word phrase cut by a change of line, belong to nobody."""
    folded = words(term)
    clause = Clause(folded)
    query = build_query(index.schema, ParsedQuery(must=[[clause]]), SearchScope(show_id=scope.show_id,
                                                                                speaker=scope.speaker))  # fmt: skip
    searcher = index.searcher()
    by_speaker = {"terms": {"field": "speaker", "size": 100_000}}
    result = searcher.aggregate(
        query, {"per_episode": {"terms": {"field": "episode_id", "size": 1_000_000}, "aggs": {"who": by_speaker}}}
    )
    counts: dict[str, Counter[str]] = {}
    for episode in result["per_episode"]["buckets"]:
        for speaker in episode["who"]["buckets"]:
            counts.setdefault(speaker["key"], Counter())[episode["key"]] += int(speaker["doc_count"])
    first = folded[0] if len(folded) == 1 else pair_tokens(folded[:2])[0]
    for fields, extra in _said_again(index, searcher, query, clause, first):
        if fields.get("speaker"):
            counts[fields["speaker"]][fields["episode_id"]] += extra
    return counts


def speaker_shares(index: SearchIndex, scope: SearchScope) -> dict[str, dict[str, tuple[int, float]]]:
    """{speaker: {episode id: (words, hours)}}: what each speaker of the scope's show (or the scope's speaker) says of
    each episode, summed from the index's lines in one aggregation. The denominators of a speaker's mentions per 1,000
    words and per hour: their own words and speaking time, not the whole episode's."""
    query = build_query(index.schema, ParsedQuery(), SearchScope(show_id=scope.show_id, speaker=scope.speaker))
    sums = {"words": {"sum": {"field": "words"}}, "seconds": {"sum": {"field": "seconds"}}}
    who = {"terms": {"field": "speaker", "size": 100_000}, "aggs": sums}
    result = index.searcher().aggregate(
        query, {"per_episode": {"terms": {"field": "episode_id", "size": 1_000_000}, "aggs": {"who": who}}}
    )
    shares: dict[str, dict[str, tuple[int, float]]] = {}
    for episode in result["per_episode"]["buckets"]:
        for speaker in episode["who"]["buckets"]:
            said = (int(speaker["words"]["value"] or 0), float(speaker["seconds"]["value"] or 0.0) / 3600)
            shares.setdefault(speaker["key"], {})[episode["key"]] = said
    return shares


def _own_rows(rows: list[tuple], by: str, share: dict[str, tuple[int, float]]) -> list[tuple]:
    """A line's rows (see trend's `prepared`) with each episode's words and hours replaced by the line's own share
    of them (an episode without audio keeps no hours)."""
    if by == "episode":
        return [(ep_id, title, day, (h := share.get(ep_id, (0, 0.0))[1] if hours else 0.0), round(h, 4),
                 share.get(ep_id, (0, 0.0))[0]) for ep_id, title, day, hours, _rounded, _said in rows]  # fmt: skip
    return [(ep_id, key, first_day, share.get(ep_id, (0, 0.0))[1] if hours else 0.0, share.get(ep_id, (0, 0.0))[0])
            for ep_id, key, first_day, hours, _said in rows]  # fmt: skip


def _rest_share(
    rows: list[tuple], by: str, shares: dict[str, dict[str, tuple[int, float]]], named: list[str]
) -> dict[str, tuple[int, float]]:
    """Each episode's words and hours less those of the `named` speakers: everyone else's share."""
    words_at, hours_at = (5, 3) if by == "episode" else (4, 3)
    rest = {}
    for row in rows:
        ep_id = row[0]
        taken = [shares.get(name, {}).get(ep_id, (0, 0.0)) for name in named]
        rest[ep_id] = (max(0, row[words_at] - sum(w for w, _h in taken)),
                       max(0.0, row[hours_at] - sum(h for _w, h in taken)))  # fmt: skip
    return rest


def _speaker_lines(
    archive: Archive, index: SearchIndex, term: str, scope: SearchScope, top: int
) -> list[tuple[str, dict[str, int]]]:
    """(line, {episode id: mentions}) of a split by speaker: the `top` speakers who said it most, most first, then
    everyone else together with the mentions no speaker is named for (left out when there are none, and when the
    scope is one speaker's)."""
    per_speaker = speaker_counts(index, term, scope)
    ranked = sorted(per_speaker.items(), key=lambda item: (-sum(item[1].values()), item[0].casefold()))
    lines: list[tuple[str, dict[str, int]]] = [(name, dict(counts)) for name, counts in ranked[:top]]
    if scope.speaker is None:
        rest = Counter(term_counts(archive, index, term, scope.show_id))
        for _name, counts in lines:
            rest.subtract(counts)
        rest = +rest  # the positive counts only
        if rest:
            lines.append((OTHERS, dict(rest)))
    return lines


def term_counts(archive: Archive, index: SearchIndex, term: str, show_id: int | None) -> dict[str, int]:
    folded = words(term)
    if not folded:
        return {}
    if len(folded) == 1:
        return archive.term_counts(folded[0], show_id)
    return _phrase_counts(archive, index, folded, show_id)


def _normalised(count: int, hours: float, said: int, per: str) -> float:
    if per == "hour":
        return round(count / hours, 3) if hours > 0 else 0.0
    if per == "1000-words":
        return round(count * 1000 / said, 3) if said > 0 else 0.0
    return float(count)


def period_of(day: str | None, by: str) -> tuple[str, str | None]:
    """(key, first day) of the week, month or year of a date (YYYY-MM-DD); ("unknown", None) when undated."""
    if not day:
        return "unknown", None
    if by == "week":
        try:
            found = date.fromisoformat(day)
        except ValueError:  # a date a feed got wrong: undated rather than a failed chart
            return "unknown", None
        year, week, _ = found.isocalendar()
        return f"{year}-W{week:02d}", (found - timedelta(days=found.weekday())).isoformat()
    if by == "month":
        return day[:7], day[:7] + "-01"
    return day[:4], day[:4] + "-01-01"


def period_bounds(key: str, by: str) -> tuple[str, str]:
    """The first and last day of a period's key, as search's date filters read them (a month or a year as itself)."""
    if by == "week":
        year, week = key.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        return monday.isoformat(), (monday + timedelta(days=6)).isoformat()
    return key, key


def trend(
    archive: Archive,
    index: SearchIndex,
    terms: list[str],
    scope: SearchScope = EVERYWHERE,
    *,
    per_hour: bool = False,
    per: str = "raw",
    by: str = "episode",
    split_by: str | None = None,
    speakers: int = TOP_SPEAKERS,
) -> list[TrendPoint]:
    """One point per line and episode (or week, month, year), in date order, zero counts included, over the whole
    history of the archive or of the scope's show. A line is a term, or with split_by="show" one show's history of
    the single term, or with split_by="speaker" what each of the `speakers` who said it most said of it (and everyone
    else: see _speaker_lines). A scope of one speaker counts only their lines. per_hour=True is per="hour"; a
    speaker's mentions per hour or per 1,000 words are divided by their own speaking time or words in the episode
    (speaker_shares), everyone else's by the rest of it."""
    per = "hour" if per_hour else per
    if by not in GROUPINGS:
        raise BadTrend(f"unknown grouping {by!r}", f"group by one of {', '.join(GROUPINGS)}")
    if per not in NORMALISATIONS:
        raise BadTrend(f"unknown normalisation {per!r}", f"use one of {', '.join(NORMALISATIONS)}")
    terms = [t.strip() for t in terms if t.strip()]
    if split_by is not None and split_by not in SPLITS:
        raise BadTrend(f"cannot split by {split_by!r}", f"split by {' or '.join(SPLITS)}")
    if split_by and len(terms) > 1:
        raise BadTrend(f"split by {split_by} draws one word across the {split_by}s", "give a single word or phrase")
    if scope.episode_id is not None or scope.dated:
        raise BadTrend("a trend is drawn over a whole history", "narrow it to a show, not to an episode or dates")
    show_id = scope.show_id
    episodes = archive.timeline(show_id)
    lines: list[tuple[str | None, str | None, list[TimelineEntry]]] = [(None, None, episodes)]  # None: the term
    if split_by == "show":
        shows = {s.id: s for s in archive.list_shows()}
        ids = sorted({e.show_id for e in episodes}, key=lambda i: shows[i].title.lower())
        lines = [(shows[i].title, shows[i].slug, [e for e in episodes if e.show_id == i]) for i in ids]
    # What every term's points repeat, read once: a trend of ten words then costs ten loops over plain tuples.
    if by == "episode":
        prepared = [(name, slug, [(e.id, e.title, e.date, e.hours, round(e.hours, 4), e.words) for e in entries])
                    for name, slug, entries in lines]  # fmt: skip
    else:
        prepared = [(name, slug, [(e.id, *period_of(e.date, by), e.hours, e.words) for e in entries])
                    for name, slug, entries in lines]  # fmt: skip
    make = _episode_points if by == "episode" else _period_points
    points: list[TrendPoint] = []
    shares = speaker_shares(index, scope) if per != "raw" and (split_by == "speaker" or scope.speaker) else {}
    for term in terms:
        if split_by == "speaker":
            _none, _slug, rows = prepared[0]
            drawn = _speaker_lines(archive, index, term, scope, speakers)
            named = [name for name, _counts in drawn if name != OTHERS]
            for name, counts in drawn:
                own = rows
                if shares:
                    share = shares.get(name, {}) if name != OTHERS else _rest_share(rows, by, shares, named)
                    own = _own_rows(rows, by, share)
                line = make(term, name, None, own, counts, per)
                for point in line:
                    point.speaker, point.split = (name if name != OTHERS else None), split_by
                points += line
            continue
        if scope.speaker is not None:
            counts = Counter()
            for by_episode in speaker_counts(index, term, scope).values():
                counts.update(by_episode)
        else:
            counts = term_counts(archive, index, term, show_id)
        for name, slug, rows in prepared:
            if shares:  # one speaker's mentions, of their own words and time (every spelling of the name together)
                together: dict[str, tuple[int, float]] = {}
                for by_episode in shares.values():
                    for ep_id, (said, hours) in by_episode.items():
                        before = together.get(ep_id, (0, 0.0))
                        together[ep_id] = (before[0] + said, before[1] + hours)
                rows = _own_rows(rows, by, together)
            line = make(term, name or term, slug, rows, counts, per)
            if split_by:
                for point in line:
                    point.split = split_by
            points += line
    return points


# A TrendPoint made as object.__new__ then TrendPoint.__init__ is the same object, by the same generated __init__
# (TrendPoint has no __new__ of its own), for less: calling the class enters __init__ from C (type.__call__), where a
# call from Python code stays in the interpreter's loop. A 10-word trend makes 80,000 points: ~6 ms less of ~65.
_new_point = object.__new__
_init_point = TrendPoint.__init__


def _episode_points(
    term: str, series: str, slug: str | None, rows: list[tuple], counts: dict[str, int], per: str
) -> list[TrendPoint]:
    points: list[TrendPoint] = []
    raw = per == "raw"
    for ep_id, title, day, hours, rounded, said in rows:
        count = counts.get(ep_id, 0)
        # A zero needs no arithmetic, and a raw value is the count itself: no call for either.
        value = (float(count) if raw else _normalised(count, hours, said, per)) if count else 0.0
        _init_point(point := _new_point(TrendPoint), term, ep_id, title, day, count, rounded, value, ep_id, title,
                    said, 1, 1 if count else 0, series, slug)  # fmt: skip
        points.append(point)
    return points


def _period_points(
    term: str, series: str, slug: str | None, rows: list[tuple], counts: dict[str, int], per: str
) -> list[TrendPoint]:
    """The points of the weeks, months or years that have episodes ("unknown" last, for the undated ones)."""
    buckets: dict[str, list[Any]] = {}
    for ep_id, key, first_day, hours, said in rows:
        bucket = buckets.get(key) or buckets.setdefault(key, [first_day, 0, 0.0, 0, 0, 0])
        count = counts.get(ep_id, 0)
        bucket[1] += count
        bucket[2] += hours
        bucket[3] += said
        bucket[4] += 1
        bucket[5] += 1 if count else 0
    ordered = sorted(buckets.items(), key=lambda kv: kv[0] == "unknown")
    return [
        TrendPoint(
            term=term,
            key=key,
            label=key,
            date=day,
            count=count,
            hours=round(hours, 4),
            value=_normalised(count, hours, said, per),
            episode_id=None,
            title=None,
            words=said,
            episodes=n,
            mentioned=mentioned,
            series=series,
            show=slug,
        )  # fmt: skip
        for key, (day, count, hours, said, n, mentioned) in ordered
    ]


def series(points: list[TrendPoint]) -> dict[str, list[TrendPoint]]:
    grouped: dict[str, list[TrendPoint]] = {}
    for p in points:
        grouped.setdefault(p.series or p.term, []).append(p)
    return grouped


def _where(point: TrendPoint) -> str:
    return point.key if not point.episode_id else point.date or point.title or point.key


def summarize(points: list[TrendPoint]) -> list[SeriesSummary]:
    """Per line: its total, the first, peak (highest value) and latest episode or period that has it, and in how many
    episodes it was said."""
    out = []
    for name, pts in series(points).items():
        said = [p for p in pts if p.count]
        peak = max(said, key=lambda p: p.value, default=None)
        out.append(SeriesSummary(
            series=name, total=sum(p.count for p in pts), first=_where(said[0]) if said else None,
            peak=_where(peak) if peak else None, peak_count=peak.count if peak else 0,
            peak_value=peak.value if peak else 0.0, latest=_where(said[-1]) if said else None,
            mentioned=sum(p.mentioned for p in pts), episodes=sum(p.episodes for p in pts),
        ))  # fmt: skip
    return out


def mentions_query(terms: list[str]) -> str:
    """A search query for any of the terms, each as its exact words (a term is never read as a prefix or operator)."""
    return " OR ".join('"' + " ".join(words(t)) + '"' for t in terms if words(t))


def moments(
    archive: Archive,
    index: SearchIndex,
    terms: list[str],
    scope: SearchScope = EVERYWHERE,
    *,
    key: str,
    by: str = "episode",
    limit: int = 100,
) -> SearchResults:
    """The segments of an episode (key = its id) or of a period (its key) of the scope where any of the terms is
    said: what a point of the chart stands for, in the order they were said."""
    query = mentions_query(terms)
    if not query:
        raise BadTrend("no word or phrase to look for", "give the words of the chart")
    if by == "episode":
        within = replace(scope, episode_id=archive.get_episode(key).id)
        found = keyword_search(archive, index, query, within, limit=limit, order="date")
    else:
        if key == "unknown":
            raise BadTrend("the undated episodes have no period", "group by episode to open one of them")
        try:
            first, last = period_bounds(key, by)
        except ValueError:
            raise BadTrend(f"not a {by}: {key!r}", "use a key of the chart's points (e.g. 2024-W03, 2024-03)") from None
        found = keyword_search(archive, index, query, scope.between(first, last), limit=limit, order="date")
    found.hits.sort(key=lambda h: (h.date or "", h.episode_id, h.start))
    return found
