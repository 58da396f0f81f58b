"""What lets browsers, proxies and crowds reuse the archive's answers: cache validators, Cache-Control, static assets.

- Validators (ETag, Last-Modified) come from the archive's change counter (Archive.changes: it moves with every write
  a reader can see, by any process) and the search index's last commit (its held.json, rewritten after each one): a
  page or a read-API answer can only change when one of them moves. `follow_changes` reads them every
  CHANGES_EVERY_S in the background, so a request pays no query for them, and `CacheValidation` answers
  `304 Not Modified` to a request whose If-None-Match (or If-Modified-Since) still holds, before any route runs.
  The ETag also holds a digest of the request's cookies and whether it is the owner's: the owner's pages carry the
  CSRF token and the owner's controls, so one visitor's copy is never validated for another.
- Cache-Control per kind: the pages an anonymous reader sees, the read-API answers, exports, the sitemap and
  robots.txt may be kept by a shared cache (a reverse proxy's, a CDN's): such a page holds no CSRF token and sets no
  cookie (web/guards.py: it has no form that posts), so it is the same for every reader; the chat's page, whose
  script posts with the token, and any page that put the token in, stay `private`; the owner's are revalidated every
  time. All for a short max-age and a longer stale-while-revalidate, so a crowd reloading a page costs a
  revalidation at most. The owner's Status page (the fleet, which moves without the counter), the owner's page (its
  tasks' progress, likewise) and media files (FileResponse has its own validators) are left alone.
- An anonymous reader's revalidation of a public page (`EarlyRevalidation`): the same 304 with the same headers,
  answered before any guard runs, where the guards would let the request through as a reader's anyway.
- The anonymous readers' answers themselves (`SharedAnswers`): a public page or read-API answer is the same for
  every reader until the validators move, so its gzipped bytes are kept, keyed by (the app's generation, the
  validators, the URL), in a diskcache folder beside the index (`fonoteca.index-answers/`) that every server process
  of the archive shares, bounded by FONOTECA_ANSWER_CACHE_MB (least recently stored dropped first). A popular page then
  costs about what a 304 costs instead of a render and a compression (bench/web.py). Only what a shared cache may
  keep is kept (anonymous, `public` Cache-Control, no cookie set, no CSRF token put in); the owner's requests neither
  read nor fill it. A change of the archive moves the validators, so a changed page is never served from it; the
  generation (fonoteca's version, the templates, the static assets' names, the settings) moves with an upgrade or
  a restart with other settings. It sits inside the rate limits: a cached search still counts.
- Static assets (`StaticAssets`) are read into memory at start with their gzip copies and served under names that
  hold their content's hash (`style.3f2a9c01de.css`, which the templates get from `static_url`): such a name never
  changes content, so it is cached for a year as `immutable`. It is mounted before the guards: a stylesheet needs
  none of them, and each costs a share of a static request's time (bench/web.py).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import logging
import mimetypes
import sqlite3
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from types import SimpleNamespace

import anyio
import diskcache
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fonoteca import __version__
from fonoteca.app import Fonoteca
from fonoteca.settings import Settings
from fonoteca.web.access import RouteTable, needs_owner
from fonoteca.web.guards import SECURITY_HEADERS, SESSION_COOKIE

CHANGES_EVERY_S = 0.5
PAGE_CACHE = "private, max-age=10, stale-while-revalidate=60"
OWNER_CACHE = "private, no-cache"  # the owner sees a write of theirs on the very next page
SHARED_CACHE = "public, max-age=10, stale-while-revalidate=60"
# Pages that put the visitor's CSRF token in, for anyone: the chat's script posts with it.
PRIVATE_PAGES = ("/chat",)
IMMUTABLE = "public, max-age=31536000, immutable"
# Answers that move without the counter, or carry validators of their own.
NOT_VALIDATED = ("/status", "/owner", "/login", "/media/", "/static/")
COMPRESSED_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
# Level 1: a long episode's page (~370 KB) compresses to 137 KB in 3.3 ms on this 2-core machine, where level 6 takes
# 17 ms for 114 KB; under a crowd the CPU is what runs out (bench/web.py).
GZIP_LEVEL = 1
GZIP_FROM_BYTES = 1024  # smaller answers go as they are
IN_THREAD_FROM_BYTES = 128 * 1024  # compressed in a worker thread, as GZipMiddleware does: the event loop goes on
ANSWER_MOST_BYTES = 8 * 2**20  # a bigger answer (a long transcript's export) is sent, not kept
ANSWERS_WAIT_S = 1.0  # SQLite's busy wait for the store's write lock; a read never waits (WAL)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validators:
    """The archive's state as caches are told it: its change counter and the search index's last commit."""

    counter: int = 0
    index_commit: int = 0  # held.json's modification time in nanoseconds (0: no index yet)
    changed_at: float = 0.0  # the later of the two, in seconds since the epoch

    def etag(self, variant: str) -> str:
        return f'W/"{self.counter:x}-{self.index_commit:x}-{variant}"'

    @functools.cached_property  # once per change of the archive, not per request
    def last_modified(self) -> str:
        return formatdate(int(self.changed_at), usegmt=True)


def read_validators(fonoteca: Fonoteca) -> Validators:
    counter, changed_at = fonoteca.archive.changes()
    try:
        held = (fonoteca.settings.index_dir / "held.json").stat().st_mtime_ns
    except OSError:
        held = 0
    return Validators(counter, held, max(changed_at, held / 1e9))


async def follow_changes(fonoteca: Fonoteca, state: SimpleNamespace) -> None:
    """Keep `state.validators` up to date with the archive, until the app stops."""
    failing = ""
    while True:
        await anyio.sleep(CHANGES_EVERY_S)
        try:
            state.validators = await anyio.to_thread.run_sync(read_validators, fonoteca)
            failing = ""
        except Exception as exc:  # noqa: BLE001 — a database that is down: pages say so themselves; said once here
            if str(exc) != failing:
                log.error("cannot read the archive's change counter: %s", exc)
            failing = str(exc)


def _digest(*parts: bytes) -> str:
    return hashlib.blake2b(b"\0".join(parts), digest_size=6).hexdigest()


def _still_valid(headers: Headers, etag: str, validators: Validators) -> bool:
    """RFC 9110's rules: If-None-Match, when sent, decides alone (weak comparison); else If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        given = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in given or etag.removeprefix("W/") in given
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since:
        try:
            return int(validators.changed_at) <= parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


class CacheValidation:
    """Validators and Cache-Control on the pages' and the read API's answers, and `304 Not Modified` for a request
    whose copy is still the archive's (see the module's docstring). `state.validators` is the current state as
    `follow_changes` last read it.

    The owner's requests read the validators afresh and their pages must be revalidated every time: the owner's own
    write (a fixed line, a reverted edit) is followed at once by the page that shows it, often before the background
    read has seen the counter move, and maybe in another worker process. A write in this process refreshes
    `state.validators` as soon as it is answered, so its readers here do not wait for the next background read."""

    def __init__(self, app: ASGIApp, *, state: SimpleNamespace, fonoteca: Fonoteca) -> None:
        self.app, self.state, self.fonoteca = app, state, fonoteca

    async def _fresh_validators(self) -> Validators:
        # a database that is down: follow_changes says so, once; the page, itself
        with contextlib.suppress(Exception):
            self.state.validators = await anyio.to_thread.run_sync(read_validators, self.fonoteca)
        return self.state.validators

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(NOT_VALIDATED):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            try:
                await self.app(scope, receive, send)
            finally:
                await self._fresh_validators()
            return
        headers = Headers(scope=scope)
        owner = bool(scope.get("state", {}).get("owner"))  # AccessGate's verdict: the owner's pages show more
        validators: Validators = await self._fresh_validators() if owner else self.state.validators
        etag = validators.etag(_variant(headers.get("cookie", ""), owner=owner))
        cache_control = OWNER_CACHE if owner else _readers_cache_control(path)
        given = _validation_headers(validators, etag, cache_control)
        scope.setdefault("state", {})["validators"] = validators  # SharedAnswers' key
        if _still_valid(headers, etag, validators):
            await _answer(send, 304, _validation_headers(validators, etag, cache_control, not_modified=True), b"")
            return

        token = scope.get("state", {}).get("csrf_token")

        async def send_validated(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                response_headers = MutableHeaders(scope=message)
                if "cache-control" not in response_headers:  # a route that chose its own keeps it
                    for name, value in given:
                        response_headers.append(name.decode(), value.decode())
                    if getattr(token, "used", False) and cache_control == SHARED_CACHE:  # the visitor's own copy
                        response_headers["cache-control"] = PAGE_CACHE
            await send(message)

        await self.app(scope, receive, send_validated)


def _variant(cookie: str, *, owner: bool) -> str:
    """The ETag's part that tells visitors apart: their cookies, and whether the page is the owner's."""
    return _digest(cookie.encode(), b"owner" if owner else b"")


def _readers_cache_control(path: str) -> str:
    return PAGE_CACHE if path.startswith(PRIVATE_PAGES) else SHARED_CACHE


def _validation_headers(
    validators: Validators, etag: str, cache_control: str, *, not_modified: bool = False
) -> list[tuple[bytes, bytes]]:
    """A 200 gets Accept-Encoding in its Vary from whatever compresses it; a 304 names it itself, since it must name
    every Vary its 200 would (RFC 9110, 15.4.5)."""
    return [
        (b"etag", etag.encode()),
        (b"last-modified", validators.last_modified.encode()),
        (b"cache-control", cache_control.encode()),
        (b"vary", b"Accept-Encoding, Cookie, Authorization" if not_modified else b"Cookie, Authorization"),
    ]


class EarlyRevalidation:
    """The 304 CacheValidation would send an anonymous reader whose copy of a public page is still the archive's,
    sent before the guards run (bench/web.py: each guard costs a share of a revalidation's time, and a crowd
    reloading popular pages is mostly revalidations).

    It answers only where the guards would let the request through as nobody's but a reader's: a GET or HEAD of a
    route anyone may open (web/access.py) at an allowed Host name (TrustedHostMiddleware's comparison), with no
    Authorization header and no session cookie, in an archive with an owner's token (without one, a request that
    came through no proxy is the owner's). Its headers are CacheValidation's and HardenHeaders'. Every other
    request, and every one whose copy is stale, goes on through the guards."""

    def __init__(self, app: ASGIApp, *, state: SimpleNamespace, settings: Settings, allowed_hosts: list[str]) -> None:
        self.app, self.state, self.settings = app, state, settings
        self.hosts = frozenset(allowed_hosts)
        self.routes = RouteTable()
        self.serving = bool(settings.token.get_secret_value())

    def _readers_etag(self, scope: Scope, headers: Headers, validators: Validators) -> str | None:
        if not self.serving or scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        cookie = headers.get("cookie", "")
        if (
            path.startswith(NOT_VALIDATED)
            or "authorization" in headers
            or SESSION_COOKIE in cookie
            or headers.get("host", "").split(":")[0] not in self.hosts
        ):
            return None
        access = self.routes.access(scope["method"], path)
        if access is None or needs_owner(access, self.settings):
            return None
        return validators.etag(_variant(cookie, owner=False))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            validators: Validators = self.state.validators
            etag = self._readers_etag(scope, headers, validators)
            if etag is not None and _still_valid(headers, etag, validators):
                cache_control = _readers_cache_control(scope["path"])
                given = _validation_headers(validators, etag, cache_control, not_modified=True)
                await _answer(send, 304, given + _SECURITY, b"")
                return
        await self.app(scope, receive, send)


def answers_dir(settings: Settings) -> Path:
    return settings.index_dir.with_name(settings.index_dir.name + "-answers")


def generation(settings: Settings, templates: Path, static_urls: dict[str, str]) -> str:
    """What besides the archive shapes an answer, as a digest: fonoteca's version, its templates, the static assets'
    content-hashed names and the settings (secrets come masked)."""
    parts = [__version__.encode(), settings.model_dump_json().encode(), repr(sorted(static_urls.items())).encode()]
    parts += [file.read_bytes() for file in sorted(templates.rglob("*.html"))]
    return _digest(*parts)


class SharedAnswers:
    """The anonymous readers' answers, gzipped, shared by the archive's server processes until the archive changes
    (see the module's docstring). It runs inside CacheValidation, whose validators (`scope["state"]["validators"]`)
    key it with the URL, and inside the rate limits; GZipMiddleware, outside, leaves the answers it gzipped as they
    are.

    A stored answer is read in the event loop (one SQLite row and a file the OS keeps in memory, ~0.1 ms: a thread
    hop would cost as much); a new one is compressed and stored in a worker thread, after it is sent."""

    def __init__(self, app: ASGIApp, *, folder: Path, most_mb: int, generation: str) -> None:
        self.app, self.generation = app, generation
        self.cache = (
            diskcache.Cache(
                str(folder), timeout=ANSWERS_WAIT_S, size_limit=most_mb * 2**20,
                eviction_policy="least-recently-stored",  # a read writes nothing (least-recently-used would)
                sqlite_synchronous=0,  # no fsync: a power cut costs only answers made again
            )
            if most_mb
            else None
        )  # fmt: skip

    def _key(self, scope: Scope) -> str | None:
        """The answer's key when a shared copy may serve this request: an anonymous GET that takes gzip."""
        state = scope.get("state", {})
        validators: Validators | None = state.get("validators")
        if self.cache is None or scope["method"] != "GET" or validators is None or state.get("owner"):
            return None
        headers = Headers(scope=scope)
        if scope["path"].startswith(PRIVATE_PAGES) or "gzip" not in headers.get("accept-encoding", ""):
            return None
        # No visitor's cookies in it (the ETag has them): what is kept put no CSRF token in and set no cookie, and the
        # owner's requests never come here, so it is the same for every reader (a browser with cookies of its own too).
        query = scope.get("query_string", b"").decode("latin-1")
        # The address it was asked at: without FONOTECA_PUBLIC_URL a page's canonical and OpenGraph URLs are made from
        # it, so a page asked at archive.lan must not be served to a reader at 127.0.0.1 (an allowed host each).
        where = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        return f"{self.generation} {validators.etag('')} {where} {scope['path']}?{query}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._key(scope) if scope["type"] == "http" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        stored = None
        with contextlib.suppress(diskcache.Timeout, sqlite3.Error, OSError):  # an unreadable store: answered anew
            stored = self.cache.get(key)  # type: ignore[union-attr]
        if stored is not None:
            headers, body = stored
            await _answer(send, 200, headers, body)
            return
        await self._answer_and_keep(key, scope, receive, send)

    async def _answer_and_keep(self, key: str, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        parts: list[bytes] = []
        size = 0
        passing = False  # not to be kept: what is held goes on and the rest passes through

        async def hold(message: Message) -> None:
            nonlocal start, size, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                response = Headers(raw=message.get("headers", []))
                passing = message["status"] != 200 or any(
                    name in response for name in ("set-cookie", "cache-control", "content-encoding")
                )
                if passing:
                    await send(message)
                return
            if message["type"] != "http.response.body":  # a file sent by its path is not kept; a debug note passes
                if message["type"] == "http.response.pathsend":
                    passing = True
                    await send(start)  # type: ignore[arg-type]
                await send(message)
                return
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            if size > ANSWER_MOST_BYTES:
                passing = True
                await send(start)  # type: ignore[arg-type]
                await send({**message, "body": b"".join(parts)})
                return
            if not message.get("more_body", False):
                await self._finish(key, scope, start, b"".join(parts), send)  # type: ignore[arg-type]

        await self.app(scope, receive, hold)

    async def _finish(self, key: str, scope: Scope, start: Message, body: bytes, send: Send) -> None:
        token = scope.get("state", {}).get("csrf_token")
        headers = [(n, v) for n, v in start.get("headers", []) if n.lower() not in (b"content-length", b"vary")]
        headers.append((b"vary", b"Accept-Encoding"))
        compressed = len(body) >= GZIP_FROM_BYTES and Headers(raw=headers).get("content-type", "").startswith(
            COMPRESSED_TYPES
        )
        if compressed:
            squeeze = functools.partial(gzip.compress, body, GZIP_LEVEL, mtime=0)
            body = await anyio.to_thread.run_sync(squeeze) if len(body) > IN_THREAD_FROM_BYTES else squeeze()
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await _answer(send, 200, headers, body)
        if not getattr(token, "used", False):  # a page that put the visitor's token in is theirs alone
            await anyio.to_thread.run_sync(self._keep, key, (headers, body))

    def _keep(self, key: str, answer: tuple[list[tuple[bytes, bytes]], bytes]) -> None:
        try:
            self.cache.set(key, answer)  # type: ignore[union-attr]
        except (diskcache.Timeout, sqlite3.Error, OSError) as exc:  # a full disk: answers are made anew, said here
            log.warning("cannot keep an answer for other readers: %s", exc)


@dataclass(frozen=True)
class Asset:
    body: bytes
    compressed: bytes | None  # gzip, when smaller
    media_type: str
    etag: str
    hashed: bool  # served under its content's name: never changes


class StaticAssets:
    """The static folder, read into memory with its gzip copies, served under plain and content-hashed names (see the
    module's docstring)."""

    PREFIX = "/static/"

    def __init__(self, folder: Path) -> None:
        self.assets: dict[str, Asset] = {}
        self.urls: dict[str, str] = {}
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = file.relative_to(folder).as_posix()
            body = file.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:10]
            media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type == "application/javascript":
                media_type += "; charset=utf-8"
            packed = gzip.compress(body, 9, mtime=0) if media_type.startswith(COMPRESSED_TYPES) else None
            compressed = packed if packed is not None and len(packed) < len(body) else None
            stem, dot, suffix = name.rpartition(".")
            hashed_name = f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"
            self.assets[name] = Asset(body, compressed, media_type, f'"{digest}"', hashed=False)
            self.assets[hashed_name] = Asset(body, compressed, media_type, f'"{digest}"', hashed=True)
            self.urls[name] = self.PREFIX + hashed_name

    def url(self, name: str) -> str:
        """The asset's content-hashed URL, for the templates (`static_url('style.css')`)."""
        return self.urls[name]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asset = self.assets.get(scope["path"][len(self.PREFIX) :])
        if asset is None or scope["method"] not in ("GET", "HEAD"):
            status, body = (404, b"Not Found") if asset is None else (405, b"Method Not Allowed")
            headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
            await _answer(send, status, headers + _SECURITY, body)
            return
        request = Headers(scope=scope)
        headers = [
            (b"etag", asset.etag.encode()),
            (b"cache-control", IMMUTABLE.encode() if asset.hashed else b"no-cache"),
            (b"vary", b"Accept-Encoding"),
            *_SECURITY,
        ]
        if request.get("if-none-match") == asset.etag:
            await _answer(send, 304, headers, b"")
            return
        body = asset.body
        if asset.compressed is not None and "gzip" in request.get("accept-encoding", ""):
            body = asset.compressed
            headers.append((b"content-encoding", b"gzip"))
        headers += [(b"content-type", asset.media_type.encode()), (b"content-length", str(len(body)).encode())]
        await _answer(send, 200, headers, b"" if scope["method"] == "HEAD" else body)


class StaticFirst:
    """/static/ answered from memory before any guard, everything else on to `app`."""

    def __init__(self, app: ASGIApp, *, assets: StaticAssets) -> None:
        self.app, self.assets = app, assets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(StaticAssets.PREFIX):
            await self.assets(scope, receive, send)
        else:
            await self.app(scope, receive, send)


_SECURITY = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
