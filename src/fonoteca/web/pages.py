"""The server-rendered pages: home, status, show, episode, search, the API's description, media, exports and login.

Every route is a plain `def`: Starlette runs it in its threadpool, so the archive's SQLite calls never block the event
loop and concurrent requests read in parallel (each thread has its own reader connection).
"""

from __future__ import annotations

import hmac
import mimetypes
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape

from fonoteca.app import Fonoteca
from fonoteca.archive import Episode, Segment
from fonoteca.corrections import UNSURE_BELOW
from fonoteca.errors import NotFound
from fonoteca.llm.analyze import KINDS, current_analyses
from fonoteca.llm.summary import KEY_MOMENTS_NOTE
from fonoteca.output import shows_of
from fonoteca.output.chapters import CHAPTER_FORMATS
from fonoteca.output.charts import PALETTE, SENTENCE, points_json
from fonoteca.output.speakers import speaker_colours, speaking_times
from fonoteca.output.transcripts import EXPORT_FORMATS
from fonoteca.pipeline import PENDING
from fonoteca.search import BadDate, matches
from fonoteca.search.query import parse
from fonoteca.search.trends import EXPLAINED, GROUPINGS, UNITS, BadTrend, parse_terms
from fonoteca.text import format_timestamp, stats_header
from fonoteca.web.deps import App, LoginSessions, LoginThrottle, Owner, RenderedTranscript, Templates, Transcripts
from fonoteca.web.findable import PageMeta, base_url, episode_meta, home_meta, plain_meta, shorten, show_meta
from fonoteca.web.guards import SESSION_COOKIE, Sessions, client_address, is_tls, too_many
from fonoteca.web.public import media_src, servable_media
from fonoteca.web.words_routes import show_words, unsure_marked

PAGE_SIZE = 20
EXPORT_MEDIA_TYPES = {"txt": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt", "json": "application/json"}

router = APIRouter(include_in_schema=False)


@router.post("/login")
def login(
    request: Request, fonoteca: App, templates: Templates, throttle: LoginThrottle, sessions: LoginSessions,
    token: str = Form(...), next: str = Form("/"),
) -> Response:  # fmt: skip
    """The owner signs in: the cookie holds a signed session (never the token), `Secure` when served over TLS."""
    expected = fonoteca.settings.token.get_secret_value()
    target = next if _same_site(next) else "/"
    client = client_address(request)
    if expected and (wait := throttle.retry_after(client)):
        return too_many(request, wait)
    if expected and not hmac.compare_digest(token.encode(), expected.encode()):
        throttle.failed(client)
        context = {"next": target, "error": "wrong token"}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    if expected:
        throttle.succeeded(client)
        secure = is_tls(request)
        response.set_cookie(
            SESSION_COOKIE, sessions.issue(), max_age=Sessions.MAX_AGE, httponly=True, samesite="strict", secure=secure
        )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", secure=is_tls(request))
    return response


def _trend_context(
    fonoteca: Fonoteca, *, word: str, show: str, by: str, per: str, split: str, rolling: str, speaker: str = ""
) -> dict[str, object]:
    """The chart's settings as the URL gave them, and its first points, drawn without waiting for a second request
    (the page's script asks /api/trend again only when a setting changes). A rolling average that is not a number of
    points is off: a hand-edited link still shows its chart."""
    before, after = SENTENCE.split("{word}")
    rolling_points = min(52, int(rolling)) if rolling.strip().isdigit() else 0
    points, error = [], ""
    if word.strip():
        try:
            points = fonoteca.trend(
                parse_terms([word]), show=show or None, per=per, by=by, split_by=split or None, speaker=speaker or None
            )
        except (BadTrend, NotFound) as exc:  # e.g. a show renamed since the link was copied: the page still opens
            error = str(exc)
    return {
        "before": before, "after": after, "groupings": GROUPINGS, "palette": PALETTE,
        "normalisations": [(key, UNITS[key], EXPLAINED[key]) for key in UNITS],
        "trend": {"word": word, "show": show, "by": by, "per": per, "split": split, "rolling": rolling_points,
                  "speaker": speaker},
        "trend_json": htmlsafe_json_dumps(points, dumps=lambda value, **_: points_json(value)), "trend_error": error,
    }  # fmt: skip


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, fonoteca: App, templates: Templates, word: str = "", show: str = "", by: str = "episode",
    per: str = "raw", split: str = "", rolling: str = "", speaker: str = Query("", max_length=200),
) -> Response:  # fmt: skip
    archive = fonoteca.archive
    stats = archive.stats()
    shows = shows_of(stats, archive.episodes_per_show())
    trend = _trend_context(fonoteca, word=word, show=show, by=by, per=per, split=split, rolling=rolling,
                           speaker=speaker)  # fmt: skip
    meta = home_meta(stats_header(stats.episodes, stats.seconds), archive.list_shows())
    return _page(request, fonoteca, templates, "home.html", {"stats": stats, "shows": shows, **trend}, meta)


@router.get("/status", response_class=HTMLResponse)
def status(request: Request, fonoteca: App, templates: Templates) -> Response:
    """What is pending and what failed, with the reasons; on PostgreSQL also the fleet: workers alive, jobs per
    queue, what is running, and the last hour's throughput (as `fonoteca status`)."""
    archive = fonoteca.archive
    context = {
        "counts": sorted(archive.status_counts().items()),
        "pending": archive.list_episodes(status=PENDING),
        "failed": archive.list_episodes(status="failed"),
        **fleet_context(fonoteca),
    }
    return templates.TemplateResponse(request, "status.html", context)


def fleet_context(fonoteca: Fonoteca) -> dict[str, object]:
    """On PostgreSQL, the workers and their queues (_fleet.html): `fleet`, and the episodes of the running jobs."""
    archive = fonoteca.archive
    fleet = None if archive.is_sqlite else fonoteca.jobs.fleet()
    running = archive.episodes_by_ids(str(job.subject.get("episode_id")) for job in fleet.running) if fleet else {}
    return {"fleet": fleet, "running": running}


@router.get("/show/{slug}", response_class=HTMLResponse)
def show_page(
    request: Request, fonoteca: App, templates: Templates, owner: Owner, slug: str, word: str = "",
    by: str = "episode", per: str = "raw", rolling: str = "", wrong: str = "", right: str = "",
    split: str = Query("", pattern="^(|speaker)$"), speaker: str = Query("", max_length=200),
) -> Response:  # fmt: skip
    archive = fonoteca.archive
    show = archive.get_show(slug)
    stats = archive.stats(show.id)
    context = {
        **(show_words(fonoteca, show, wrong=wrong, right=right) if owner else {}),
        "show": show,
        "stats": stats,
        "episodes": (episodes := archive.list_episodes(show.id, newest_first=True)),
        "topics": archive.overviews.topics([e.id for e in episodes]),
        "speakers": speaking_times(fonoteca.speaking_time(show.slug)),
        **_trend_context(
            fonoteca, word=word, show=show.slug, by=by, per=per, split=split, rolling=rolling, speaker=speaker
        ),  # fmt: skip
    }
    meta = show_meta(show, stats_header(stats.episodes, stats.seconds))
    return _page(request, fonoteca, templates, "show.html", context, meta)


@router.get("/episode/{episode_id}", response_class=HTMLResponse)
def episode_page(
    request: Request, fonoteca: App, templates: Templates, transcripts: Transcripts, owner: Owner, episode_id: str,
    t: str = "0", q: str = "", analysis_error: str = "",
) -> Response:  # fmt: skip
    archive = fonoteca.archive
    episode = archive.get_episode(episode_id)
    analyses, translations = current_analyses(archive, episode) if owner else ({}, [])
    key = (episode.id, episode.transcript_rev, q, owner)
    speakers = speaking_times(archive.speaking_time(episode.id))
    rendered = transcripts.get(key)
    if rendered is None:
        colours = {s.name: s.colour for s in speakers}
        segments = archive.segments(episode.id, words=owner)
        rendered = _transcript_block(episode, segments, q, owner=owner, colours=colours)
        transcripts.put(key, rendered)
    show = archive.get_show(episode.show_id)
    start = _seconds(t)
    moment = archive.said_at(episode.id, start) if start and episode.kind != "text" else None
    meta = episode_meta(episode, show, rendered.first_lines, rendered.text, moment)
    context = {
        "episode": episode,
        "show": show,
        "transcript": rendered.html,
        "has_transcript": rendered.has_lines,
        "start": start,
        "query": q,
        "media_src": media_src(fonoteca, episode, owner=owner),
        "formats": EXPORT_FORMATS,
        "analyses": analyses,
        "translations": translations,
        "analysis_error": analysis_error[:500],
        # the embedded setup's summary is the key moments: no model summary to ask for, and the line that says why
        "analysis_kinds": [k for k in KINDS if k != "summary" or fonoteca.settings.llm_capable],
        "key_moments_note": "" if fonoteca.settings.llm_capable else KEY_MOMENTS_NOTE,
        "line_edits": fonoteca.corrections.edits(episode.id) if owner else [],
        "voices": fonoteca.speakers.voices(episode.id) if owner else [],
        "show_speakers": archive.voices.library(show.id) if owner else [],
        "unsure_below": UNSURE_BELOW,
        "glance": archive.overviews.overview(episode.id),
        "speakers": speakers,
    }
    return _page(request, fonoteca, templates, "episode.html", context, meta)


def _page(
    request: Request, fonoteca: Fonoteca, templates: Jinja2Templates, name: str, context: dict[str, object],
    meta: PageMeta, status_code: int = 200,
) -> Response:  # fmt: skip
    """A page with its title, description, canonical URL, cards and JSON-LD (fonoteca.web.findable)."""
    context["meta"] = meta.render(base_url(request, fonoteca.settings.public_url))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _transcript_block(
    episode: Episode, segments: list[Segment], q: str, *, owner: bool, colours: dict[str, str]
) -> RenderedTranscript:
    """The transcript's lines as HTML, every text escaped, the lines that match `q` marked; whether there are any, the
    first lines and the whole text (for the page's description and JSON-LD). Built with one join rather than a
    template loop: Jinja's per-line work was most of a long episode's page time. The owner's block numbers its lines
    (for editing them) and underlines the words Whisper was unsure of. A speaker's lines carry their name
    (`data-speaker`, which the player shows) and colour (`colours`: output.speakers), the name written where their
    turn starts."""
    first_lines = shorten(" ".join(s.text.strip() for s in segments[:8]))
    text = "\n".join(s.text.strip() for s in segments)
    if episode.kind == "text":
        html = Markup("".join(f"<p>{escape(s.text)}</p>\n" for s in segments))
        return RenderedTranscript(html, bool(segments), first_lines, text)
    parsed = parse(q)  # lines are marked here, with search's own words: whole words, same folding
    link = f"/episode/{escape(episode.id)}?t="
    lines = []
    previous = None
    for s in segments:
        mark = " match" if q and matches(parsed, s.text) else ""
        voice, speaker = "", ""
        if s.speaker:
            name = escape(s.speaker)
            voice = f' data-speaker="{name}" style="--speaker:{colours.get(s.speaker, "inherit")}"'
            mark += " voiced" if s.speaker == previous else " voiced turn"
            speaker = f'<span class="speaker">{name}:</span> '
        previous = s.speaker
        shown = unsure_marked(s, UNSURE_BELOW) if owner else escape(s.text)
        number = f' data-idx="{s.idx}"' if owner else ""
        lines.append(
            f'<p class="line{mark}" data-start="{s.start}" data-end="{s.end}"{number}{voice} tabindex="0">'
            f'<a class="ts" href="{link}{int(s.start)}">{format_timestamp(s.start)}</a> '
            f'{speaker}<span class="text">{shown}</span></p>\n'
        )
    return RenderedTranscript(Markup("".join(lines)), bool(segments), first_lines, text)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request, fonoteca: App, templates: Templates, q: str = "", show: str = "",
    date_from: str = Query("", alias="from"), date_to: str = Query("", alias="to"), page: int = Query(1, ge=1),
    order: str = "relevance", episode: str = "", mode: str = Query("", pattern="^(|keyword|meaning|hybrid)$"),
    speaker: str = Query("", max_length=200),
) -> Response:  # fmt: skip
    results = None
    error: BadDate | None = None
    scoped = fonoteca.archive.get_episode(episode) if episode else None
    if q.strip():
        try:
            results = fonoteca.search(
                q, show=show or None, date_from=date_from or None, date_to=date_to or None, episode=episode or None,
                limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, order=order, mode=mode or None,
                speaker=speaker or None,
            )  # fmt: skip
        except BadDate as exc:  # shown above the form the user can correct it in, with the class's status
            error = exc
    pages = (results.total + PAGE_SIZE - 1) // PAGE_SIZE if results else 0
    params = {"q": q, "show": show, "from": date_from, "to": date_to, "order": order, "episode": episode, "mode": mode,
              "speaker": speaker}  # fmt: skip
    context = {
        "q": q, "results": results, "shows": fonoteca.archive.list_shows(), "show": show, "date_from": date_from,
        "date_to": date_to, "page": page, "pages": pages, "order": order, "base": _query_string(params),
        "error": str(error) if error else "", "episode": scoped, "mode": mode, "speaker": speaker,
        "colours": speaker_colours(sorted({h.speaker for h in results.hits if h.speaker}) if results else []),
        "unscoped": _query_string({k: v for k, v in params.items() if k != "episode"}),  # the episode chip's ×
    }  # fmt: skip
    meta = plain_meta(f"{q} — Search" if q.strip() else "Search", "/search", "Search every transcript of the archive.")
    return _page(request, fonoteca, templates, "search.html", context, meta, error.http_status if error else 200)


@router.get("/api", response_class=HTMLResponse)
def api_page(request: Request, templates: Templates) -> Response:
    """The API's endpoints and parameters, from the same OpenAPI schema as /openapi.json; works offline."""
    endpoints = [
        (method.upper(), path, operation)
        for path, methods in request.app.openapi()["paths"].items()
        for method, operation in methods.items()
    ]
    return templates.TemplateResponse(request, "api.html", {"endpoints": endpoints})


@router.get("/media/{episode_id}")
def media(fonoteca: App, owner: Owner, episode_id: str) -> Response:
    """The episode's local media, where this visitor's player plays it (web/public.py); Starlette's FileResponse
    answers Range requests, so seeking works."""
    episode = fonoteca.archive.get_episode(episode_id)
    path = servable_media(fonoteca, episode)
    if path is None or media_src(fonoteca, episode, owner=owner) != f"/media/{episode.id}":
        raise HTTPException(404, "no local media for this episode")
    media_type = mimetypes.guess_type(path.name)[0] or episode.media_type or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


@router.get("/episode/{episode_id}/transcript.{fmt}")
def export(fonoteca: App, episode_id: str, fmt: str) -> Response:
    """The transcript as `fonoteca export` writes it; an episode with nothing transcribed yet is its error, not an
    empty file."""
    if fmt not in EXPORT_FORMATS:  # a path that names no file: a 404, as for any other unknown path
        raise HTTPException(404, f"unknown format; use one of {', '.join(EXPORT_FORMATS)}")
    episode = fonoteca.episode(episode_id)
    return PlainTextResponse(
        fonoteca.export(episode.id, fmt),
        media_type=f"{EXPORT_MEDIA_TYPES[fmt]}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{episode.id}.{fmt}"'},
    )


@router.get("/episode/{episode_id}/chapters.{fmt}")
def export_chapters(fonoteca: App, episode_id: str, fmt: str) -> Response:
    """The chapters as `fonoteca chapters --format` writes them: Podcasting 2.0 chapters JSON or WebVTT chapters."""
    if fmt not in CHAPTER_FORMATS:
        raise HTTPException(404, f"unknown format; use one of {', '.join(CHAPTER_FORMATS)}")
    episode = fonoteca.episode(episode_id)
    media_type = "application/json+chapters" if fmt == "json" else "text/vtt"
    return PlainTextResponse(
        fonoteca.export_chapters(episode.id, fmt),
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{episode.id}.chapters.{fmt}"'},
    )


def _query_string(params: dict[str, str]) -> str:
    return "&".join(f"{k}={quote(v)}" for k, v in params.items() if v)


def _seconds(t: str) -> float:
    """A `?t=` deep link's second; anything that is not a number starts at the beginning rather than failing."""
    try:
        seconds = float(t)
    except ValueError:
        return 0.0
    return seconds if 0 < seconds < float("inf") else 0.0


def _same_site(target: str) -> bool:
    """A path (and query) of this site: never `//host` or `/\\host`, which browsers read as another site."""
    return target.startswith("/") and not target.startswith(("//", "/\\")) and not any(c < " " for c in target)
