"""Ask the archive: retrieval-augmented answers that cite the transcript excerpts they were given, with memory.

One turn: the question is searched both ways (fonoteca.search.hybrid): as a lenient OR of its keywords, and by its
meaning against the embedded passages where the archive has them, the two fused by rank, so a question phrased unlike
the transcript still finds its excerpts; a passage only counts when it is close enough in meaning, so "not found" stays
"not found". The best moments go to the model as numbered, delimited excerpts with their episode and time; the
conversation's earlier turns go with them (oldest dropped first when the context is full, the system prompt always
kept); the answer streams back token by token, and any [n] that does not name a given excerpt is removed on the way. The
answer's sources are every excerpt it was given, the cited ones first in citation order and marked `cited` (a small
model may cite nothing; the reader still sees what the answer was based on). Nothing found means a plain "not found",
with no model call.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from fonoteca.archive import Archive, Chapter, Message
from fonoteca.errors import FonotecaError, LLMError
from fonoteca.ingest.language import language_name
from fonoteca.llm.clean import GAP, clean_text, close_gaps, mark_special_tokens, unfinished_at
from fonoteca.llm.client import LLMClient, estimate_tokens
from fonoteca.llm.prompts import CHAT
from fonoteca.output import ExcerptOut, SourceOut, dump
from fonoteca.search import Hit
from fonoteca.search.hybrid import HybridSearch
from fonoteca.search.scope import EVERYWHERE, SearchScope
from fonoteca.settings import Settings
from fonoteca.text import format_timestamp, words


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Folded (lower-case, no accents) function words of Spanish and English: a question's keywords are what remains.
STOPWORDS: dict[str, frozenset[str]] = {
    "es": _word_set(
        """a al algo algun alguna algunas alguno algunos ante antes aqui asi aun cada como con contra cual cuales
        cuando cuanto de del desde donde dos e el ella ellas ello ellos en entre era eran es esa esas ese eso esos
        esta estaba estan estar estas este esto estos fue fueron ha habia han hasta hay la las le les lo los mas me
        mi mis mucho muy nada ni no nos nosotros o os otra otro para pero poco por porque que quien quienes se sea
        ser si sido sin sobre son su sus tambien te tiene tienen toda todo todos tu tus un una unas uno unos usted
        y ya yo dime dijo dice decir habla hablo hablan hablaron sabes saber cosa cosas episodio episodios programa
        podcast alguien hace hizo cual"""
    ),
    "en": _word_set(
        """a about above after again all am an and any are as at be been before being below between both but by
        can could did do does doing down during each few for from further had has have having he her here hers him
        his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
        out over own same she should so some such than that the their them then there these they this those through
        to too under until up very was we were what when where which while who whom why will with would you your
        tell said say says talk talked talks speak spoke anything something someone thing things episode episodes
        show podcast"""
    ),
}

NOT_FOUND = {
    "es": "No he encontrado nada sobre eso en el archivo, así que no puedo responder sin inventar.",
    "en": "I found nothing about that in the archive, so I cannot answer without making it up.",
}
EXCERPTS_LIMIT = 8
FOLLOW_UP_KEYWORDS = 2  # a question with fewer keywords is searched together with the conversation's earlier ones
FOLLOW_UP_QUESTIONS = 2  # how many earlier questions lend their keywords


def keywords(question: str) -> list[str]:
    """The question's content words, folded, first occurrence order, stopwords of both languages dropped."""
    seen: dict[str, None] = {}
    for word in words(question):
        if len(word) > 1 and word not in STOPWORDS["es"] and word not in STOPWORDS["en"]:
            seen.setdefault(word, None)
    return list(seen)


def retrieval_query(question: str) -> str:
    """A lenient query for the search engine: any keyword may match; BM25 ranks segments matching more first."""
    return " OR ".join(keywords(question))


def retrieval_queries(question: str, earlier: Sequence[str] = ()) -> list[str]:
    """The queries to try in turn until one finds something. A follow-up ("¿Y qué dijo él?") may have no keywords
    of its own: it is about what the conversation's previous questions (`earlier`, oldest first) asked, so their
    keywords join its own, after them; a question with enough keywords is first searched alone."""
    own = keywords(question)
    with_earlier = dict.fromkeys(own)
    for previous in reversed(earlier[-FOLLOW_UP_QUESTIONS:]):
        with_earlier.update(dict.fromkeys(keywords(previous)))
    queries = [" OR ".join(own)] if len(own) >= FOLLOW_UP_KEYWORDS or not earlier else []
    queries.append(" OR ".join(with_earlier))
    return [q for i, q in enumerate(queries) if q and q not in queries[:i]]


def question_language(question: str) -> str:
    """'es' or 'en', by which language's function words the question uses more (ties: Spanish, the main audience)."""
    tokens = words(question)
    es = sum(t in STOPWORDS["es"] for t in tokens)
    en = sum(t in STOPWORDS["en"] for t in tokens)
    if "¿" in question or "ñ" in question.lower():
        es += 2
    return "en" if en > es else "es"


@dataclass
class Excerpt:
    n: int
    episode_id: str
    title: str
    show: str
    date: str | None
    start: float
    end: float
    text: str
    url: str
    speaker: str | None = None  # who says it; a passage of several voices names each one in its text instead

    def as_prompt(self) -> str:
        """The excerpt as the model reads it: where and when it was said and, where the transcript names them, who
        said it, so that an answer can say who."""
        when = f", {self.date}" if self.date else ""
        who = f", {self.speaker} says" if self.speaker else ""
        return (
            f"[{self.n}] {self.show} — «{self.title}»{when}, at {format_timestamp(self.start)}{who}:\n"
            f'"""{self.text.strip()}"""'
        )


def retrieve(
    searcher: HybridSearch,
    question: str,
    scope: SearchScope = EVERYWHERE,
    *,
    limit: int = EXCERPTS_LIMIT,
    earlier: Sequence[str] = (),
    chapters: Sequence[Chapter] = (),
) -> list[Excerpt]:
    """The moments of the scope that best match `question` (read with the `earlier` questions of its conversation if
    needed), by keywords and, where the archive is embedded, by meaning; with the `chapters` of a one-episode scope,
    those of the chapters the question names first (route_by_chapters)."""
    hits = []
    for number, query in enumerate(retrieval_queries(question, earlier) or [""]):
        # The first query is the question's own; the next ones also carry the earlier questions' words and meaning.
        meaning = question if number == 0 else " ".join([*earlier[-FOLLOW_UP_QUESTIONS:], question])
        hits = searcher.search(query, scope, meaning_query=meaning, limit=limit).hits
        if hits:
            break
    return [
        Excerpt(n, h.episode_id, h.title, h.show, h.date, h.start, h.end, h.text, h.url, h.speaker)
        for n, h in enumerate(route_by_chapters(hits, question, chapters), start=1)
    ]


def route_by_chapters(hits: list[Hit], question: str, chapters: Sequence[Chapter]) -> list[Hit]:
    """Within one episode, the moments of the chapters whose titles share a word with the question first (in their
    order), then the rest: "what did they say about Docker?" goes to the Docker chapter of a three-hour stream."""
    asked = set(keywords(question))
    wanted = [c for c in chapters if asked & set(words(c.title))]
    if not wanted:
        return hits
    ends = {id(c): next((n.start for n in chapters if n.start > c.start), float("inf")) for c in wanted}

    def inside(hit: Hit) -> bool:
        return any(c.start <= hit.start < (c.end or ends[id(c)]) for c in wanted)

    return [h for h in hits if inside(h)] + [h for h in hits if not inside(h)]


def sources(excerpts: Sequence[Excerpt], cited: Sequence[int]) -> list[dict[str, Any]]:
    """Every excerpt the answer was given, the cited ones first in the order the answer cites them, then the rest in
    their given order. A small model may cite nothing: the reader still sees what the answer was based on."""
    by_number = {e.n: e for e in excerpts}
    first = [by_number[n] for n in dict.fromkeys(cited) if n in by_number]
    taken = {e.n for e in first}
    rest = [e for e in excerpts if e.n not in taken]
    return dump([SourceOut.of(e, cited=True) for e in first] + [SourceOut.of(e, cited=False) for e in rest])


def build_messages(
    history: list[Message], excerpts: list[Excerpt], question: str, *, language: str, context: int, answer_tokens: int
) -> tuple[list[dict[str, str]], list[Excerpt]]:
    """The prompt for one turn within `context` tokens, and the excerpts that fit in it. Trimmed by estimate: asking
    the server to count would add a round trip to every answer.

    The system prompt and the question always go; then as many excerpts as fit (best first, at least one); then as
    many earlier turns as fit, newest first, so the oldest are forgotten first.
    """
    system, _ = CHAT.messages(language=language_name(language), excerpts="", question=question)
    budget = context - answer_tokens - estimate_tokens(system["content"]) - estimate_tokens(question) - 16
    kept: list[Excerpt] = []
    for excerpt in excerpts:
        cost = estimate_tokens(excerpt.as_prompt())
        if kept and cost > budget:
            break
        kept.append(excerpt)
        budget -= cost
    body = "\n\n".join(e.as_prompt() for e in kept)
    _, user = CHAT.messages(language=language_name(language), excerpts=body, question=question)
    earlier: list[dict[str, str]] = []
    for message in reversed([m for m in history if m.role in ("user", "assistant")]):
        cost = estimate_tokens(message.content)
        if cost > budget:
            break
        earlier.insert(0, {"role": message.role, "content": message.content})
        budget -= cost
    if earlier and earlier[0]["role"] == "assistant":
        earlier.pop(0)  # a turn starts with the user's question
    return [system, *earlier, user], kept


class CitationFilter:
    """Streams the answer through the same cleaning as the stored answer (clean.mark_special_tokens), holding back
    what may still become a citation marker or a leaked token until it is complete: "[3]" passes when excerpt 3 was
    given and is removed otherwise, with the space it would leave doubled ("según [1] y [7] y" -> "según [1] y y")."""

    CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
    _PARTIAL_CITATION = re.compile(r"\[[\d\s,]{0,16}$")
    _TRAILING_SPACE = re.compile(r"[\s\x00]+$")  # held back: whether it stays depends on what comes next

    def __init__(self, given: set[int]) -> None:
        self.given = given
        self.cited: list[int] = []
        self._pending = ""  # raw text that may be the start of a marker or token
        self._held = ""  # cleaned text whose spacing waits for the next piece

    def feed(self, text: str) -> str:
        self._pending += text
        partial = self._PARTIAL_CITATION.search(self._pending)
        cut = min(unfinished_at(self._pending), partial.start() if partial else len(self._pending))
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        text = self._held + self.CITATION.sub(self._replacement, mark_special_tokens(ready))
        trailing = self._TRAILING_SPACE.search(text)
        cut = trailing.start() if trailing else len(text)
        text, self._held = text[:cut], text[cut:]
        return close_gaps(text, final=False)

    def flush(self) -> str:
        rest = self._held + self.CITATION.sub(self._replacement, mark_special_tokens(self._pending))
        self._pending = self._held = ""
        return close_gaps(rest)

    def _replacement(self, marker: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", marker.group(0))]
        valid = [n for n in numbers if n in self.given]
        for n in valid:
            if n not in self.cited:
                self.cited.append(n)
        return "".join(f"[{n}]" for n in valid) or GAP


@dataclass
class ChatEvent:
    event: str  # meta | token | citations | error | done
    data: dict[str, Any]


@dataclass
class ChatTurn:
    """One question in a conversation. prepare() does everything before the model is called (validation,
    retrieval, prompt); events() streams the answer and stores the turn when it completes."""

    archive: Archive
    settings: Settings
    searcher: HybridSearch
    client: LLMClient
    message: str
    conversation_id: str | None = None
    show: str | None = None
    episode: str | None = None  # only this episode's transcript
    scope: SearchScope = EVERYWHERE  # the show and episode, found in the archive when the conversation is opened
    excerpts: list[Excerpt] = field(default_factory=list)
    prompt: list[dict[str, str]] = field(default_factory=list)  # what goes to the model, for tests and the bench
    language: str = "es"
    answer: str = ""
    citations: list[dict[str, Any]] = field(default_factory=list)  # the cited excerpts, in citation order
    sources: list[dict[str, Any]] = field(default_factory=list)  # every excerpt given, cited first (see sources())
    prepared_in: float = 0.0  # seconds spent before the model call: fonoteca's overhead on the first token

    async def prepare(self) -> None:
        started = time.perf_counter()
        self.message = self.message.strip()
        if not self.message:
            raise FonotecaError("the question is empty", "type a question about the archive")
        history = await anyio.to_thread.run_sync(self._open_conversation)  # SQLite: never on the event loop
        earlier = [m.content for m in history if m.role == "user"]
        self.language = question_language(self.message)
        chapters = await anyio.to_thread.run_sync(self._chapters)
        excerpts = await anyio.to_thread.run_sync(
            lambda: retrieve(
                self.searcher, self.message, self.scope, limit=EXCERPTS_LIMIT, earlier=earlier, chapters=chapters
            )
        )
        if excerpts:
            self.prompt, self.excerpts = build_messages(
                history,
                excerpts,
                self.message,
                language=self.language,
                context=self.settings.llm_context,
                answer_tokens=answer_tokens(self.settings),
            )
        self.prepared_in = time.perf_counter() - started

    def _chapters(self) -> list[Chapter]:
        """The chapters of the episode the conversation is about (none for a show or the whole archive)."""
        if not self.episode:
            return []
        overview = self.archive.overviews.overview(self.episode)
        return overview.shown_chapters if overview else []

    def _open_conversation(self) -> list[Message]:
        """The turn's scope and conversation (made if new), and the conversation's messages so far."""
        if self.conversation_id and not self.show and not self.episode:
            # A conversation goes on about the show or episode it started with, though the follow-up does not name
            # it again.
            stored_show, self.episode = self.archive.conversation_scope(self.conversation_id)
            self.show = str(stored_show) if stored_show is not None else None
        show_id = self.archive.get_show(self.show).id if self.show else None
        if self.episode:
            episode = self.archive.get_episode(self.episode)  # NotFound before anything is stored
            self.episode, show_id = episode.id, show_id if show_id is not None else episode.show_id
        # The episode's show is in the scope too: it changes nothing that the episode alone would not find.
        self.scope = SearchScope(show_id=show_id, episode_id=self.episode)
        self.conversation_id = self.conversation_id or uuid.uuid4().hex
        self.archive.create_conversation(self.conversation_id, show_id, self.episode)
        return self.archive.messages(self.conversation_id)

    def _store(self) -> None:
        self.archive.add_message(self.conversation_id, "user", self.message)
        # The assistant's row keeps every source, each marked cited or not (GET /api/conversations/{id} shows them).
        self.archive.add_message(self.conversation_id, "assistant", self.answer, self.sources or None)

    async def events(self) -> AsyncIterator[ChatEvent]:
        given = sources(self.excerpts, [])
        yield ChatEvent(
            "meta",
            {
                "conversation_id": self.conversation_id,
                "citations": dump([ExcerptOut.of(e) for e in self.excerpts]),
                "sources": given,
            },
        )
        if not self.excerpts:
            self.answer = NOT_FOUND[self.language]
            yield ChatEvent("token", {"text": self.answer})
        else:
            citation_filter = CitationFilter({e.n for e in self.excerpts})
            parts: list[str] = []
            try:
                async with aclosing(self.client.stream(self.prompt, max_tokens=answer_tokens(self.settings))) as pieces:
                    async for piece in pieces:
                        text = citation_filter.feed(piece)
                        if text:
                            parts.append(text)
                            yield ChatEvent("token", {"text": text})
                parts.append(citation_filter.flush())
            except LLMError as exc:
                yield ChatEvent("error", {"message": str(exc)})
                return
            self.answer = clean_text("".join(parts))
            self.sources = sources(self.excerpts, cited_numbers(self.answer))
            self.citations = [{k: v for k, v in s.items() if k != "cited"} for s in self.sources if s["cited"]]
        await anyio.to_thread.run_sync(self._store)
        yield ChatEvent("citations", {"citations": self.citations, "sources": self.sources, "answer": self.answer})
        yield ChatEvent("done", {"conversation_id": self.conversation_id})


def cited_numbers(answer: str) -> list[int]:
    """The excerpt numbers an answer cites, in the order it first cites them ("[2, 1] … [1]" -> [2, 1])."""
    numbers = (int(n) for marker in CitationFilter.CITATION.findall(answer) for n in re.findall(r"\d+", marker))
    return list(dict.fromkeys(numbers))


def answer_tokens(settings: Settings) -> int:
    return max(64, min(512, settings.llm_context // 4))
