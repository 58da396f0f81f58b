"""How many times a word (or phrase) was said in each episode, over the whole history of a show.

Words are counted once, when an episode is indexed (`term_counts`), so a word's trend is one lookup. A phrase is the
index's count of segments that have it, plus the mentions that count cannot tell (said again in one segment; for two
words also across two segments; a longer phrase cut by a segment boundary is not counted): see _phrase_counts. All are
accent- and case-insensitive whole-word matches, on the same words as search: `IA` never counts `media`.
Like search, trend() only reads the index (and the counts stored with it): whoever changed the archive indexes it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tantivy

from fonoteca.archive import Archive
from fonoteca.search.index import SearchIndex, document_fields, pair_tokens
from fonoteca.search.query import Clause
from fonoteca.settings import Settings
from fonoteca.text import words

GROUPINGS = ("episode", "month", "year")
SENTENCE = "This graph shows how many times the word {word} has been mentioned throughout the history of the program"


@dataclass
class TrendPoint:
    term: str
    key: str  # episode id, YYYY-MM or YYYY
    label: str  # episode title, or the month/year
    date: str | None
    count: int
    hours: float
    value: float  # count, or count per hour of audio
    episode_id: str | None
    title: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _phrase_counts(archive: Archive, settings: Settings, folded: list[str], show_id: int | None) -> dict[str, int]:
    """{episode_id: mentions} of a phrase: the index counts the segments that have it (an aggregation: no segment is
    read), and only the mentions beyond one per segment need more. For two words they were counted at indexing,
    together with those across two segments; a longer phrase can only be said twice in a segment where its first
    pair is, so just those segments are read."""
    from fonoteca.search import build_query, occurrences
    from fonoteca.search.query import ParsedQuery

    index = SearchIndex.for_settings(settings)
    clause = Clause(folded)
    query = build_query(index.schema, ParsedQuery(must=[[clause]]), show_id=show_id)
    searcher = index.searcher()
    result = searcher.aggregate(query, {"per_episode": {"terms": {"field": "episode_id", "size": 1_000_000}}})
    counts = Counter({b["key"]: int(b["doc_count"]) for b in result["per_episode"]["buckets"]})
    first_pair = pair_tokens(folded[:2])[0]
    if len(folded) == 2:
        counts.update(archive.term_counts(first_pair, show_id))
        return dict(counts)
    repeats = tantivy.Query.term_query(index.schema, "repeats", first_pair)
    again = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, repeats)])
    total = searcher.search(again, limit=1, count=True).count or 0
    if total:
        for _score, address in searcher.search(again, limit=total, count=False).hits:
            fields = document_fields(searcher.doc(address))
            counts[fields["episode_id"]] += len(occurrences(clause, words(fields["text"]))) - 1
    return dict(counts)


def term_counts(archive: Archive, settings: Settings, term: str, show_id: int | None) -> dict[str, int]:
    folded = words(term)
    if not folded:
        return {}
    if len(folded) == 1:
        return archive.term_counts(folded[0], show_id)
    return _phrase_counts(archive, settings, folded, show_id)


def trend(
    archive: Archive,
    terms: list[str],
    *,
    show: str | None = None,
    per_hour: bool = False,
    by: str = "episode",
    settings: Settings | None = None,
) -> list[TrendPoint]:
    """One point per term and episode (or month, or year), in date order, zero counts included."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}")
    settings = settings or _settings_for(archive)
    show_id = archive.get_show(show).id if show else None
    episodes = archive.timeline(show_id)
    points: list[TrendPoint] = []
    # Per episode, what every term's point repeats; the loop below is a trend's whole cost once the timeline is read.
    per_episode = [(e.id, e.title, e.date, e.hours, round(e.hours, 4)) for e in episodes] if by == "episode" else []
    for term in [t.strip() for t in terms if t.strip()]:
        counts = term_counts(archive, settings, term, show_id)
        if by == "episode":
            for ep_id, title, date, hours, rounded in per_episode:
                count = counts.get(ep_id, 0)
                value = (round(count / hours, 3) if hours > 0 else 0.0) if per_hour else float(count)
                points.append(TrendPoint(term, ep_id, title, date, count, rounded, value, ep_id, title))
            continue
        buckets: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        for e in episodes:
            key = (e.date or "unknown")[: 7 if by == "month" else 4]
            buckets[key][0] += counts.get(e.id, 0)
            buckets[key][1] += e.hours
        for key in sorted(buckets):
            count, hours = buckets[key]
            points.append(_period_point(term, key, int(count), hours, per_hour))
    return points


def _period_point(term: str, key: str, count: int, hours: float, per_hour: bool) -> TrendPoint:
    """The point of a month or a year (`key`, or "unknown" for the undated episodes)."""
    value = (count / hours if hours > 0 else 0.0) if per_hour else float(count)
    return TrendPoint(
        term=term, key=key, label=key, date=key if key != "unknown" else None, count=count, hours=round(hours, 4),
        value=round(value, 3), episode_id=None, title=None,
    )  # fmt: skip


def _settings_for(archive: Archive) -> Settings:
    """Settings whose data folder holds this archive (library callers that only have the archive)."""
    return Settings.from_env(home=archive.path.parent, db=archive.path)


def series(points: list[TrendPoint]) -> dict[str, list[TrendPoint]]:
    grouped: dict[str, list[TrendPoint]] = {}
    for p in points:
        grouped.setdefault(p.term, []).append(p)
    return grouped


def chart_title(terms: list[str], per_hour: bool) -> str:
    word = " / ".join(f"“{t}”" for t in terms)
    return SENTENCE.format(word=word) + (" (per hour of audio)" if per_hour else "")


def render_png(points: list[TrendPoint], path: Path, *, per_hour: bool = False, show_title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grouped = series(points)
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=120)
    for term, pts in grouped.items():
        xs = list(range(len(pts)))
        ax.plot(xs, [p.value for p in pts], marker="o", markersize=3, linewidth=1.6, label=term)
    first = next(iter(grouped.values()), [])
    ticks = list(range(0, len(first), max(1, len(first) // 10)))
    ax.set_xticks(ticks, [first[i].date or first[i].label for i in ticks], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mentions per hour" if per_hour else "mentions")
    ax.set_xlabel("episodes in date order" if first and first[0].episode_id else "period")
    ax.set_title(chart_title(list(grouped), per_hour) + (f"\n{show_title}" if show_title else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render_terminal(points: list[TrendPoint], *, per_hour: bool = False) -> str:
    import plotext as plt

    plt.clear_figure()
    plt.theme("clear")
    grouped = series(points)
    first = next(iter(grouped.values()), [])
    for term, pts in grouped.items():
        plt.plot(list(range(1, len(pts) + 1)), [p.value for p in pts], label=term, marker="braille")
    if first:
        step = max(1, len(first) // 6)
        idx = list(range(0, len(first), step))
        plt.xticks([i + 1 for i in idx], [first[i].date or first[i].label for i in idx])
    plt.ylabel("per hour" if per_hour else "mentions")
    plt.plotsize(100, 20)
    # The sentence is printed above the chart: as a plotext title it would be cut to the chart's width.
    return chart_title(list(grouped), per_hour) + ".\n" + plt.build()
