"""Web routes of the LLM stage: the chat page, the streaming chat API and episode analyses.

POST /api/chat answers with Server-Sent Events over chunked transfer: `meta` (conversation id and the excerpts
given to the model), `token` (text as it is written), `citations` (the final answer, the cited excerpts, and
`sources`: every excerpt given, cited first in citation order, each marked `cited`),
`error` (anything that goes wrong after the 200 was sent) and `done`. A question of the public waits for its turn
first (web/chat_limits.py), with a `queue` event (its place) every few seconds. When the browser stops or goes away,
Starlette cancels the response's generator, which closes the upstream stream: the model stops writing for nobody.

Only the chat is `async` (it streams); the chat turn does its archive and index work in worker threads. Every other
route is a plain `def`, run in Starlette's threadpool: an analysis waits for the model there, never on the event loop.
A FonotecaError before the answer starts goes to the app's one handler (the model server's failure is an LLMError,
502; the request's, 400 or 404); after a 200 has been sent it can only be an `error` event, and the episode page's
forms show it on the page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

from fonoteca.archive import Episode
from fonoteca.errors import FonotecaError, NotFound
from fonoteca.llm.analyze import KINDS, MAX_SUMMARY_WORDS
from fonoteca.llm.chat import ChatEvent
from fonoteca.output import AnalysesOut, AnalysisOut, ConversationOut, MessageOut
from fonoteca.web.deps import App, ChatLimits, Owner, Templates
from fonoteca.web.guards import client_address

router = APIRouter()


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(default=None, max_length=64)
    show: str | None = None
    episode: str | None = Field(default=None, description="only this episode's transcript")


class AnalysisRequest(BaseModel):
    what: list[Literal["summary", "topics", "entities", "sentiment", "language"]] = Field(
        default_factory=lambda: list(KINDS)
    )
    words: int = Field(default=30, ge=1, le=MAX_SUMMARY_WORDS)
    focus: str | None = Field(default=None, max_length=300)
    language: str | None = Field(default=None, max_length=8)
    force: bool = False


class TranslationRequest(BaseModel):
    to: str = Field(pattern=r"^[a-z]{2}$", description="target language, ISO 639-1 (en, es, fr, …)")
    start: float | None = Field(default=None, ge=0, description="from this second (default: the beginning)")
    end: float | None = Field(default=None, ge=0, description="up to this second (default: the end)")
    force: bool = False


def _sse(event: ChatEvent) -> str:
    return f"event: {event.event}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n"


@router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
def chat_page(
    request: Request, fonoteca: App, templates: Templates, show: str | None = None, episode: str | None = None
) -> HTMLResponse:
    about = fonoteca.episode(episode) if episode else None
    context = {"shows": fonoteca.archive.list_shows(), "selected_show": show or "", "episode": about}
    return templates.TemplateResponse(request, "chat.html", context)


@router.post("/api/chat", tags=["llm"])
async def chat(
    request: Request, fonoteca: App, owner: Owner, limits: ChatLimits, body: ChatRequest
) -> StreamingResponse:
    """Ask the archive; the answer streams as text/event-stream (events queue, meta, token, citations, error, done).
    Anyone but the owner asks within per-address and concurrency limits: 429 or 503 with Retry-After."""
    if not owner:
        limits.questions.ask(client_address(request))
        limits.generations.check_room()
    turn = fonoteca.chat_turn(
        body.message,
        conversation_id=body.conversation_id or None,
        show=body.show or None,
        episode=body.episode or None,
    )
    await turn.prepare()

    async def stream() -> AsyncIterator[str]:
        # the turn is taken here, where it is always given back: a response that never started would keep it
        ticket = None
        try:
            if not owner:
                ticket = limits.generations.enter()
                async for position in limits.generations.positions(ticket):
                    yield _sse(ChatEvent("queue", {"position": position}))
            async for event in turn.events():
                yield _sse(event)
        except FonotecaError as exc:  # e.g. the archive became unwritable mid-answer: the page shows it
            yield _sse(ChatEvent("error", {"message": str(exc)}))
        finally:
            if ticket is not None:
                limits.generations.leave(ticket)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/api/conversations/{conversation_id}", tags=["llm"])
def conversation(fonoteca: App, conversation_id: str) -> ConversationOut:
    """A conversation's turns so far (the chat page shows them again after a reload)."""
    messages = fonoteca.archive.messages(conversation_id)
    if not messages:
        raise NotFound(f"no conversation {conversation_id!r}")
    return ConversationOut(conversation_id=conversation_id, messages=[MessageOut.of(m) for m in messages])


@router.get("/api/episodes/{episode_id}/analyses", tags=["llm"])
def list_analyses(fonoteca: App, episode_id: str) -> AnalysesOut:
    """The stored analyses of an episode."""
    episode = fonoteca.episode(episode_id)
    stored = fonoteca.archive.list_analyses(episode.id)
    return AnalysesOut(episode_id=episode.id, analyses=[AnalysisOut.of(a) for a in stored])


@router.post("/api/episodes/{episode_id}/analyses", tags=["llm"])
def run_analyses(fonoteca: App, episode_id: str, body: AnalysisRequest) -> AnalysesOut:
    """Compute (or reuse while still valid) and store analyses of an episode. When some fail and others work, the
    answer is still a 200: the analyses that worked, and `errors` with the reason of each one that failed. The summary
    is a capable endpoint's (FONOTECA_LLM_CAPABLE), its citations of the key moments and chapters checked, each with
    its link; otherwise it is the key moments themselves (model "key moments", not stored), with a note saying why."""
    episode = fonoteca.episode(episode_id)
    analyses, errors = fonoteca.analyzer().analyze_each(
        episode, body.what, words=body.words, focus=body.focus, language=body.language, force=body.force
    )
    if errors and not analyses:
        raise next(iter(errors.values()))
    return AnalysesOut(
        episode_id=episode.id,
        analyses=[AnalysisOut.of(a) for a in analyses.values()],
        errors={kind: str(exc) for kind, exc in errors.items()},
    )


@router.post("/api/episodes/{episode_id}/translation", tags=["llm"])
def run_translation(fonoteca: App, episode_id: str, body: TranslationRequest) -> AnalysisOut:
    """Translate the episode, or the passage between `start` and `end` seconds (stored and reused like analyses)."""
    episode = fonoteca.episode(episode_id)
    translation = fonoteca.analyzer().translate(episode, body.to, start=body.start, end=body.end, force=body.force)
    return AnalysisOut.of(translation, alone=True)


@router.post("/episode/{episode_id}/analyze", include_in_schema=False)
def analyze_from_page(
    fonoteca: App,
    episode_id: str,
    what: list[str] = Form(list(KINDS)),
    words: int = Form(30, ge=1, le=MAX_SUMMARY_WORDS),
    focus: str = Form("", max_length=300),
    force: bool = Form(False),
) -> RedirectResponse:
    """The episode page's form: the ticked analyses, then back to the page (with the error when the model failed)."""
    episode = fonoteca.episode(episode_id)
    try:
        fonoteca.analyzer().analyze(episode, what, words=words, focus=focus or None, force=force)
    except FonotecaError as exc:
        return _back_to_the_page(episode, exc)
    return _back_to_the_page(episode)


@router.post("/episode/{episode_id}/translate", include_in_schema=False)
def translate_from_page(
    fonoteca: App,
    episode_id: str,
    to: str = Form(..., pattern=r"^[a-z]{2}$"),
    start: float | None = Form(None, ge=0),
    end: float | None = Form(None, ge=0),
) -> RedirectResponse:
    """The episode page's translation form; the translation then shows on the page."""
    episode = fonoteca.episode(episode_id)
    try:
        fonoteca.analyzer().translate(episode, to, start=start, end=end)
    except FonotecaError as exc:
        return _back_to_the_page(episode, exc)
    return _back_to_the_page(episode)


def _back_to_the_page(episode: Episode, error: FonotecaError | None = None) -> RedirectResponse:
    """Back to the episode page's analyses, with the model's error when it failed."""
    target = f"/episode/{episode.id}" + (f"?analysis_error={quote(str(error))}" if error else "")
    return RedirectResponse(f"{target}#analysis", status_code=303)
