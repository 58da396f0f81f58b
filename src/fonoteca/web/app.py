"""The web archive: server-rendered pages and a JSON API over the same functions the CLI uses.

Pages: home (every show with the seed's header), show (the word-over-history chart and the episode list), episode
(player + transcript that follows it, `?t=` deep links, exports), search. API under /api/ with an OpenAPI schema,
described by the server-rendered /api page: FastAPI's Swagger page (/docs) is switched off, because it loads its script
from a CDN (offline archives have none) and runs an inline script, which the Content-Security-Policy forbids.
Feed and transcript text is untrusted: Jinja autoescapes everything, show notes go through the sanitiser, and the
Content-Security-Policy allows only this server's own scripts. The paths an archive stores are untrusted too: /media/
serves only files under fonoteca's media folder or a local show's own folder. The middleware (guards.py) checks the
Host name, the body size, cross-site requests and the token before any route runs.
"""

from __future__ import annotations

import hmac
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from fonoteca import __version__
from fonoteca.archive import Archive, Episode, Show
from fonoteca.errors import NotFound
from fonoteca.ingest.transcripts import EXPORT_FORMATS, render_transcript
from fonoteca.llm.analyze import KINDS, current_analyses
from fonoteca.search import BadDate, Hit, matches, search
from fonoteca.search.query import parse
from fonoteca.search.trends import GROUPINGS, SENTENCE, TrendPoint, trend
from fonoteca.settings import Settings
from fonoteca.text import format_duration, format_timestamp, sanitize_html, stats_header
from fonoteca.web.guards import (
    BodyLimit,
    CsrfGuard,
    HardenHeaders,
    Throttle,
    TokenGate,
    client_address,
    too_many,
)
from fonoteca.web.llm_routes import router as llm_router

WEB_DIR = Path(str(files("fonoteca.web")))
TOKEN_COOKIE = "fonoteca_token"
PAGE_SIZE = 20
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


# -- API models (they make /openapi.json meaningful) ----------------------------------------------------------------


class StatsOut(BaseModel):
    episodes: int
    seconds: float
    time: str
    header: str


class ShowOut(BaseModel):
    id: int
    slug: str
    title: str
    source: str
    language: str | None
    episodes: int
    transcribed: int
    seconds: float
    time: str


class EpisodeOut(BaseModel):
    id: str
    show: str
    title: str
    date: str | None
    status: str
    duration: float | None
    source: str | None
    kind: str
    language: str | None
    url: str


class SegmentOut(BaseModel):
    start: float
    end: float
    text: str
    speaker: str | None


class TranscriptOut(BaseModel):
    episode: EpisodeOut
    segments: list[SegmentOut]


class SearchOut(BaseModel):
    query: str
    total: int
    hits: list[Hit]


def episode_out(e: Episode) -> EpisodeOut:
    return EpisodeOut(
        id=e.id, show=e.show_title, title=e.title, date=e.date, status=e.status, duration=e.duration,
        source=e.source, kind=e.kind, language=e.language, url=f"/episode/{e.id}",
    )  # fmt: skip


# -- app ------------------------------------------------------------------------------------------------------------


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        client = getattr(app.state, "llm_client", None)  # made by the LLM routes on first use
        if client is not None:
            await client.aclose()

    archive = Archive(settings.db_path)
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"), context_processors=[_csrf_context])
    throttle = Throttle()

    def login_page(request: Request, target: str) -> Response:
        return templates.TemplateResponse(request, "login.html", {"next": target}, status_code=401)

    middleware = [  # outermost first
        Middleware(HardenHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings), www_redirect=False),
        Middleware(BodyLimit, max_bytes=settings.max_request_kb * 1024),
        Middleware(CsrfGuard, session_cookie=TOKEN_COOKIE),
        Middleware(TokenGate, token=settings.token, cookie=TOKEN_COOKIE, throttle=throttle, login_page=login_page),
    ]
    app = FastAPI(
        title="fonoteca", version=__version__, description="A show's whole history, searchable.", lifespan=lifespan,
        docs_url=None, redoc_url=None,  # see the module docstring: /api describes the API instead
        middleware=middleware,
    )  # fmt: skip
    templates.env.filters["clock"] = format_timestamp
    templates.env.filters["duration"] = lambda s: format_duration(s or 0).removeprefix("0d ").removeprefix("0h ")
    templates.env.filters["sanitize"] = sanitize_html
    templates.env.globals["header"] = stats_header
    app.state.settings, app.state.archive, app.state.templates = settings, archive, templates
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return templates.TemplateResponse(request, "error.html", {"message": str(exc)}, status_code=404)

    # -- login ----------------------------------------------------------------------------------------------------

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: str = Form(...), next: str = Form("/")) -> Response:
        target = next if _same_site(next) else "/"
        client = client_address(request)
        if settings.token and (wait := throttle.retry_after(client)):
            return too_many(request, wait)
        if settings.token and not hmac.compare_digest(token.encode(), settings.token.encode()):
            throttle.failed(client)
            context = {"next": target, "error": "wrong token"}
            return templates.TemplateResponse(request, "login.html", context, status_code=401)
        response = RedirectResponse(target, status_code=303)
        if settings.token:
            throttle.succeeded(client)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    # -- pages ----------------------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        stats = archive.stats()
        shows = [(s, n, secs, len(archive.list_episodes(s.id))) for s, n, secs in stats.by_show]
        return templates.TemplateResponse(request, "home.html", {"stats": stats, "shows": shows})

    @app.get("/show/{slug}", response_class=HTMLResponse, include_in_schema=False)
    def show_page(request: Request, slug: str, word: str = "") -> Response:
        show = archive.get_show(slug)
        stats = archive.stats(show.id)
        episodes = archive.list_episodes(show.id, newest_first=True)
        before, after = SENTENCE.split("{word}")
        return templates.TemplateResponse(
            request, "show.html",
            {"show": show, "stats": stats, "episodes": episodes, "word": word, "before": before, "after": after,
             "groupings": GROUPINGS},
        )  # fmt: skip

    @app.get("/episode/{episode_id}", response_class=HTMLResponse, include_in_schema=False)
    def episode_page(
        request: Request, episode_id: str, t: str = "0", q: str = "", analysis_error: str = ""
    ) -> Response:
        episode = archive.get_episode(episode_id)
        show = archive.get_show(episode.show_id)
        analyses, translations = current_analyses(archive, episode)
        segments = archive.segments(episode.id)
        parsed = parse(q)  # lines are marked here, with search's own words: whole words, same folding
        context = {
            "episode": episode,
            "show": show,
            "segments": segments,
            "matched": {s.idx for s in segments if matches(parsed, s.text)} if q else set(),
            "start": _seconds(t),
            "query": q,
            "media_src": _media_src(settings, archive, episode),
            "formats": EXPORT_FORMATS,
            "analyses": analyses,
            "translations": translations,
            "analysis_error": analysis_error[:500],
            "analysis_kinds": KINDS,
        }
        return templates.TemplateResponse(request, "episode.html", context)

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(
        request: Request, q: str = "", show: str = "", date_from: str = Query("", alias="from"),
        date_to: str = Query("", alias="to"), page: int = Query(1, ge=1), order: str = "relevance",
        episode: str = "",
    ) -> Response:  # fmt: skip
        results, error = None, ""
        scoped = archive.get_episode(episode) if episode else None
        if q.strip():
            try:
                results = search(
                    archive, settings, q, show=show or None, date_from=date_from or None, date_to=date_to or None,
                    episode=episode or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, order=order,
                )  # fmt: skip
            except BadDate as exc:
                error = str(exc)
        pages = (results.total + PAGE_SIZE - 1) // PAGE_SIZE if results else 0
        params = {"q": q, "show": show, "from": date_from, "to": date_to, "order": order, "episode": episode}
        base = _query_string(params)
        unscoped = _query_string({k: v for k, v in params.items() if k != "episode"})  # the episode chip's ×
        return templates.TemplateResponse(
            request, "search.html",
            {"q": q, "results": results, "shows": archive.list_shows(), "show": show, "date_from": date_from,
             "date_to": date_to, "page": page, "pages": pages, "order": order, "base": base, "error": error,
             "episode": scoped, "unscoped": unscoped},
            status_code=422 if error else 200,
        )  # fmt: skip

    @app.get("/api", response_class=HTMLResponse, include_in_schema=False)
    def api_page(request: Request) -> Response:
        """The API's endpoints and parameters, from the same OpenAPI schema as /openapi.json; works offline."""
        endpoints = [
            (method.upper(), path, operation)
            for path, methods in app.openapi()["paths"].items()
            for method, operation in methods.items()
        ]
        return templates.TemplateResponse(request, "api.html", {"endpoints": endpoints})

    # -- files ----------------------------------------------------------------------------------------------------

    @app.get("/media/{episode_id}", include_in_schema=False)
    def media(episode_id: str) -> Response:
        """The episode's local media; Starlette's FileResponse answers Range requests, so seeking works."""
        episode = archive.get_episode(episode_id)
        path = servable_media(settings, archive, episode)
        if path is None:
            raise HTTPException(404, "no local media for this episode")
        media_type = mimetypes.guess_type(path.name)[0] or episode.media_type or "application/octet-stream"
        return FileResponse(path, media_type=media_type)

    @app.get("/episode/{episode_id}/transcript.{fmt}", include_in_schema=False)
    def export(episode_id: str, fmt: str) -> Response:
        if fmt not in EXPORT_FORMATS:
            raise HTTPException(404, f"unknown format; use one of {', '.join(EXPORT_FORMATS)}")
        episode = archive.get_episode(episode_id)
        body = render_transcript(archive.segments(episode.id), fmt)
        media_types = {
            "txt": "text/plain",
            "srt": "application/x-subrip",
            "vtt": "text/vtt",
            "json": "application/json",
        }
        return PlainTextResponse(
            body,
            media_type=f"{media_types[fmt]}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{episode.id}.{fmt}"'},
        )

    # -- API ------------------------------------------------------------------------------------------------------

    @app.get("/api/stats", response_model=StatsOut, tags=["archive"])
    def api_stats(show: str | None = None) -> StatsOut:
        stats = archive.stats(archive.get_show(show).id if show else None)
        return StatsOut(episodes=stats.episodes, seconds=stats.seconds, time=format_duration(stats.seconds),
                        header=stats_header(stats.episodes, stats.seconds))  # fmt: skip

    @app.get("/api/shows", response_model=list[ShowOut], tags=["archive"])
    def api_shows() -> list[ShowOut]:
        return [_show_out(archive, s, n, secs) for s, n, secs in archive.stats().by_show]

    @app.get("/api/shows/{slug}/episodes", response_model=list[EpisodeOut], tags=["archive"])
    def api_episodes(slug: str, status: str | None = None) -> list[EpisodeOut]:
        return [episode_out(e) for e in archive.list_episodes(archive.get_show(slug).id, status=status)]

    @app.get("/api/episodes/{episode_id}/transcript", response_model=TranscriptOut, tags=["archive"])
    def api_transcript(episode_id: str) -> TranscriptOut:
        episode = archive.get_episode(episode_id)
        segments = [SegmentOut(start=s.start, end=s.end, text=s.text, speaker=s.speaker)
                    for s in archive.segments(episode.id)]  # fmt: skip
        return TranscriptOut(episode=episode_out(episode), segments=segments)

    @app.get("/api/search", response_model=SearchOut, tags=["search"])
    def api_search(
        q: str, show: str | None = None, episode: str | None = None, date_from: str | None = Query(None, alias="from"),
        date_to: str | None = Query(None, alias="to"), limit: int = Query(20, ge=1, le=200),
        offset: int = Query(0, ge=0), order: str = Query("relevance", pattern="^(relevance|date)$"),
    ) -> SearchOut:  # fmt: skip
        try:
            results = search(archive, settings, q, show=show, episode=episode, date_from=date_from, date_to=date_to,
                             limit=limit, offset=offset, order=order)  # fmt: skip
        except BadDate as exc:
            raise HTTPException(422, str(exc)) from None
        return SearchOut(query=q, total=results.total, hits=results.hits)

    @app.get("/api/trend", response_model=list[TrendPoint], tags=["search"])
    def api_trend(
        term: list[str] = Query(..., description="word or phrase; repeat for several"),
        show: str | None = None, per_hour: bool = False, by: str = Query("episode", pattern="^(episode|month|year)$"),
    ) -> list[TrendPoint]:  # fmt: skip
        terms = [t.strip() for raw in term for t in raw.split(",") if t.strip()][:8]
        return trend(archive, terms, show=show, per_hour=per_hour, by=by, settings=settings)

    app.include_router(llm_router)
    return app


def _show_out(archive: Archive, show: Show, transcribed: int, seconds: float) -> ShowOut:
    return ShowOut(
        id=show.id, slug=show.slug, title=show.title, source=show.source, language=show.language,
        episodes=len(archive.list_episodes(show.id)), transcribed=transcribed, seconds=seconds,
        time=format_duration(seconds),
    )  # fmt: skip


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host names the server answers: loopback's, the one it listens on, and FONOTECA_ALLOWED_HOSTS."""
    configured = [name.strip().lower() for name in settings.allowed_hosts.split(",") if name.strip()]
    return list(dict.fromkeys([*LOOPBACK_NAMES, settings.host.lower(), *configured]))


def servable_media(settings: Settings, archive: Archive, episode: Episode) -> Path | None:
    """The episode's media file if it lies (symlinks resolved) in fonoteca's media folder, where downloads go, or in
    the folder of the local show it came from: a feed's folder when the feed is a local file, a media show's folder
    or single file. Anything else a feed managed to store, like file:///etc/shadow, is never served."""
    if not episode.media_path:
        return None
    try:
        path = Path(episode.media_path).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
        return None
    roots = [settings.media_dir]
    show = archive.get_show(episode.show_id)
    if show.source_kind == "folder":
        roots.append(Path(show.source))
    elif urlsplit(show.source).scheme == "":  # a feed file on this machine, with its media beside it
        roots.append(Path(show.source).parent)
    for root in roots:
        try:
            root = root.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if path.is_file() and (path == root or path.is_relative_to(root)):
            return path
    return None


def _media_src(settings: Settings, archive: Archive, episode: Episode) -> str | None:
    if episode.kind == "text":
        return None
    if servable_media(settings, archive, episode) is not None:
        return f"/media/{episode.id}"
    if episode.media_url and episode.media_url.startswith(("http://", "https://")):
        return episode.media_url
    return None


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


def _csrf_context(request: Request) -> dict[str, str]:
    """Every page's CSRF token (set by CsrfGuard), for its <meta> tag and its forms."""
    return {"csrf_token": getattr(request.state, "csrf_token", "")}
