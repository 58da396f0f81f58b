"""Per-episode analyses: summary, five topics, entities, sentiment and anger, language, translation.

Each result is stored in the archive with the model's name and the version of its prompts (a hash of their text, see
prompts.py), and reused until the transcript (episode.transcript_rev) or a prompt changes, or the user forces it.
Transcripts longer than the model's context are condensed first (map-reduce: summarise parts, then the summaries) so
a three-hour stream fits a small local model. Answers are in the show's language unless another is asked for.

The summary is written only by a capable model (FONOTECA_LLM_CAPABLE), from the episode's chapters and key moments,
citing them, each citation checked (fonoteca.llm.summary). Without one it is the key moments themselves, made by
fonoteca and never stored as an analysis: the embedded model is used only where a check filters what it says (the
grounding check of topics and entities).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, field_validator

from fonoteca.archive import Analysis, Archive, Episode, Overview
from fonoteca.errors import FonotecaError, LLMError, NotFound
from fonoteca.events import (
    AnalysesFinished,
    AnalysesStarted,
    AnalysisFailed,
    EpisodeAnalysed,
    EpisodeAnalysing,
    EventSink,
)
from fonoteca.ingest.language import LANGUAGE_NAMES, detect_text_language, language_name
from fonoteca.llm import prompts
from fonoteca.llm.client import LLMClient
from fonoteca.llm.prompts import Prompt
from fonoteca.llm.summary import KEY_MOMENTS, Sources, check_citations, key_moments_summary
from fonoteca.meaning.grounding import Grounding
from fonoteca.settings import Settings

KINDS = ("summary", "topics", "entities", "sentiment", "language")

# The prompt of each kind of analysis (translation included).
PROMPTS: dict[str, Prompt] = {
    "summary": prompts.SUMMARY,
    "topics": prompts.TOPICS,
    "entities": prompts.ENTITIES,
    "sentiment": prompts.SENTIMENT,
    "language": prompts.LANGUAGE,
    "translation": prompts.TRANSLATION,
}
# The analyses that read the whole transcript, condensed by prompts.MAP when it is longer than the context: their
# results depend on that prompt too. (The summary reads the chapters and key moments instead.)
CONDENSED = ("topics", "entities", "sentiment")

PROMPT_OVERHEAD_TOKENS = 200  # instructions, delimiters and chat template around the transcript
MAX_SUMMARY_WORDS = 500
LANGUAGE_METHOD = "py3langid"  # stored as the language analysis' model when no language model was asked
LANGUAGE_MIN_WORDS = 20  # py3langid is reliable from a few dozen words, which a small model is not; below, ask it


# What the grounding check keeps of the model's topics and entities (fonoteca.meaning.grounding), as part of their
# version: a result stored before the check changed is made again rather than shown unchecked.
GROUNDING_RULES = Prompt(
    "grounding",
    "",
    "Every content word said in the transcript (folded, or the same stem); a topic has a content word (no stopwords "
    "or fillers alone).",
)
GROUNDED = ("topics", "entities")
# What the citation check of a summary keeps (fonoteca.llm.summary), as part of the summary's version.
CITATION_RULES = Prompt(
    "citations",
    "",
    "A key moment by its number, a chapter or key moment by its time to the second as given; any other citation is "
    "dropped; citations are not words.",
)


def prompt_version(kind: str) -> str:
    """The version a result of `kind` is stored with, and reused only while it is still the same."""
    if kind == "summary":
        return prompts.version(PROMPTS[kind], CITATION_RULES)
    if kind in GROUNDED:
        return prompts.version(PROMPTS[kind], prompts.MAP, GROUNDING_RULES)
    if kind in CONDENSED:
        return prompts.version(PROMPTS[kind], prompts.MAP)
    return PROMPTS[kind].version


# -- checking a request before anything is asked of the server ---------------------------------------------------


def check_analyses(what: Sequence[str], words: int) -> None:
    """Raise FonotecaError for analyses that do not exist or a summary length out of range (CLI and web alike)."""
    unknown = [k for k in what if k not in KINDS]
    if unknown:
        raise FonotecaError(f"unknown analysis {unknown[0]!r}", f"choose among {', '.join(KINDS)} (or translation)")
    if not 1 <= words <= MAX_SUMMARY_WORDS:
        raise FonotecaError(f"--words must be between 1 and {MAX_SUMMARY_WORDS}", "e.g. --words 30")


def check_translation(to: str | None, start: float | None, end: float | None) -> str:
    """The target language as a two-letter code (what the web API requires too), after checking the time range."""
    code = (to or "").strip().lower()
    if not code:
        raise FonotecaError("no target language for the translation", "pass one with --to, e.g. --to en")
    if not re.fullmatch(r"[a-z]{2}", code):
        raise FonotecaError(f"--to {to!r} is not a two-letter language code", "use ISO 639-1, e.g. --to en or --to es")
    if (start is not None and start < 0) or (end is not None and end < 0):
        raise FonotecaError("--from and --until are seconds from the start, not negative", "e.g. --from 60")
    if start is not None and end is not None and end <= start:
        raise FonotecaError(f"--until ({end:g} s) must come after --from ({start:g} s)", "swap or fix the two times")
    return code


def time_range(start: float | None, end: float | None) -> str:
    """'between 60 s and 120 s', 'after 60 s', 'before 120 s': how a passage is named in messages."""
    if end is None:
        return f"after {start or 0:g} s"
    if not start:
        return f"before {end:g} s"
    return f"between {start:g} s and {end:g} s"


# -- answer shapes ----------------------------------------------------------------------------------------------------


# Length limits go into the JSON schema, which llama.cpp turns into a grammar: a small model cannot ramble past them.
Topic = Annotated[str, Field(min_length=2, max_length=40)]
Name = Annotated[str, Field(min_length=1, max_length=60)]
Names = Annotated[list[Name], Field(max_length=20)]


class Topics(BaseModel):
    topics: Annotated[list[Topic], Field(min_length=5, max_length=5)]

    @field_validator("topics", mode="after")
    @classmethod
    def _one_or_two_words(cls, topics: list[str]) -> list[str]:
        cleaned: list[str] = []
        for topic in topics:
            short = " ".join(re.sub(r"[\"'«»“”.,;:!?()]+", " ", topic).split()[:2])
            if short and short.casefold() not in (t.casefold() for t in cleaned):
                cleaned.append(short)
        if len(cleaned) != 5:
            raise ValueError(f"expected five different non-empty topics, got {len(cleaned)}")
        return cleaned


class Entities(BaseModel):
    people: Names
    organizations: Names
    products: Names

    @field_validator("people", "organizations", "products", mode="after")
    @classmethod
    def _distinct_names(cls, names: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for name in names:
            name = " ".join(name.split()).strip(" .,;")
            if name and name.casefold() not in seen:
                seen[name.casefold()] = name
        return list(seen.values())


class Sentiment(BaseModel):
    sentiment: Literal["positive", "neutral", "negative"]
    anger: bool

    @field_validator("sentiment", mode="before")
    @classmethod
    def _english_label(cls, value: Any) -> Any:
        labels = {"positivo": "positive", "negativo": "negative", "neutro": "neutral", "neutra": "neutral"}
        if isinstance(value, str):
            value = value.strip().lower()
            return labels.get(value, value)
        return value

    @field_validator("anger", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("si", "sí"):
            return True
        return value


class LanguageAnswer(BaseModel):
    language: Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code, e.g. es or en")]

    @field_validator("language", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            by_name = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}
            return by_name.get(value, value[:2] if re.match(r"^[a-z]{2}[-_]", value) else value)
        return value


# Structured analyses: the answer's shape and its most tokens. The language is asked of the model only when py3langid
# cannot tell (too short a transcript).
STRUCTURED: dict[str, tuple[type[BaseModel], int]] = {
    "topics": (Topics, 120),
    "entities": (Entities, 300),
    "sentiment": (Sentiment, 40),
    "language": (LanguageAnswer, 20),
}


# -- the analyser -----------------------------------------------------------------------------------------------------


# An episode's chapters and key moments as the summary reads them (None: not made yet); see Analyzer.
Overviews = Callable[[Episode], Overview | None]


class Analyzer:
    """Runs and stores analyses of episodes against one endpoint. `overviews`: where the summary gets an episode's
    chapters and key moments (default: as stored; the application's command makes missing ones first)."""

    def __init__(
        self, archive: Archive, settings: Settings, client: LLMClient, overviews: Overviews | None = None
    ) -> None:
        self.archive = archive
        self.settings = settings
        self.client = client
        self.overviews = overviews or (lambda episode: archive.overviews.overview(episode.id))

    def needs_model(self, what: Sequence[str]) -> bool:
        """Whether any of the analyses asks the language model: not the language alone (py3langid finds it unless the
        transcript is tiny), nor the embedded setup's summary (the key moments)."""
        return any(kind != "language" and (kind != "summary" or self.settings.llm_capable) for kind in what)

    # Public entry points ---------------------------------------------------------------------------------------

    def analyze(self, episode: Episode, what: Sequence[str] = KINDS, **options: Any) -> dict[str, Analysis]:
        """The requested analyses of one episode, from the archive when still valid, else computed and stored.
        Takes analyze_each's options; raises the first failure, after storing the analyses that worked."""
        analyses, errors = self.analyze_each(episode, what, **options)
        if errors:
            raise next(iter(errors.values()))
        return analyses

    def analyze_each(
        self,
        episode: Episode,
        what: Sequence[str] = KINDS,
        *,
        words: int = 30,
        focus: str | None = None,
        language: str | None = None,
        force: bool = False,
    ) -> tuple[dict[str, Analysis], dict[str, FonotecaError]]:
        """Like analyze(), but one analysis failing does not lose the others: (those that worked, those that failed).
        A request that cannot work at all (unknown kind, no transcript) still raises."""
        check_analyses(what, words)
        text = self._transcript(episode)
        target = language or self._answer_language(episode, text)
        # The text the model reads, condensed at most once, to fit next to the largest answer asked for.
        room = max((self.room(kind, words) for kind in what if kind in CONDENSED), default=0)
        condensed: list[str | FonotecaError] = []

        def whole_text() -> str:
            if not condensed:
                try:
                    condensed.append(self.fit(text, language=target, room=room))
                except FonotecaError as exc:
                    condensed.append(exc)  # the next analysis fails the same way without condensing again
            if isinstance(condensed[0], FonotecaError):
                raise condensed[0]
            return condensed[0]

        checks: list[Grounding] = []

        def grounding() -> Grounding:
            if not checks:
                checks.append(Grounding.of(text, episode.language))
            return checks[0]

        focus = (focus or "").strip() or None
        jobs: dict[str, tuple[str, Callable[[], tuple[Any, str]]]] = {
            "summary": (
                f"words={words};focus={focus or ''};lang={target}",
                lambda: self._by_model(self._summary(episode, words, focus, target)),
            ),
            "topics": (
                f"lang={target}",
                lambda: self._by_model(grounded_topics(self._topics(whole_text(), target), grounding())),
            ),
            "entities": ("", lambda: self._by_model(grounded_entities(self._entities(whole_text()), grounding()))),
            "sentiment": ("", lambda: self._by_model(self._sentiment(whole_text()))),
            "language": ("", lambda: self._language(text)),
        }
        analyses: dict[str, Analysis] = {}
        errors: dict[str, FonotecaError] = {}
        for kind in what:
            try:
                if kind == "summary" and not self.settings.llm_capable:
                    analyses[kind] = self._stored(episode, kind, jobs[kind][0]) or self._key_moments(episode)
                else:
                    analyses[kind] = self._stored_or_run(episode, kind, *jobs[kind], force=force)
            except FonotecaError as exc:
                errors[kind] = exc
        return analyses, errors

    def room(self, kind: str, words: int = 30) -> int:
        """Tokens one request of `kind` needs next to the transcript and the instructions: its answer, and for
        structured answers the retry's too (clients.structured_room)."""
        if kind == "summary":
            return self._summary_tokens(words)
        if kind == "language":
            return 0  # it reads its own sample of the transcript, not the whole text (see _language)
        return self._structured_room(kind)

    def _structured_room(self, kind: str) -> int:
        shape, max_tokens = STRUCTURED[kind]
        return self.client.structured_room(shape, max_tokens)

    def translate(
        self,
        episode: Episode,
        to: str,
        *,
        start: float | None = None,
        end: float | None = None,
        force: bool = False,
    ) -> Analysis:
        """The episode, or the passage between `start` and `end` seconds, in language `to` (a two-letter code)."""
        to = check_translation(to, start, end)
        segments = self.archive.segments(episode.id)
        if start is not None or end is not None:
            low, high = start or 0.0, end if end is not None else float("inf")
            segments = [s for s in segments if s.end > low and s.start < high]
            if not segments:
                raise FonotecaError(
                    f"episode {episode.id} has no transcript {time_range(start, end)}",
                    "check the time range (seconds) against the episode's length",
                )
        text = "\n".join(s.text.strip() for s in segments)
        if not text.strip():
            raise self._no_transcript(episode)
        params = f"to={to}"
        if start is not None or end is not None:
            params += f";from={start or 0:g};until={'end' if end is None else format(end, 'g')}"
        span = {"start": segments[0].start, "end": segments[-1].end}
        return self._stored_or_run(
            episode,
            "translation",
            params,
            lambda: self._by_model({"to": to, **span, "text": self._translate(text, to)}),
            force=force,
        )

    # Storage ---------------------------------------------------------------------------------------------------

    def _by_model(self, result: Any) -> tuple[Any, str]:
        """A result with the name of the language model that made it, as stored."""
        return result, self.client.model_label

    def _stored(self, episode: Episode, kind: str, params: str) -> Analysis | None:
        """The stored result of `kind` with `params`, while its transcript and prompts are still the current ones."""
        stored = self.archive.get_analysis(episode.id, kind, params)
        if (
            stored is not None
            and stored.transcript_rev == episode.transcript_rev
            and stored.prompt_version == prompt_version(kind)
        ):
            return stored
        return None

    def _stored_or_run(
        self, episode: Episode, kind: str, params: str, run: Callable[[], tuple[Any, str]], *, force: bool
    ) -> Analysis:
        stored = None if force else self._stored(episode, kind, params)
        if stored is not None:
            return stored
        result, model = run()  # raises on an unusable answer: nothing is stored then
        analysis = Analysis(
            episode_id=episode.id,
            kind=kind,
            params=params,
            model=model,
            prompt_version=prompt_version(kind),
            transcript_rev=episode.transcript_rev,
            result=result,
        )
        self.archive.save_analysis(analysis)
        return self.archive.get_analysis(episode.id, kind, params) or analysis

    def _transcript(self, episode: Episode) -> str:
        text = self.archive.transcript_text(episode.id)
        if not text.strip():
            raise self._no_transcript(episode)
        return text

    @staticmethod
    def _no_transcript(episode: Episode) -> FonotecaError:
        return FonotecaError(
            f"episode {episode.id} ({episode.title}) has no transcript yet",
            f"run `fonoteca sync` first (`fonoteca retry {episode.id}` if it failed)",
        )

    def _answer_language(self, episode: Episode, text: str) -> str:
        if episode.language:
            return episode.language
        show = self.archive.get_show(episode.show_id)
        return show.language or detect_text_language(text, min_words=LANGUAGE_MIN_WORDS) or "en"

    # Fitting long transcripts into the context (map-reduce) ------------------------------------------------------

    def token_budget(self, room: int) -> int:
        """Tokens of transcript one request can carry next to its instructions and `room` (see room())."""
        budget = self.settings.llm_context - PROMPT_OVERHEAD_TOKENS - room
        if budget < 64:
            raise LLMError(
                f"a context of {self.settings.llm_context} tokens is too small for this analysis",
                "set FONOTECA_LLM_CONTEXT to the model's context (at least 2048)",
            )
        return budget

    def fit(self, text: str, *, language: str, room: int = 512) -> str:
        """`text` itself when it fits in one request next to `room` tokens (see room()), else its summarised parts,
        summarised again until they fit."""
        budget = self.token_budget(room)
        for _round in range(4):
            tokens = self.client.count_tokens(text)
            if tokens <= budget:
                return text
            chunks = split_text(text, budget=self.token_budget(self.map_answer_tokens), tokens=tokens)
            summaries = [self._map(chunk, i, len(chunks), language) for i, chunk in enumerate(chunks, start=1)]
            condensed = "\n".join(s for s in summaries if s)
            if self.client.count_tokens(condensed) >= tokens:
                break  # the model is not condensing; cut instead of looping
            text = condensed
        chars = int(len(text) * budget / max(1, self.client.count_tokens(text)))
        return text[:chars]

    @property
    def map_answer_tokens(self) -> int:
        """Room for one part's summary: an eighth of the context, so a few of them fit together in the next round."""
        return max(48, min(200, self.settings.llm_context // 8))

    def _map(self, chunk: str, number: int, total: int, language: str) -> str:
        messages = prompts.MAP.messages(
            language=language_name(language), number=number, total=total, words=self.map_answer_tokens // 2, text=chunk
        )
        return self.client.complete(messages, max_tokens=self.map_answer_tokens, purpose=prompts.MAP.name)

    # The analyses ----------------------------------------------------------------------------------------------

    def _overview(self, episode: Episode) -> Overview:
        """The episode's current chapters and key moments, which the summary is written from (or is)."""
        overview = self.overviews(episode)
        if overview is None or not overview.current or overview.transcript_rev != episode.transcript_rev:
            raise FonotecaError(
                f"episode {episode.id} ({episode.title}) has no key moments of its current transcript yet",
                "they are made after it is embedded (`fonoteca embed`, or the server in the background); "
                f"`fonoteca chapters {episode.id}` makes them now",
            )
        if not overview.moments:
            raise FonotecaError(f"episode {episode.id} ({episode.title}) has no key moments to summarise")
        return overview

    def _key_moments(self, episode: Episode) -> Analysis:
        """The embedded setup's summary: the key moments (fonoteca.llm.summary), made by fonoteca, not stored."""
        overview = self._overview(episode)
        return Analysis(
            episode_id=episode.id,
            kind="summary",
            params=KEY_MOMENTS,
            model=KEY_MOMENTS,
            prompt_version="",
            transcript_rev=overview.transcript_rev,
            result=key_moments_summary(overview),
        )

    def _summary(self, episode: Episode, words: int, focus: str | None, language: str) -> dict[str, Any]:
        """A capable model's summary from the episode's chapters and key moments, its citations checked."""
        sources = Sources.of(self._overview(episode))
        budget = self.token_budget(self._summary_tokens(words))
        chapters, moments = sources.listed()
        tokens = self.client.count_tokens(f"{chapters}\n{moments}")
        if tokens > budget:  # many chapters of a long episode: each quote shortened to fit, once
            chapters, moments = sources.listed(max(40, int(len(moments) / len(sources.moments) * budget / tokens)))
            if self.client.count_tokens(f"{chapters}\n{moments}") > budget:
                raise LLMError(
                    f"the episode's chapters and key moments do not fit a context of {self.settings.llm_context} "
                    "tokens",
                    "set FONOTECA_LLM_CONTEXT to the model's context (at least 4096 for long episodes)",
                )
        prompt = PROMPTS["summary"]
        messages = prompt.messages(
            language=language_name(language), words=words, focus=focus, chapters=chapters, moments=moments
        )
        answer = self.client.complete(messages, max_tokens=self._summary_tokens(words), purpose=prompt.name)
        checked = check_citations(answer, sources, words)
        if not checked.text:
            raise LLMError(f"the model {self.client.model_label} gave an empty summary", "nothing was stored; retry")
        return checked.result(words=words, focus=focus)

    @staticmethod
    def _summary_tokens(words: int) -> int:
        return min(640, words * 4 + 32)  # its words and its citations

    def _structured(self, kind: str, text: str, language: str = "en") -> Any:
        """The structured answer of `kind` about `text`, its words in `language` (names and labels: English)."""
        shape, max_tokens = STRUCTURED[kind]
        prompt = PROMPTS[kind]
        messages = prompt.messages(language=language_name(language), text=text)
        return self.client.structured(messages, shape, max_tokens=max_tokens, purpose=prompt.name)

    def _topics(self, text: str, language: str) -> dict[str, Any]:
        return {"topics": self._structured("topics", text, language).topics}

    def _entities(self, text: str) -> dict[str, Any]:
        return self._structured("entities", text).model_dump()

    def _sentiment(self, text: str) -> dict[str, Any]:
        return self._structured("sentiment", text).model_dump()

    def _language(self, text: str) -> tuple[dict[str, Any], str]:
        """The transcript's language and what found it: py3langid (no server needed), or the model for short texts."""
        detected = detect_text_language(text, min_words=LANGUAGE_MIN_WORDS)
        if detected:
            return {"language": detected, "method": LANGUAGE_METHOD}, LANGUAGE_METHOD
        sample = text[: 4 * self.token_budget(self._structured_room("language"))]  # ~4 chars a token: plenty
        answer = self._structured("language", sample)
        return self._by_model({"language": answer.language, "method": f"model {self.client.model_label}"})

    def _translate(self, text: str, to: str) -> str:
        # The translation comes back in the same request, so a part may fill at most half of what is left.
        budget = self.token_budget(0) // 2
        tokens = self.client.count_tokens(text)
        parts = []
        prompt = PROMPTS["translation"]
        for chunk in split_text(text, budget=budget, tokens=tokens):
            messages = prompt.messages(language=language_name(to), text=chunk)
            parts.append(self.client.complete(messages, max_tokens=budget + 32, purpose=prompt.name))
        return "\n".join(p for p in parts if p)


class ChapterTitles:
    """A capable model's title of a generated chapter, from the chapter's own text (cut to fit the context) with its
    keyness phrases as a hint: fonoteca.meaning.glance's TitleWriter. The grounding check there keeps it only when
    the chapter says its content words."""

    WORDS = 8
    TOKENS = 32
    TEXT_TOKENS = 384  # of the chapter's text read: enough to name it, and one request per chapter stays short

    def __init__(self, client: LLMClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def __call__(self, text: str, phrases: str) -> str:
        budget = max(128, min(self.TEXT_TOKENS, self.settings.llm_context - PROMPT_OVERHEAD_TOKENS - self.TOKENS))
        tokens = self.client.count_tokens(text)
        if tokens > budget:
            text = text[: int(len(text) * budget / tokens)]
        prompt = prompts.CHAPTER_TITLE
        messages = prompt.messages(words=self.WORDS, phrases=phrases, text=text)
        answer = self.client.complete(messages, max_tokens=self.TOKENS, purpose=prompt.name)
        first_line = next((line for line in answer.splitlines() if line.strip()), "")
        return " ".join(first_line.strip().strip("\"'«»“”*#").split()[: self.WORDS]).rstrip(".")


def grounded_topics(result: dict[str, Any], grounding: Grounding) -> dict[str, Any]:
    """The model's topics that the transcript says and that are more than stopwords and fillers
    (fonoteca.meaning.grounding); the others are dropped and listed under `dropped`, so what is shown is in the
    episode and about something."""
    kept, dropped = grounding.keep(result["topics"], topics=True)
    return {**result, "topics": kept, "dropped": dropped}


def grounded_entities(result: dict[str, Any], grounding: Grounding) -> dict[str, Any]:
    """The model's people, organisations and products that the transcript names; the others under `dropped`."""
    out: dict[str, Any] = {}
    dropped: dict[str, list[str]] = {}
    for key, names in result.items():
        out[key], lost = grounding.keep(names)
        if lost:
            dropped[key] = lost
    return {**out, "dropped": dropped}


def split_text(text: str, *, budget: int, tokens: int) -> list[str]:
    """Consecutive parts of `text`, each about `budget` tokens or fewer, cut at line ends (segments) where possible.

    `tokens` is the whole text's count, which gives this text's own characters per token.
    """
    chars_per_part = max(200, int(len(text) / max(1, tokens) * budget * 0.9))  # 10 % margin for uneven density
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines():
        while len(line) > chars_per_part:  # a single enormous line (a text post): cut it at a space
            cut = line.rfind(" ", 0, chars_per_part)
            cut = cut if cut > 0 else chars_per_part
            if current:
                parts.append("\n".join(current))
                current, size = [], 0
            parts.append(line[:cut])
            line = line[cut:].lstrip()
        if size + len(line) + 1 > chars_per_part and current:
            parts.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        parts.append("\n".join(current))
    return [p for p in parts if p.strip()]


@dataclass
class EpisodeAnalyses:
    """One episode's analyses that worked, by kind, and the error of each kind that failed."""

    episode: Episode
    analyses: dict[str, Analysis]
    errors: dict[str, FonotecaError]

    @property
    def models(self) -> dict[str, str]:
        """What made each analysis: a language model's name, or the language analysis' method."""
        return {kind: analysis.model for kind, analysis in self.analyses.items()}

    @property
    def model(self) -> str | None:
        """The language model(s) the results came from (what made them when no model was used: the language
        analysis' method, the key moments)."""
        made_by = set(self.models.values())
        return ", ".join(sorted(made_by - {LANGUAGE_METHOD, KEY_MOMENTS}) or sorted(made_by)) or None


@dataclass
class EpisodeTranslation:
    episode: Episode
    translation: Analysis


def analysis_targets(archive: Archive, ref: str) -> list[Episode]:
    """An episode by id (or a prefix of it), else every transcribed episode of a show."""
    try:
        return [archive.get_episode(ref)]
    except NotFound:
        pass
    try:
        show = archive.get_show(ref)
    except NotFound:
        raise NotFound(
            f"no episode or show called {ref!r}", "run `fonoteca episodes` or `fonoteca shows` to see them"
        ) from None
    episodes = archive.list_episodes(show.id, status="done")
    if not episodes:
        raise NotFound(f"show {show.title!r} has no transcribed episodes yet", "run `fonoteca sync` first")
    return episodes


Report = TypeVar("Report", EpisodeAnalyses, EpisodeTranslation)


@dataclass
class AnalysisRun(Generic[Report]):
    """The reports of the episodes analysed (or translated), in their order, and how many of the `episodes` failed:
    wholly (no report, each told to the event sink) or in part (what worked is reported, with the report's errors)."""

    reports: list[Report]
    failed: int
    episodes: int


def report_each(episodes: list[Episode], report: Callable[[Episode], Report], events: EventSink) -> AnalysisRun[Report]:
    """`report` of each episode, one after the other, with progress told to `events`. A lone episode's failure is
    raised; of several, each one that fails is told to `events` and the others go on."""
    reports: list[Report] = []
    failed = 0
    events(AnalysesStarted(len(episodes)))
    try:
        for episode in episodes:
            events(EpisodeAnalysing(episode.id, episode.title))
            try:
                made = report(episode)
            except FonotecaError as exc:
                if len(episodes) == 1:
                    raise
                failed += 1
                events(AnalysisFailed(episode.id, episode.title, str(exc)))
                continue
            if isinstance(made, EpisodeAnalyses) and made.errors:  # what worked is reported; still counts as failed
                failed += 1
            reports.append(made)
            events(EpisodeAnalysed(episode.id, episode.title))
    finally:
        events(AnalysesFinished())
    return AnalysisRun(reports, failed, len(episodes))


def current_analyses(archive: Archive, episode: Episode) -> tuple[dict[str, Analysis], list[Analysis]]:
    """What the episode page shows: the newest still-valid result of each kind, and the still-valid translations.

    Results made for an older transcript or prompt are left out: they no longer describe the episode."""
    latest: dict[str, Analysis] = {}
    translations: list[Analysis] = []
    for analysis in archive.list_analyses(episode.id):
        current = analysis.kind in PROMPTS and analysis.prompt_version == prompt_version(analysis.kind)
        if not current or analysis.transcript_rev != episode.transcript_rev:
            continue
        if analysis.kind == "translation":
            translations.append(analysis)
        elif analysis.kind not in latest or analysis.created_at > latest[analysis.kind].created_at:
            latest[analysis.kind] = analysis
    return latest, translations
