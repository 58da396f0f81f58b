"""The JSON API under /api/: the archive's shows, episodes, transcripts and stats, search and word trends.

The answers are fonoteca.output's models, the same objects `--json` prints; a FonotecaError (a bad date, an unknown
show) reaches the app's one handler, which answers its class's status with `{"detail": the error's line}`. Every route
is a plain `def`, run in Starlette's threadpool: archive and index reads never block the event loop, and they run side
by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from fonoteca.output import (
    EpisodeOut,
    OverviewOut,
    SearchOut,
    SegmentOut,
    ShowOut,
    StatsOut,
    TranscriptOut,
    shows_of,
    trend_rows,
)
from fonoteca.output.charts import trend_csv
from fonoteca.search.trends import TrendPoint, mentions_query, parse_terms
from fonoteca.web.deps import App, Owner
from fonoteca.web.public import episode_out, show_out

router = APIRouter(prefix="/api")


@router.get("/stats", response_model=StatsOut, tags=["archive"])
def api_stats(fonoteca: App, show: str | None = None) -> StatsOut:
    return StatsOut.of(fonoteca.stats(show))


@router.get("/shows", response_model=list[ShowOut], tags=["archive"])
def api_shows(fonoteca: App, owner: Owner) -> list[ShowOut]:
    shows = shows_of(fonoteca.archive.stats(), fonoteca.archive.episodes_per_show())
    return [show_out(show, owner=owner) for show in shows]


@router.get("/shows/{slug}/episodes", response_model=list[EpisodeOut], tags=["archive"])
def api_episodes(fonoteca: App, owner: Owner, slug: str, status: str | None = None) -> list[EpisodeOut]:
    """`media` is what the episode page's player plays for you, never a path on the server."""
    archive = fonoteca.archive
    episodes = archive.list_episodes(archive.get_show(slug).id, status=status)
    return [episode_out(fonoteca, e, owner=owner) for e in episodes]


@router.get("/episodes/{episode_id}/transcript", response_model=TranscriptOut, tags=["archive"])
def api_transcript(fonoteca: App, owner: Owner, episode_id: str) -> TranscriptOut:
    episode = fonoteca.episode(episode_id)
    segments = [SegmentOut.of(s) for s in fonoteca.archive.segments(episode.id)]
    return TranscriptOut(episode=episode_out(fonoteca, episode, owner=owner), segments=segments)


@router.get("/episodes/{episode_id}/chapters", response_model=OverviewOut, tags=["archive"])
def api_chapters(fonoteca: App, episode_id: str) -> OverviewOut:
    """The episode at a glance: its chapters (the publisher's when it gave some, else found in the transcript), key
    moments (verbatim quotes with their second) and topics."""
    episode, overview = fonoteca.overview(episode_id)
    return OverviewOut.of(episode, overview)


@router.get("/search", response_model=SearchOut, tags=["search"])
def api_search(
    fonoteca: App, q: str, show: str | None = None, episode: str | None = None,
    date_from: str | None = Query(None, alias="from"), date_to: str | None = Query(None, alias="to"),
    limit: int = Query(20, ge=1, le=200), offset: int = Query(0, ge=0),
    order: str = Query("relevance", pattern="^(relevance|date)$"),
    mode: str | None = Query(None, pattern="^(keyword|meaning|hybrid)$",
                             description="default: hybrid where passages are embedded, else keyword"),
    speaker: str | None = Query(None, max_length=200, description="only what this speaker says (any case or accents)"),
) -> SearchOut:  # fmt: skip
    """Each hit says who said it (`speaker`) where the transcript names its speakers."""
    results = fonoteca.search(q, show=show, episode=episode, date_from=date_from, date_to=date_to, limit=limit,
                              offset=offset, order=order, mode=mode, speaker=speaker)  # fmt: skip
    return SearchOut.of(q, results)


@dataclass
class TrendQuery:
    """The settings of a chart, as its page's URL and every trend endpoint carry them."""

    terms: list[str]
    show: str | None
    per: str
    by: str
    split: str | None
    speaker: str | None = None
    speakers: int | None = None


async def trend_query(
    term: list[str] = Query(..., description='words or phrases, comma-separated or repeated (up to 10; "a, b" quoted)'),
    show: str | None = Query(None, description="only this show (its slug)"),
    per: str = Query("raw", pattern="^(raw|hour|1000-words)$", description="raw, per hour of audio, per 1,000 words"),
    per_hour: bool = Query(False, description="the same as per=hour"),
    by: str = Query("episode", pattern="^(episode|week|month|year)$"),
    split: str | None = Query(None, pattern="^(show|speaker)$",
                              description="show or speaker: one line per show or per speaker, for a single word"),
    speaker: str | None = Query(None, max_length=200, description="only this speaker's mentions"),
    speakers: int | None = Query(None, ge=1, le=20, description="split=speaker: lines for the N who said it most"),
) -> TrendQuery:  # fmt: skip
    return TrendQuery(parse_terms(term), show, "hour" if per_hour else per, by, split, speaker or None, speakers)


Trend = Annotated[TrendQuery, Depends(trend_query)]


def _points(fonoteca: App, q: TrendQuery) -> list[TrendPoint]:
    return fonoteca.trend(
        q.terms, show=q.show, per=q.per, by=q.by, split_by=q.split, speaker=q.speaker, speakers=q.speakers
    )


@router.get("/trend", response_model=list[TrendPoint], tags=["search"])
def api_trend(fonoteca: App, q: Trend) -> list[TrendPoint]:
    """One point per line (a word, or a show with split=show, a speaker with split=speaker) and episode or period,
    in date order."""
    return _points(fonoteca, q)


@router.get("/trend.csv", tags=["search"], response_class=PlainTextResponse)
def api_trend_csv(fonoteca: App, q: Trend) -> PlainTextResponse:
    """The same points as /api/trend, as the CSV that `fonoteca trend --csv` prints."""
    body = trend_csv(trend_rows(_points(fonoteca, q), per=q.per, by=q.by))
    headers = {"Content-Disposition": 'attachment; filename="trend.csv"'}
    return PlainTextResponse(body, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/trend/moments", response_model=SearchOut, tags=["search"])
def api_trend_moments(
    fonoteca: App, q: Trend, key: str = Query(..., description="the point's key: an episode id or a period"),
    limit: int = Query(100, ge=1, le=500),
) -> SearchOut:  # fmt: skip
    """The mentions behind one point: each segment of that episode or period that says a word, with its second
    (only `speaker`'s, for a point of one speaker's line)."""
    found = fonoteca.trend_moments(q.terms, key=key, by=q.by, show=q.show, limit=limit, speaker=q.speaker)
    return SearchOut.of(mentions_query(q.terms), found)
