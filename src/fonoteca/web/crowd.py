"""What keeps one visitor from taking the server from the others: per-address rate limits and bounded work for search,
trends and exports (`CrowdGuard`, ASGI middleware that create_app puts after the guards).

- Rate limits (the `limits` library's moving window, counted in the store that every server process of the archive
  on this machine shares, web/rate_store.py): FONOTECA_RATE_SEARCH, FONOTECA_RATE_TREND and FONOTECA_RATE_EXPORT, in
  its notation ("60/minute", "10/second;300/hour"; "none": no limit). Over a limit the answer is 429 with
  Retry-After, however many `--workers` processes the client's connections land on. Behind a reverse proxy the
  address is the client's as the proxy tells it in X-Forwarded-For, from the proxies FONOTECA_TRUSTED_PROXIES names
  (else the proxy's own).
- The MCP endpoint (POST /mcp) counts its tool calls with the same limits: `search` as a search, `trend` as a trend,
  `transcript` and reading a transcript resource as an export (MCP_KINDS); over a limit the answer is 429 with
  Retry-After and a JSON-RPC error. A request of several calls (a JSON-RPC batch) counts each.
- Bounded work: a search takes at most MAX_QUERY_CHARS characters and MAX_QUERY_WORDS words, results are paged to
  MAX_RESULTS deep (a crawler walking page after page finds an end), and an answer that has not started after
  TIME_BUDGET_S is given up with 503 and Retry-After (the thread finishes its query; its answer is dropped).
- Turns (`Turns`, innermost, after the answer store): the searches, trends and exports a process is working out at
  once are at most TURNS; the others wait for their turn in the order they came, within the time budget. Left to the
  thread pool (40 threads) every waiting search ran at once, and the threads' fight for the interpreter's lock made
  some wait far longer than others: hybrid search with no answer store at 50 connections, two processes, p99 701 ms
  at 190 req/s; one at a time, 235 ms at 235 req/s; two at a time, 274 ms at 217 req/s (bench/web.py's archive,
  back to back). An answer from the store, a 304 or a page never waits behind them.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from enum import StrEnum
from urllib.parse import parse_qsl

import anyio
from limits import RateLimitItem, parse_many
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fonoteca.app import Fonoteca
from fonoteca.settings import Settings
from fonoteca.web.access import MCP_PATH
from fonoteca.web.guards import read_body, replay
from fonoteca.web.rate_store import wait_over

MAX_QUERY_CHARS = 300
MAX_QUERY_WORDS = 20
MAX_RESULTS = 1000  # page × page size, or offset + limit
SEARCH_PAGE_SIZE = 20  # the search page's (pages.PAGE_SIZE)
TIME_BUDGET_S = 10.0
TURNS = 1  # per process: a web worker per core, and a search that has the core to itself ends soonest


class Kind(StrEnum):
    SEARCH = "search"
    TREND = "trend"
    EXPORT = "export"


def kind_of(path: str, query: dict[str, str]) -> Kind | None:
    """Which limited kind of work a GET asks for, if any."""
    if path in ("/search", "/api/search"):
        return Kind.SEARCH if query.get("q", "").strip() else None
    if path == "/api/trend.csv" or path.endswith(("/transcript.txt", "/transcript.srt", "/transcript.vtt",
                                                  "/transcript.json", "/transcript")):  # fmt: skip
        return Kind.EXPORT
    if path.startswith("/api/trend") or (query.get("word", "").strip() and (path == "/" or path.startswith("/show/"))):
        return Kind.TREND
    return None


# What each of the MCP server's tools (fonoteca.mcp_server) counts as; None: not limited (a listing, the counts, and
# `ask`, the owner's only). A test checks that every tool is named here.
MCP_KINDS: dict[str, Kind | None] = {
    "search": Kind.SEARCH, "trend": Kind.TREND, "transcript": Kind.EXPORT,
    "episodes": None, "shows": None, "stats": None, "ask": None,
}  # fmt: skip


def mcp_calls(body: bytes) -> list[tuple[Kind, object]]:
    """The limited kinds of work a POST /mcp asks for, each with its JSON-RPC id (a message that is not JSON-RPC asks
    for none: the MCP server answers it itself)."""
    try:
        sent = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    calls: list[tuple[Kind, object]] = []
    for message in sent if isinstance(sent, list) else [sent]:
        if not isinstance(message, dict) or not isinstance(message.get("params"), dict):
            continue
        kind = None
        if message.get("method") == "tools/call":
            kind = MCP_KINDS.get(str(message["params"].get("name")))
        elif message.get("method") == "resources/read":
            kind = Kind.EXPORT
        if kind is not None:
            calls.append((kind, message.get("id")))
    return calls


def too_much(kind: Kind, query: dict[str, str]) -> str | None:
    """Why a request asks for more work than one request may, or None."""
    if kind is not Kind.SEARCH:
        return None
    q = query.get("q", "")
    if len(q) > MAX_QUERY_CHARS or len(q.split()) > MAX_QUERY_WORDS:
        return f"a search takes at most {MAX_QUERY_CHARS} characters and {MAX_QUERY_WORDS} words: shorten it"
    try:
        if "offset" in query:  # the API's
            depth = int(query["offset"]) + int(query.get("limit", "20"))
        else:  # the search page's
            depth = int(query.get("page", "1")) * SEARCH_PAGE_SIZE
    except ValueError:
        return None  # not a number: the route says so itself
    if depth > MAX_RESULTS:
        return f"results go {MAX_RESULTS} deep: narrow the search (a show, dates) to see the others"
    return None


class CrowdGuard:
    def __init__(self, app: ASGIApp, *, settings: Settings, limiter: MovingWindowRateLimiter) -> None:
        self.app, self.limiter = app, limiter
        given = {Kind.SEARCH: settings.rate_search, Kind.TREND: settings.rate_trend, Kind.EXPORT: settings.rate_export}
        self.limits: dict[Kind, list[RateLimitItem]] = {
            kind: parse_many(limits) if limits not in ("", "none") else [] for kind, limits in given.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        client = scope["client"][0] if scope.get("client") else ""
        if scope["method"] == "POST" and path == MCP_PATH:
            body = await read_body(receive)
            receive = replay(body, receive)
            calls = mcp_calls(body)
            for kind, request_id in calls:
                if (refusal := self._over_limit(kind, client)) is not None:
                    detail, wait = refusal
                    error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32000, "message": detail}}
                    await JSONResponse(error, 429, {"Retry-After": str(wait)})(scope, receive, send)
                    return
            if calls:  # a search's bounded time; the owner's `ask` writes for as long as the model takes
                await within_budget(self.app, scope, receive, send, TIME_BUDGET_S)
            else:
                await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        kind = kind_of(path, query)
        if kind is None:
            await self.app(scope, receive, send)
            return
        reason = too_much(kind, query)
        if reason is not None:
            await _refuse(path, reason, 422)(scope, receive, send)
            return
        if (refusal := self._over_limit(kind, client)) is not None:
            detail, wait = refusal
            await _refuse(path, detail, 429, {"Retry-After": str(wait)})(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["limited"] = kind  # Turns': this request works something out
        if kind is Kind.SEARCH and query.get("mode", "") != "keyword":
            state["question"] = query["q"]  # Turns': it may search by meaning
        await within_budget(self.app, scope, receive, send, TIME_BUDGET_S)

    def _over_limit(self, kind: Kind, client: str) -> tuple[str, int] | None:
        """Counts one request of `kind` from `client`; over one of its limits, why and how many seconds to wait."""
        for item in self.limits[kind]:
            if (wait := wait_over(self.limiter, item, kind.value, client)) is not None:
                return f"too many {kind.value} requests from your address ({item}): try again in {wait} s", wait
        return None


class Turns:
    """At most TURNS of the limited kinds of work (CrowdGuard marks them) at once in this process, the others waiting
    in the order they came (see the module's docstring). A search that may search by meaning says its question is
    coming while it waits: the search before it embeds it with its own (fonoteca.meaning.questions)."""

    def __init__(self, app: ASGIApp, *, fonoteca: Fonoteca) -> None:
        self.app, self.fonoteca = app, fonoteca
        self.turns = anyio.CapacityLimiter(TURNS)  # its waiters are served first come, first served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state", {}) if scope["type"] == "http" else {}
        if state.get("limited") is None:
            await self.app(scope, receive, send)
            return
        with self.fonoteca.search_coming(state["question"]) if "question" in state else nullcontext():
            async with self.turns:
                await self.app(scope, receive, send)


async def within_budget(app: ASGIApp, scope: Scope, receive: Receive, send: Send, seconds: float) -> None:
    """Run `app`; if it has not started its answer after `seconds`, answer 503 instead and drop what it sends later."""
    started = late = False
    finished = anyio.Event()

    async def send_in_time(message: Message) -> None:
        nonlocal started
        if not late:
            started = True
            await send(message)

    async def answer() -> None:
        try:
            await app(scope, receive, send_in_time)
        finally:
            finished.set()

    async with anyio.create_task_group() as running:
        running.start_soon(answer)
        with anyio.move_on_after(seconds):
            await finished.wait()
        if not finished.is_set() and not started:
            late = True
            detail = f"this took longer than {seconds:g} s: narrow it (fewer words, a show, dates) or try again later"
            await _refuse(scope["path"], detail, 503, {"Retry-After": "30"})(scope, receive, send)


def _refuse(path: str, detail: str, status: int, headers: dict[str, str] | None = None) -> Response:
    if path.startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    return PlainTextResponse(detail, status_code=status, headers=headers)
