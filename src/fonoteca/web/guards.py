"""The web server's guards: ASGI middleware that create_app stacks around the routes, outermost first.

- HardenHeaders: the Content-Security-Policy and friends on every response, the guards' refusals included.
- Starlette's TrustedHostMiddleware (added by create_app): only the Host names the server was started for, so a page
  whose DNS name was rebound to 127.0.0.1 cannot talk to the archive.
- BodyLimit: no request body over the limit, whether it says its length or streams it in chunks.
- CsrfGuard: state-changing requests from another site are refused; a browser's must carry the page's CSRF token.
- TokenGate: with a token, every request needs it (bearer header or the login cookie); wrong tokens are throttled.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
TOKEN_COOKIE = "fonoteca_token"  # set by the login form, read by TokenGate; CsrfGuard ties its token to it


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


class CsrfGuard:
    """Refuses unsafe requests whose Origin (or Referer) is another origin or whose Sec-Fetch-Site says another site.
    A browser's unsafe request (it sends Origin or Sec-Fetch-Site) and any request authenticated by the login cookie
    must also carry the CSRF token: a random double-submit token kept in a cookie, which the pages put in their forms
    (field csrf_token) and in a <meta> tag that their scripts send as X-CSRF-Token. Scripts using a bearer token and
    no cookies need neither, nor does the login form, where the login cookie is set. The token is in
    request.state.csrf_token for the templates."""

    def __init__(self, app: ASGIApp, *, session_cookie: str) -> None:
        self.app, self.session_cookie = app, session_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        known = request.cookies.get(CSRF_COOKIE, "")
        token = known or secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_token"] = token
        if request.method in UNSAFE_METHODS:
            refusal = _cross_site(request)
            if refusal is None and self._needs_token(request):
                body = await _read_body(receive)
                receive = replay(body, receive)
                submitted = request.headers.get(CSRF_HEADER) or await _form_token(scope, body)
                if not (known and submitted and hmac.compare_digest(submitted.encode(), known.encode())):
                    refusal = "missing or wrong CSRF token: reload the page and try again"
            if refusal is not None:
                await _refuse(request, refusal, 403)(scope, receive, send)
                return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and not known:
                cookie = Response()
                cookie.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
                MutableHeaders(scope=message).append("set-cookie", cookie.headers["set-cookie"])
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _needs_token(self, request: Request) -> bool:
        if request.url.path == LOGIN_PATH:
            return False
        if self.session_cookie in request.cookies:
            return True
        bearer = request.headers.get("authorization", "").startswith("Bearer ")
        return not bearer and ("origin" in request.headers or "sec-fetch-site" in request.headers)


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


async def _read_body(receive: Receive) -> bytes:
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


LoginPage = Callable[[Request, str | None], Response]


class TokenGate:
    """With a token set, every request but the login form and static files needs it, as `Authorization: Bearer` or
    the login cookie; pages without it answer with the login page, the API with 401. Wrong tokens count in the
    throttle, like the login form's."""

    def __init__(self, app: ASGIApp, *, token: str, cookie: str, throttle: Throttle, login_page: LoginPage) -> None:
        self.app, self.token, self.cookie, self.throttle, self.login_page = app, token, cookie, throttle, login_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.token:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        if path == LOGIN_PATH or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        supplied = supplied or request.cookies.get(self.cookie, "")
        client = client_address(request)
        if supplied:
            wait = self.throttle.retry_after(client)
            if wait:
                await too_many(request, wait)(scope, receive, send)
                return
            if hmac.compare_digest(supplied.encode(), self.token.encode()):
                self.throttle.succeeded(client)
                await self.app(scope, receive, send)
                return
            self.throttle.failed(client)
        if path.startswith("/api/"):
            response: Response = JSONResponse({"detail": "missing or wrong token"}, status_code=401)
        else:
            response = self.login_page(request, path + (f"?{request.url.query}" if request.url.query else ""))
        await response(scope, receive, send)
