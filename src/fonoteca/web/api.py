"""The JSON API under /api/: the archive's shows, episodes, transcripts and stats, search and word trends.

The answers are fonoteca.output's models, the same objects `--json` prints. Every route is a plain `def`, run in
Starlette's threadpool: archive and index reads never block the event loop, and they run side by side.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from fonoteca.output import EpisodeOut, SearchOut, ShowOut, StatsOut, TranscriptOut, shows_of
from fonoteca.search import BadDate
from fonoteca.search.trends import TrendPoint
from fonoteca.web.deps import App

MAX_TREND_TERMS = 8

router = APIRouter(prefix="/api")


@router.get("/stats", response_model=StatsOut, tags=["archive"])
def api_stats(fonoteca: App, show: str | None = None) -> StatsOut:
    return StatsOut.of(fonoteca.stats(show))


@router.get("/shows", response_model=list[ShowOut], tags=["archive"])
def api_shows(fonoteca: App) -> list[ShowOut]:
    return shows_of(fonoteca.archive.stats(), fonoteca.archive.episodes_per_show())


@router.get("/shows/{slug}/episodes", response_model=list[EpisodeOut], tags=["archive"])
def api_episodes(fonoteca: App, slug: str, status: str | None = None) -> list[EpisodeOut]:
    archive = fonoteca.archive
    return [EpisodeOut.of(e) for e in archive.list_episodes(archive.get_show(slug).id, status=status)]


@router.get("/episodes/{episode_id}/transcript", response_model=TranscriptOut, tags=["archive"])
def api_transcript(fonoteca: App, episode_id: str) -> TranscriptOut:
    episode = fonoteca.episode(episode_id)
    return TranscriptOut.of(episode, fonoteca.archive.segments(episode.id))


@router.get("/search", response_model=SearchOut, tags=["search"])
def api_search(
    fonoteca: App, q: str, show: str | None = None, episode: str | None = None,
    date_from: str | None = Query(None, alias="from"), date_to: str | None = Query(None, alias="to"),
    limit: int = Query(20, ge=1, le=200), offset: int = Query(0, ge=0),
    order: str = Query("relevance", pattern="^(relevance|date)$"),
) -> SearchOut:  # fmt: skip
    try:
        results = fonoteca.search(q, show=show, episode=episode, date_from=date_from, date_to=date_to, limit=limit,
                                  offset=offset, order=order)  # fmt: skip
    except BadDate as exc:
        raise HTTPException(422, str(exc)) from None
    return SearchOut.of(q, results)


@router.get("/trend", response_model=list[TrendPoint], tags=["search"])
def api_trend(
    fonoteca: App, term: list[str] = Query(..., description="word or phrase; repeat for several"),
    show: str | None = None, per_hour: bool = False, by: str = Query("episode", pattern="^(episode|month|year)$"),
) -> list[TrendPoint]:  # fmt: skip
    terms = [t.strip() for raw in term for t in raw.split(",") if t.strip()][:MAX_TREND_TERMS]
    return fonoteca.trend(terms, show=show, per_hour=per_hour, by=by)
