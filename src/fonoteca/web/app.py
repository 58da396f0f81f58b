"""The web archive: server-rendered pages, a JSON API and the LLM routes over one `Fonoteca` application object.

create_app builds that object once and assembles, explicitly: the guards (middleware, guards.py), the routers (pages.py,
api.py, llm_routes.py, watch_routes.py, words_routes.py, speaker_routes.py, feed_routes.py, owner_routes.py; each gets
the object through the dependencies of deps.py), the MCP endpoint (/mcp, fonoteca.mcp_server), the error route, the
static files, and the lifespan, which keeps the search index fresh in the background and closes everything at the end.
The owner's add, sync and retry run on the board of owner_tasks.py, which is also the object's event sink.

Errors take one route: a route lets a FonotecaError through, and the app's one handler answers the class's
`http_status` with the error's line — `{"detail": ...}` under /api/, the error page elsewhere. Routes catch an error
only to show it where the user is (a form's page, the search page's box), never to choose a status.

Pages: home (every show with the seed's header), show (the word-over-history chart and the episode list), episode
(player + transcript that follows it, `?t=` deep links, exports), search. API under /api/ with an OpenAPI schema,
described by the server-rendered /api page: FastAPI's Swagger page (/docs) is switched off, because it loads its script
from a CDN (offline archives have none) and runs an inline script, which the Content-Security-Policy forbids.
Feed and transcript text is untrusted: Jinja autoescapes everything, show notes go through the sanitiser, and the
Content-Security-Policy allows only this server's own scripts. The paths an archive stores are untrusted too: /media/
serves only files under fonoteca's media folder or a local show's own folder. The middleware (guards.py) checks the
Host name, the body size, cross-site requests and who may open the route (web/access.py) before any route runs.

A GET never writes: requests search the index as it is, and the lifespan's indexer brings in, every INDEX_EVERY_S,
what `fonoteca sync` (or anything else) added to the archive. It opens the index writer only when something changed,
and while another process holds the writer it simply tries again at the next round.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from http import HTTPStatus
from types import SimpleNamespace

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fonoteca import __version__
from fonoteca.app import Fonoteca
from fonoteca.archive import Archive
from fonoteca.errors import FonotecaError, Overloaded
from fonoteca.mcp_server import build_server
from fonoteca.settings import Settings
from fonoteca.web import (
    api,
    feed_routes,
    findable,
    llm_routes,
    owner_routes,
    pages,
    speaker_routes,
    watch_routes,
    words_routes,
)
from fonoteca.web.access import MCP_PATH, unclassified
from fonoteca.web.caching import (
    GZIP_FROM_BYTES,
    GZIP_LEVEL,
    CacheValidation,
    EarlyRevalidation,
    SharedAnswers,
    StaticAssets,
    StaticFirst,
    answers_dir,
    follow_changes,
    generation,
    read_validators,
)
from fonoteca.web.chat_limits import PublicChatLimits
from fonoteca.web.crowd import CrowdGuard, Turns
from fonoteca.web.deps import WEB_DIR, TranscriptCache, make_templates
from fonoteca.web.guards import AccessGate, BodyLimit, CsrfGuard, HardenHeaders, Sessions, Throttle
from fonoteca.web.owner_tasks import OwnerTasks
from fonoteca.web.rate_store import shared_rate_limiter

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
INDEX_EVERY_S = 1.0
CHOOSE_EVERY_S = 5.0
RETRY_AFTER_S = 10  # what a 503 tells a client to wait: a database server's restart takes seconds
EMBED_EVERY_S = 5.0  # when nothing is left to embed: a new episode's meaning follows its keywords within seconds

log = logging.getLogger(__name__)


def app_from_environment() -> FastAPI:
    """The app of one of `fonoteca serve --workers N`'s processes, from the settings the first one put in the
    environment (fonoteca.web.run_processes)."""
    from fonoteca.web import freeze_what_is_loaded, show_progress_lines

    show_progress_lines()
    app = create_app(Settings.from_env())
    log.info("process %d serves", os.getpid())
    freeze_what_is_loaded()
    return app


def create_app(settings: Settings) -> FastAPI:
    tasks = OwnerTasks()  # the owner's add, sync and retry from the web; their progress comes as the app's events
    fonoteca = Fonoteca(settings, events=tasks)
    assets = StaticAssets(WEB_DIR / "static")
    templates = make_templates(assets.url)
    throttle = Throttle()
    sessions = Sessions(settings.token.get_secret_value())
    state = SimpleNamespace(validators=read_validators(fonoteca))
    limiter = shared_rate_limiter(settings)  # per address, across the archive's server processes on this machine

    def login_page(request: Request, target: str) -> Response:
        return templates.TemplateResponse(request, "login.html", {"next": target}, status_code=401)

    async def failed(request: Request, exc: FonotecaError) -> Response:
        message = exc.told_to(getattr(request.state, "owner", False))
        # 503: the archive's database (or a server it needs) is away for now; clients and proxies may ask again later.
        wait = exc.retry_after if isinstance(exc, Overloaded) else RETRY_AFTER_S if exc.http_status == 503 else None
        headers = {"Retry-After": str(wait)} if wait is not None else None
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=exc.http_status, headers=headers)
        context = {"title": HTTPStatus(exc.http_status).phrase.capitalize(), "message": message}
        return templates.TemplateResponse(request, "error.html", context, status_code=exc.http_status, headers=headers)

    hosts = allowed_hosts(settings)
    middleware = [  # outermost first
        Middleware(StaticFirst, assets=assets),  # no guard: see fonoteca.web.caching
        Middleware(EarlyRevalidation, state=state, settings=settings, allowed_hosts=hosts),
        Middleware(GZipMiddleware, minimum_size=GZIP_FROM_BYTES, compresslevel=GZIP_LEVEL),
        Middleware(HardenHeaders),
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False),
        Middleware(BodyLimit, max_bytes=settings.max_request_kb * 1024),
        Middleware(CsrfGuard),
        Middleware(AccessGate, settings=settings, sessions=sessions, throttle=throttle, login_page=login_page),
        Middleware(CacheValidation, state=state, fonoteca=fonoteca),
        Middleware(CrowdGuard, settings=settings, limiter=limiter),
        Middleware(
            SharedAnswers,
            folder=answers_dir(settings),
            most_mb=settings.answer_cache_mb,
            generation=generation(settings, WEB_DIR / "templates", assets.urls),
        ),
        Middleware(Turns, fonoteca=fonoteca),
    ]
    app = FastAPI(
        title="fonoteca", version=__version__, description="A show's whole history, searchable.", lifespan=lifespan,
        docs_url=None, redoc_url=None,  # see the module docstring: /api describes the API instead
        middleware=middleware, exception_handlers={FonotecaError: failed},
    )  # fmt: skip
    app.state.fonoteca, app.state.templates, app.state.throttle = fonoteca, templates, throttle
    app.state.sessions, app.state.chat_limits, app.state.tasks = sessions, PublicChatLimits(settings, limiter), tasks
    app.state.transcripts, app.state.caching = TranscriptCache(), state
    app.include_router(pages.router)
    app.include_router(findable.router)
    app.include_router(api.router)
    app.include_router(llm_routes.router)
    app.include_router(watch_routes.router)
    app.include_router(words_routes.router)
    app.include_router(speaker_routes.router)
    app.include_router(feed_routes.router)
    app.include_router(feed_routes.api_router)
    app.state.mcp = mount_mcp(app, fonoteca)
    app.include_router(owner_routes.router)
    if missing := unclassified(app.routes):
        raise RuntimeError(f"routes with no access class in web/access.py: {', '.join(missing)}")
    return app


def mount_mcp(app: FastAPI, fonoteca: Fonoteca) -> list[MCPServer]:
    """The MCP server at /mcp (Streamable HTTP), behind the same guards as every route (web/access.py classifies it
    as a reader's): the owner's requests reach every tool, anyone else's (public mode, or a proxied request to a server
    without a token) a server with the read-only tools only. Stateless, with JSON answers: any request can go to any
    worker, and no session outlives its request. The SDK's own Host check is off: TrustedHostMiddleware did it."""
    settings = fonoteca.settings
    links = settings.public_url or f"http://{settings.host}:{settings.port}"
    servers = [build_server(fonoteca, links_base=links), build_server(fonoteca, links_base=links, owner=False)]
    owner, reader = (
        server.streamable_http_app(
            streamable_http_path=MCP_PATH, stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        ).routes[0].endpoint
        for server in servers
    )  # fmt: skip

    # POST only: a stateless server offers no event stream to GET and no session to DELETE (405, as the spec allows).
    route = Route(MCP_PATH, ByVisitor(owner, reader), methods=["POST"], include_in_schema=False)
    app.router.routes.append(route)
    return servers


class ByVisitor:
    """An ASGI app that hands the owner's requests (AccessGate's request.state.owner) to one app, the others' to
    another."""

    def __init__(self, owner: ASGIApp, reader: ASGIApp) -> None:
        self.owner, self.reader = owner, reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.owner if scope.get("state", {}).get("owner") else self.reader
        await chosen(scope, receive, send)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    fonoteca: Fonoteca = app.state.fonoteca
    async with AsyncExitStack() as mcp_sessions:  # the MCP servers' task groups, around the background's
        for server in app.state.mcp:
            await mcp_sessions.enter_async_context(server.session_manager.run())
        async with anyio.create_task_group() as background:
            background.start_soon(follow_changes, fonoteca, app.state.caching)
            background.start_soon(index_when_chosen, fonoteca)
            try:
                yield
            finally:
                # An update in progress finishes first (a worker thread is never abandoned): its commit is not torn.
                background.cancel_scope.cancel()
    if "llm" in vars(fonoteca):  # the chat's connection pool belongs to this event loop; no client, nothing to close
        await fonoteca.llm.aclose()
    await anyio.to_thread.run_sync(fonoteca.close)


async def index_when_chosen(fonoteca: Fonoteca) -> None:
    """Keep the search index (and the meaning's vectors) fresh if this is the one process of the archive's servers on
    this machine that does (`serve --workers N`, or two `fonoteca serve`): whichever holds the indexer's lock, a file
    beside the index. The others try again every CHOOSE_EVERY_S, so one takes over when that process ends."""
    lock_path = fonoteca.settings.index_dir.with_name(fonoteca.settings.index_dir.name + ".serving")
    with lock_path.open("a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await anyio.sleep(CHOOSE_EVERY_S)
        log.info("process %d keeps the search index up to date", os.getpid())
        async with anyio.create_task_group() as indexing:
            indexing.start_soon(keep_index_fresh, fonoteca)
            indexing.start_soon(keep_meaning_fresh, fonoteca)  # embeddings (unless off), then chapters and topics


async def keep_index_fresh(fonoteca: Fonoteca) -> None:
    """Index what changed in the archive, again and again, until the app stops."""
    failing = ""
    while True:
        try:
            await anyio.to_thread.run_sync(fonoteca.update_index)
            failing = ""
        except Exception as exc:  # noqa: BLE001 — a full disk must not stop the server answering from the index it has
            if str(exc) != failing:  # said once, not every round
                log.error("cannot update the search index: %s", exc)
            failing = str(exc)
        await anyio.sleep(INDEX_EVERY_S)


async def keep_meaning_fresh(fonoteca: Fonoteca) -> None:
    """Embed, one episode at a time, what the indexer brought in, for search by meaning, and make its chapters, key
    moments and topics: apart from the indexer, so hours of embedding a big archive never delay a new episode's
    keyword search, and stopping the server waits for one episode at most. It starts after a pause: a server that has
    just started answers its first pages first."""
    meaning = fonoteca.settings.embeddings != "none"
    quiet = QuietArchive(fonoteca.archive)

    def one_episode() -> int:
        return (fonoteca.embed(most=1) if meaning else 0) + fonoteca.glance(most=1)

    failing = ""
    while True:
        await anyio.sleep(EMBED_EVERY_S)
        if not await anyio.to_thread.run_sync(quiet.changed):
            continue
        embedded = 1
        while embedded:
            try:
                embedded = await anyio.to_thread.run_sync(one_episode)
                failing = ""
            except Exception as exc:  # noqa: BLE001 — an endpoint that is down must not stop the server; said once
                if str(exc) != failing:
                    log.error("cannot embed for search by meaning: %s", exc)
                failing, embedded = str(exc), 0
                quiet.forget()  # tried again at the next round
        quiet.nothing_left()


class QuietArchive:
    """Whether anything was written to the archive since a background round last found nothing left to do: finding
    that out (the passages not embedded, the vector index's state) reads every episode, ~0.3 s of CPU on a 1 500-hour
    archive, which every round took from the requests of a crowd (bench/web.py) while nothing had changed. Any write,
    by any process, moves the archive's change counter, and with it a round is due again."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.counter: int | None = None  # when the round now running started
        self.idle_at: int | None = None  # when the last round that found nothing to do started

    def changed(self) -> bool:
        """Whether a round is due; it starts now."""
        try:
            self.counter = self.archive.changes()[0]
        except Exception:  # noqa: BLE001 — a database that is down: the round says so itself
            self.counter = None
        return self.counter is None or self.counter != self.idle_at

    def nothing_left(self) -> None:
        """The round found nothing (more) to do: none is due until the archive changes again."""
        self.idle_at = self.counter

    def forget(self) -> None:
        self.counter = None


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host names the server answers: loopback's, the one it listens on, and FONOTECA_ALLOWED_HOSTS."""
    configured = [name.strip().lower() for name in settings.allowed_hosts.split(",") if name.strip()]
    names = [*LOOPBACK_NAMES, settings.host.lower(), *configured]
    # A Host header names an IPv6 address in brackets (`[::1]:8000`), and is compared so.
    return list(dict.fromkeys(f"[{name}]" if ":" in name and not name.startswith("[") else name for name in names))
