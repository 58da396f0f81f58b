"""Who may open what: every route of the web archive, classified here and nowhere else.

- OPEN: the login form and signing out, for everyone, always. (The static files are too: they are answered from memory
  before any guard runs, web/caching.py, and are no route.)
- PUBLIC: what a reader needs (pages, search in every mode, the graph and its CSV, transcript exports, the read API).
  In public mode (`fonoteca serve --public`, FONOTECA_PUBLIC=1) anyone reads them; otherwise they need the token when
  one is set, like everything else.
- CHAT: the chat, the owner's unless FONOTECA_PUBLIC_CHAT opens it to anyone (within the limits of web/chat_limits.py).
- OWNER: what costs the owner's model time, changes the archive or shows the machine: LLM analyses and translations,
  conversations, watched words, a show's vocabulary and correction rules, lines fixed by hand, the names of who
  speaks, the Status page, the owner's page.

The AccessGate middleware (web/guards.py) looks each request's path up in ROUTES, with the same path templates the
routers declare; create_app refuses to build an app with a route that is not classified here (`unclassified`), so a
new route cannot be served before someone decides who may open it.

Who is the owner: with FONOTECA_TOKEN, whoever sends it (`Authorization: Bearer`) or signed in with it (a session
cookie, web/sessions.py). Without a token, the person at this machine: any request that did not come through a
reverse proxy (no Forwarded / X-Forwarded-* / X-Real-IP / Via header). A proxy that forwards the world to a server
without a token therefore opens its pages but none of the owner's actions (`serve --public` requires a token anyway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from enum import StrEnum

from starlette.routing import BaseRoute, Mount, Route, compile_path

from fonoteca.errors import ConfigError
from fonoteca.settings import Settings

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MIN_TOKEN_CHARS = 16  # ~96 bits as `secrets.token_urlsafe(12)`; a token for the network must not be guessable
MCP_PATH = "/mcp"
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "via")
_PROXY_HEADER_NAMES = frozenset(name.encode() for name in PROXY_HEADERS)


class Access(StrEnum):
    OPEN = "open"
    PUBLIC = "public"
    CHAT = "chat"
    OWNER = "owner"


ROUTES: dict[tuple[str, str], Access] = {
    # the way in
    ("POST", "/login"): Access.OPEN,
    ("POST", "/logout"): Access.OPEN,
    # reading the archive (pages.py)
    ("GET", "/"): Access.PUBLIC,
    ("GET", "/show/{slug}"): Access.PUBLIC,
    ("GET", "/episode/{episode_id}"): Access.PUBLIC,
    ("GET", "/episode/{episode_id}/transcript.{fmt}"): Access.PUBLIC,
    ("GET", "/episode/{episode_id}/chapters.{fmt}"): Access.PUBLIC,  # made of the transcript's words, no model's
    ("GET", "/media/{episode_id}"): Access.PUBLIC,  # what it serves the public: FONOTECA_PUBLIC_MEDIA (pages.py)
    ("GET", "/search"): Access.PUBLIC,
    ("GET", "/api"): Access.PUBLIC,
    ("GET", "/openapi.json"): Access.PUBLIC,
    # for crawlers (findable.py)
    ("GET", "/robots.txt"): Access.PUBLIC,
    ("GET", "/sitemap.xml"): Access.PUBLIC,
    ("GET", "/sitemap-{part}.xml"): Access.PUBLIC,
    # the read API (api.py)
    ("GET", "/api/stats"): Access.PUBLIC,
    ("GET", "/api/shows"): Access.PUBLIC,
    ("GET", "/api/shows/{slug}/episodes"): Access.PUBLIC,
    ("GET", "/api/episodes/{episode_id}/transcript"): Access.PUBLIC,
    ("GET", "/api/episodes/{episode_id}/chapters"): Access.PUBLIC,
    ("GET", "/api/search"): Access.PUBLIC,
    ("GET", "/api/trend"): Access.PUBLIC,
    ("GET", "/api/trend.csv"): Access.PUBLIC,
    ("GET", "/api/trend/moments"): Access.PUBLIC,
    # the chat (llm_routes.py)
    ("GET", "/chat"): Access.CHAT,
    ("POST", "/api/chat"): Access.CHAT,
    # the owner's
    ("GET", "/status"): Access.OWNER,
    ("GET", "/api/conversations/{conversation_id}"): Access.OWNER,
    ("GET", "/api/episodes/{episode_id}/analyses"): Access.OWNER,
    ("POST", "/api/episodes/{episode_id}/analyses"): Access.OWNER,
    ("POST", "/api/episodes/{episode_id}/translation"): Access.OWNER,
    ("POST", "/episode/{episode_id}/analyze"): Access.OWNER,
    ("POST", "/episode/{episode_id}/translate"): Access.OWNER,
    ("GET", "/watch"): Access.OWNER,
    ("POST", "/watch"): Access.OWNER,
    ("POST", "/watch/{watch_id}/remove"): Access.OWNER,
    ("POST", "/watch/seen"): Access.OWNER,
    ("GET", "/watch.atom"): Access.OWNER,
    # a show's words (words_routes.py)
    ("POST", "/show/{slug}/vocabulary"): Access.OWNER,
    ("POST", "/show/{slug}/vocabulary/remove"): Access.OWNER,
    ("POST", "/show/{slug}/corrections"): Access.OWNER,
    ("POST", "/show/{slug}/corrections/{rule_id}/remove"): Access.OWNER,
    ("POST", "/episode/{episode_id}/lines/{idx}"): Access.OWNER,
    ("POST", "/episode/{episode_id}/edits/{edit_id}/revert"): Access.OWNER,
    # who speaks (speaker_routes.py)
    ("POST", "/episode/{episode_id}/speakers/{number}/name"): Access.OWNER,
    ("POST", "/episode/{episode_id}/speakers/{number}/unname"): Access.OWNER,
    ("POST", "/episode/{episode_id}/speakers/merge"): Access.OWNER,
    ("POST", "/episode/{episode_id}/speakers/rename"): Access.OWNER,
    ("POST", "/episode/{episode_id}/speakers/split"): Access.OWNER,
    # podcast apps and feed readers (feed_routes.py): the archive's own feed address reads like a page; a private
    # feed's secret path is its own key (one show's feed and files, nothing else), so it is open to whoever has it
    ("GET", "/show/{slug}/feed.xml"): Access.PUBLIC,
    ("GET", "/show/{slug}/episodes/{episode_id}.{suffix}"): Access.PUBLIC,
    ("GET", "/feeds/{secret}/feed.xml"): Access.OPEN,
    ("GET", "/feeds/{secret}/episodes/{episode_id}.{suffix}"): Access.OPEN,
    ("GET", "/shows.opml"): Access.OWNER,  # feed addresses may carry a private feed's key (Patreon, Supercast)
    ("GET", "/api/shows/{slug}/feed"): Access.OWNER,
    ("POST", "/api/shows/{slug}/feed/rotate"): Access.OWNER,
    # LLM clients (fonoteca.mcp_server): the owner gets every tool, anyone else who may read gets the read-only ones
    ("POST", MCP_PATH): Access.PUBLIC,
    ("GET", "/owner"): Access.OWNER,
    ("POST", "/owner/add"): Access.OWNER,
    ("POST", "/owner/sync"): Access.OWNER,
    ("POST", "/owner/retry"): Access.OWNER,
}


class RouteTable:
    """ROUTES compiled once, by method: the class of the route a request's path will reach (None: no route does,
    and the router answers 404 or 405 itself)."""

    def __init__(self, routes: dict[tuple[str, str], Access] = ROUTES) -> None:
        self._exact: dict[tuple[str, str], Access] = {}
        self._patterns: dict[str, list[tuple[re.Pattern[str], Access]]] = {}
        for (method, template), access in routes.items():
            if "{" in template:
                self._patterns.setdefault(method, []).append((compile_path(template)[0], access))
            else:
                self._exact[method, template] = access

    def access(self, method: str, path: str) -> Access | None:
        method = "GET" if method == "HEAD" else method
        found = self._exact.get((method, path))
        if found is not None:
            return found
        return next((access for pattern, access in self._patterns.get(method, ()) if pattern.match(path)), None)


def needs_owner(access: Access, settings: Settings) -> bool:
    if access is Access.OPEN:
        return False
    if settings.token.get_secret_value() and not settings.public:  # a private archive: every page needs the token
        return True
    if access is Access.PUBLIC:
        return False
    return not (access is Access.CHAT and settings.public and settings.public_chat)


def app_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, path template) the app answers, through included routers and mounts."""
    for route in routes:
        if isinstance(route, Mount):
            yield "GET", f"{prefix}{route.path}/{{path:path}}"
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path
        elif hasattr(route, "original_router"):  # FastAPI's included router
            yield from app_routes(route.original_router.routes, prefix + route.include_context.prefix)


def unclassified(routes: Iterable[BaseRoute]) -> list[str]:
    return [f"{method} {path}" for method, path in app_routes(routes) if (method, path) not in ROUTES]


def is_proxied(raw_headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request came through a reverse proxy (one of the headers proxies add), from the ASGI scope's headers
    (names in lower case): one pass over them, where asking starlette's Headers for each name took six."""
    return any(name in _PROXY_HEADER_NAMES for name, _value in raw_headers)


def check_serving(settings: Settings) -> None:
    """Refuses, with one line, a server others could reach without a strong owner's token."""
    token = settings.token.get_secret_value()
    where = "in public mode" if settings.public else f"on {settings.host}"
    if settings.host in LOOPBACK and not settings.public:
        return
    if not token:
        instead = "" if settings.public else ", or use 127.0.0.1"
        raise ConfigError(
            f"refusing to listen {where} without a token",
            f"set FONOTECA_TOKEN (or --token) so only the owner, who has it, can manage the archive{instead}",
        )
    if token != token.strip() or len(token) < MIN_TOKEN_CHARS or len(set(token)) < 4:
        raise ConfigError(
            f"refusing to listen {where} with a weak token",
            f"FONOTECA_TOKEN needs at least {MIN_TOKEN_CHARS} characters and no spaces around it; make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe())'`",
        )
