"""What the routers get through FastAPI dependencies: the one application object, the page templates and the cache of
rendered transcripts, all made once by create_app and kept on app.state. Routes never build parts of their own.

The dependencies are `async def` although they never wait: FastAPI runs a plain `def` dependency in the threadpool,
one more thread hop per dependency and request, for what is an attribute read."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from fonoteca.app import Fonoteca
from fonoteca.llm.summary import summary_parts
from fonoteca.output.snippets import snippet_html
from fonoteca.text import format_duration, format_timestamp, sanitize_html, stats_header
from fonoteca.web.access import LOOPBACK
from fonoteca.web.chat_limits import PublicChatLimits
from fonoteca.web.guards import OwnerBy, Sessions, Throttle, client_address
from fonoteca.web.owner_tasks import OwnerTasks

WEB_DIR = Path(str(files("fonoteca.web")))


async def get_fonoteca(request: Request) -> Fonoteca:
    return request.app.state.fonoteca


async def get_templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


async def get_throttle(request: Request) -> Throttle:
    return request.app.state.throttle


async def get_sessions(request: Request) -> Sessions:
    return request.app.state.sessions


async def is_owner(request: Request) -> bool:
    """Whether the owner sent this request (AccessGate decided it, web/access.py)."""
    return getattr(request.state, "owner", False)


async def editor_of(request: Request) -> str:
    """Who made a change from the web, as a line's history names it: the owner, how they were told to be the owner
    (token, signed in, this machine) and, when not at this machine, the client's address (the real one behind
    FONOTECA_TRUSTED_PROXIES)."""
    by = getattr(request.state, "owner_by", "") or "unknown"
    address = client_address(request)
    where = f" from {address}" if address and address not in LOOPBACK and by != OwnerBy.THIS_MACHINE else ""
    return f"owner (web, {by}{where})"


async def get_chat_limits(request: Request) -> PublicChatLimits:
    return request.app.state.chat_limits


async def get_tasks(request: Request) -> OwnerTasks:
    return request.app.state.tasks


async def get_transcripts(request: Request) -> TranscriptCache:
    return request.app.state.transcripts


@dataclass(frozen=True)
class RenderedTranscript:
    html: Markup  # the lines, escaped, with their links
    has_lines: bool
    first_lines: str  # the description of an episode without notes
    text: str  # the whole text, for the page's JSON-LD


class TranscriptCache:
    """The episode page's rendered transcript blocks, the least recently shown dropped first (LRU).

    Escaping a long transcript's lines is most of an episode page's time, and a transcript changes only with its
    episode's transcript_rev (every append or replacement bumps it), so the key holds the rev: a re-transcribed
    episode is rendered anew, never served stale. The key also says whether the block is the owner's (with the edit
    controls and the unsure words marked)."""

    def __init__(self, size: int = 64) -> None:  # a long episode's block is ~200 KB: 64 stay under ~15 MB
        self.size = size
        self._blocks: OrderedDict[tuple[str, int, str, bool], RenderedTranscript] = OrderedDict()
        self._lock = threading.Lock()  # routes run in the threadpool

    def get(self, key: tuple[str, int, str, bool]) -> RenderedTranscript | None:
        with self._lock:
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)
            return block

    def put(self, key: tuple[str, int, str, bool], block: RenderedTranscript) -> None:
        with self._lock:
            self._blocks[key] = block
            self._blocks.move_to_end(key)
            while len(self._blocks) > self.size:
                self._blocks.popitem(last=False)


App = Annotated[Fonoteca, Depends(get_fonoteca)]
Templates = Annotated[Jinja2Templates, Depends(get_templates)]
LoginThrottle = Annotated[Throttle, Depends(get_throttle)]
LoginSessions = Annotated[Sessions, Depends(get_sessions)]
Transcripts = Annotated[TranscriptCache, Depends(get_transcripts)]
Owner = Annotated[bool, Depends(is_owner)]
Editor = Annotated[str, Depends(editor_of)]
ChatLimits = Annotated[PublicChatLimits, Depends(get_chat_limits)]
Tasks = Annotated[OwnerTasks, Depends(get_tasks)]


def make_templates(static_url: Callable[[str], str]) -> Jinja2Templates:
    """The pages' templates; `static_url` gives a static file's URL (content-hashed: fonoteca.web.caching)."""
    context = [_csrf_context, _access_context]
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"), context_processors=context)
    templates.env.auto_reload = False  # a served template never changes: no stat() of each one on every page
    templates.env.globals["static_url"] = static_url
    templates.env.filters["clock"] = format_timestamp
    templates.env.filters["duration"] = lambda s: format_duration(s or 0).removeprefix("0d ").removeprefix("0h ")
    templates.env.filters["sanitize"] = sanitize_html
    templates.env.filters["snippet"] = snippet_html  # a hit's text with its highlights
    templates.env.filters["summary_parts"] = summary_parts  # a written summary's prose and its citations' links
    templates.env.globals["header"] = stats_header
    return templates


def _csrf_context(request: Request) -> dict[str, object]:
    """Every page's CSRF token (a guards.CsrfToken), for its forms and the <meta> tag its scripts read."""
    return {"csrf_token": getattr(request.state, "csrf_token", "")}


def _access_context(request: Request) -> dict[str, bool]:
    """What the page shows this visitor: the owner's controls (`owner`, set by AccessGate), the chat where it is open
    to them, and the sign-in link where there is a token to sign in with."""
    settings = request.app.state.fonoteca.settings
    owner = getattr(request.state, "owner", False)
    return {
        "owner": owner,
        "chat_open": owner or (settings.public and settings.public_chat),
        "can_sign_in": bool(settings.token.get_secret_value()),
    }
