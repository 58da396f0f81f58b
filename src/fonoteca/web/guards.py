"""The web server's guards: ASGI middleware that create_app stacks around the routes, outermost first.

- HardenHeaders: the Content-Security-Policy and friends on every response, the guards' refusals included.
- Starlette's TrustedHostMiddleware (added by create_app): only the Host names the server was started for, so a page
  whose DNS name was rebound to 127.0.0.1 cannot talk to the archive.
- BodyLimit: no request body over the limit, whether it says its length or streams it in chunks.
- CsrfGuard: state-changing requests from another site are refused; a browser's must carry the page's CSRF token.
- AccessGate: tells the owner (the token as a bearer header, or the session cookie of the login form; without a
  token, a request that did not come through a proxy) from everyone else, and lets each through to what its route's
  class allows (web/access.py); wrong tokens are throttled per client address.

The client's address is the connection's: uvicorn reads X-Forwarded-For only from FONOTECA_TRUSTED_PROXIES, so a
client cannot escape the throttle by sending a new address in a header.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from enum import StrEnum
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fonoteca.settings import Settings
from fonoteca.web.access import RouteTable, is_proxied, needs_owner

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
    "media-src 'self' https: http: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_COOKIE = "fonoteca_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_PATH = "/login"
SESSION_COOKIE = "fonoteca_session"  # set by the login form, read by AccessGate; CsrfGuard ties its token to it


class HardenHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_hardened)


class BodyLimit:
    """Reads the whole body here, up to max_bytes, and hands it on: a bigger one is refused with 413 before any route
    (or the JSON parser) holds it, and a chunked body is refused as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared in (None, "0") and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay(b"".join(chunks), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body over {self.max_bytes // 1024} KB"
        await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the already read body once, then the client's own messages: streaming responses wait on
    them for the disconnect that stops the model."""
    given = False

    async def receive_again() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


class CsrfToken:
    """A visitor's CSRF token as the templates get it: `used` once a page has put it in (its str()). A new visitor's
    is drawn only then: most answers never put it in, and drawing one (a system call for randomness) on every request
    was 3% of a crowd's trend requests (py-spy, bench/web.py)."""

    def __init__(self, known: str = "") -> None:
        self._value, self.used = known, False

    @property
    def value(self) -> str:
        if not self._value:
            self._value = secrets.token_urlsafe(32)
        return self._value

    def __str__(self) -> str:
        self.used = True
        return self.value


class CsrfGuard:
    """Refuses unsafe requests whose Origin (or Referer) is another origin or whose Sec-Fetch-Site says another site.
    A browser's unsafe request (it sends Origin or Sec-Fetch-Site) and any request authenticated by the login cookie
    must also carry the CSRF token: a random double-submit token kept in a cookie, which the pages put in their forms
    (field csrf_token) and in a <meta> tag that their scripts send as X-CSRF-Token. Scripts using a bearer token and
    no cookies need neither, nor does the login form, where the login cookie is set. The token is in
    request.state.csrf_token for the templates (a CsrfToken): the cookie is set with a page that put the token in,
    and only then, so a page without forms (every page an anonymous reader sees, but the chat's) is the same for
    every reader and shared caches may keep it (web/caching.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        known = request.cookies.get(CSRF_COOKIE, "")
        token = CsrfToken(known)
        scope.setdefault("state", {})["csrf_token"] = token
        if request.method in UNSAFE_METHODS:
            refusal = _cross_site(request)
            if refusal is None and self._needs_token(request):
                body = await read_body(receive)
                receive = replay(body, receive)
                submitted = request.headers.get(CSRF_HEADER) or await _form_token(scope, body)
                if not (known and submitted and hmac.compare_digest(submitted.encode(), known.encode())):
                    refusal = "missing or wrong CSRF token: reload the page and try again"
            if refusal is not None:
                await _refuse(request, refusal, 403)(scope, receive, send)
                return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and not known and token.used:
                cookie = Response()
                cookie.set_cookie(CSRF_COOKIE, token.value, httponly=True, samesite="strict", secure=is_tls(request))
                MutableHeaders(scope=message).append("set-cookie", cookie.headers["set-cookie"])
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _needs_token(self, request: Request) -> bool:
        if request.url.path == LOGIN_PATH:
            return False
        if SESSION_COOKIE in request.cookies:
            return True
        return bearer_token(request) is None and ("origin" in request.headers or "sec-fetch-site" in request.headers)


def _cross_site(request: Request) -> str | None:
    site = request.headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        return f"refused a {site} request"
    origin = request.headers.get("origin")
    if origin is None and "referer" in request.headers:
        referer = urlsplit(request.headers["referer"])
        origin = f"{referer.scheme}://{referer.netloc}"
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin.lower() != own.lower():
        return "refused a request from another origin"
    return None


async def read_body(receive: Receive) -> bytes:
    """The body, already held to the limit by BodyLimit."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = Headers(scope=scope).get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    request = Request(scope, replay(body, _no_more_messages))
    try:
        async with request.form() as form:
            value = form.get(CSRF_FIELD)
    except Exception:  # a malformed form carries no token; the route reports the malformation itself
        return None
    return value if isinstance(value, str) else None


async def _no_more_messages() -> Message:
    return {"type": "http.disconnect"}


def _refuse(request: Request, detail: str, status: int, headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    return PlainTextResponse(detail, status_code=status, headers=headers)


class Throttle:
    """Wrong tokens per client address. After FREE wrong ones, each further one locks the address out for twice as
    long as the one before (up to MAX_DELAY seconds); while locked out no token is even compared, so guessing gains
    nothing from the lock's answers. Kept in memory: `fonoteca serve` is one process, and a restart only forgets the
    lock. Every client behind the same address (all of loopback) shares the lock: that is the price of not letting an
    attacker switch identities for free."""

    FREE = 5
    MAX_DELAY = 900.0
    MAX_CLIENTS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # address → (wrong tokens, time of the last one)

    def retry_after(self, client: str) -> int:
        """Whole seconds until this client may try a token again; 0 when it may now."""
        count, last = self._failures.get(client, (0, 0.0))
        if count < self.FREE:
            return 0
        wait = last + min(2.0 ** (count - self.FREE), self.MAX_DELAY) - self.clock()
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, client: str) -> None:
        count, _ = self._failures.pop(client, (0, 0.0))
        self._failures[client] = (count + 1, self.clock())  # re-inserted: the dict stays oldest-first
        if len(self._failures) > self.MAX_CLIENTS:  # many addresses (IPv6): forget the longest quiet one
            del self._failures[next(iter(self._failures))]

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def too_many(request: Request, wait: int) -> Response:
    detail = f"too many wrong tokens: try again in {wait} s"
    return _refuse(request, detail, 429, headers={"Retry-After": str(wait)})


def bearer_token(request: Request) -> str | None:
    """The token of `Authorization: Bearer …` (the scheme in any case, as RFC 9110 says), or None."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def is_tls(request: Request) -> bool:
    """Whether the browser reached the server over TLS (directly, or through a trusted proxy that says so)."""
    return request.url.scheme == "https"


class Sessions:
    """The login cookie's values: when it was signed in, and a random nonce, signed with HMAC-SHA256 under a key
    derived from the token. The cookie never holds the token itself (a stolen cookie does not reveal it and expires),
    every worker process checks it without shared state, and changing the token signs everyone out."""

    MAX_AGE = 30 * 24 * 3600

    def __init__(self, token: str, clock: Callable[[], float] = time.time) -> None:
        self.key = hashlib.sha256(b"fonoteca session\0" + token.encode()).digest()
        self.clock = clock

    def issue(self) -> str:
        payload = f"{int(self.clock())}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._signature(payload)}"

    def valid(self, value: str) -> bool:
        payload, _, signature = value.rpartition(".")
        if not payload or not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            return False
        issued = payload.partition(".")[0]
        return issued.isdigit() and 0 <= self.clock() - int(issued) < self.MAX_AGE

    def _signature(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()


LoginPage = Callable[[Request, str], Response]


class OwnerBy(StrEnum):
    """How a request was told to be the owner's (request.state.owner_by): what a line's history says of who fixed
    it (web/deps.py `editor_of`)."""

    TOKEN = "token"  # Authorization: Bearer, a script or an LLM client
    SESSION = "signed in"  # the login form's session cookie
    THIS_MACHINE = "this machine"  # no token set, and the request did not come through a proxy


class AccessGate:
    """Marks each request as the owner's or not (request.state.owner, which the pages read to show the owner's
    controls, and request.state.owner_by, how) and refuses what its route's class keeps from everyone else: pages
    with the login page (401), the API with 401 and `WWW-Authenticate: Bearer`; without a token, requests that came
    through a proxy with 403. A wrong bearer token is a 401 wherever it is sent, and counts in the throttle like the
    login form's."""

    def __init__(
        self, app: ASGIApp, *, settings: Settings, sessions: Sessions, throttle: Throttle, login_page: LoginPage
    ) -> None:
        self.app, self.settings, self.sessions, self.throttle = app, settings, sessions, throttle
        self.token = settings.token.get_secret_value()
        self.login_page = login_page
        self.routes = RouteTable()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        owner_by = "" if is_proxied(scope["headers"]) else OwnerBy.THIS_MACHINE
        if self.token:
            supplied = bearer_token(request)
            if supplied is not None:
                refusal = self._check(request, supplied)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
            signed_in = self.sessions.valid(request.cookies.get(SESSION_COOKIE, ""))
            owner_by = OwnerBy.TOKEN if supplied is not None else OwnerBy.SESSION if signed_in else ""
        owner = bool(owner_by)
        scope.setdefault("state", {}).update(owner=owner, owner_by=owner_by)
        # The path as the router matches it; request.url would build a whole URL for it (~4 µs of a 304's ~50 µs).
        access = self.routes.access(scope["method"], scope["path"])
        if owner or access is None or not needs_owner(access, self.settings):
            await self.app(scope, receive, send)
            return
        await self._refusal(request)(scope, receive, send)

    def _check(self, request: Request, supplied: str) -> Response | None:
        client = client_address(request)
        if wait := self.throttle.retry_after(client):
            return too_many(request, wait)
        if hmac.compare_digest(supplied.encode(), self.token.encode()):
            self.throttle.succeeded(client)
            return None
        self.throttle.failed(client)
        return _refuse(request, "wrong token", 401, headers={"WWW-Authenticate": "Bearer"})

    def _refusal(self, request: Request) -> Response:
        if not self.token:
            detail = "this is the owner's part, and this request came through a proxy: set FONOTECA_TOKEN to sign in"
            return _refuse(request, detail, 403)
        path = request.url.path
        if path.startswith("/api/") or request.method != "GET":
            detail = "this needs the owner's token: sign in, or send it as Authorization: Bearer"
            return _refuse(request, detail, 401, headers={"WWW-Authenticate": "Bearer"})
        return self.login_page(request, path + (f"?{request.url.query}" if request.url.query else ""))
