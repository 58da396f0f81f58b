"""Per-episode analyses: summary, five topics, entities, sentiment and anger, language, translation.

Each result is stored in the archive with the model's name and the prompt's version, and reused until the transcript
(episode.transcript_rev) or the prompt version changes, or the user forces it. Transcripts longer than the model's
context are condensed first (map-reduce: summarise parts, then the summaries) so a three-hour stream fits a small
local model. Answers are in the show's language unless another is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from fonoteca.archive import Analysis, Archive, Episode
from fonoteca.errors import FonotecaError, LLMError
from fonoteca.llm.clean import limit_words
from fonoteca.llm.client import LLMClient
from fonoteca.settings import Settings

# Bump a kind's version whenever its prompt or result shape changes: stored results of older versions are recomputed.
PROMPT_VERSIONS = {
    "summary": "1",
    "topics": "1",
    "entities": "1",
    "sentiment": "1",
    "language": "1",
    "translation": "1",
}
KINDS = ("summary", "topics", "entities", "sentiment", "language")

LANGUAGE_NAMES = {
    "es": "Spanish",
    "en": "English",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "ca": "Catalan",
    "gl": "Galician",
    "eu": "Basque",
    "nl": "Dutch",
    "ja": "Japanese",
    "zh": "Chinese",
    "ru": "Russian",
}

PROMPT_OVERHEAD_TOKENS = 200  # instructions, delimiters and chat template around the transcript


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


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


# -- the analyser -----------------------------------------------------------------------------------------------------


class Analyzer:
    """Runs and stores analyses of episodes against one endpoint."""

    def __init__(self, archive: Archive, settings: Settings, client: LLMClient | None = None) -> None:
        self.archive = archive
        self.settings = settings
        self.client = client or LLMClient(settings)

    # Public entry points ---------------------------------------------------------------------------------------

    def analyze(
        self,
        episode: Episode,
        what: Sequence[str] = KINDS,
        *,
        words: int = 30,
        focus: str | None = None,
        language: str | None = None,
        force: bool = False,
    ) -> dict[str, Analysis]:
        """The requested analyses of one episode, from the archive when still valid, else computed and stored."""
        unknown = [k for k in what if k not in KINDS]
        if unknown:
            raise FonotecaError(f"unknown analysis {unknown[0]!r}", f"choose among {', '.join(KINDS)} (or translation)")
        if words < 1:
            raise FonotecaError("--words must be at least 1", "e.g. --words 30")
        text = self._transcript(episode)
        target = language or self._answer_language(episode, text)
        condensed: list[str] = []  # computed at most once, only if some analysis needs the whole text

        def whole_text() -> str:
            if not condensed:
                condensed.append(self.fit(text, language=target))
            return condensed[0]

        focus = (focus or "").strip() or None
        jobs: dict[str, tuple[str, Callable[[], Any]]] = {
            "summary": (
                f"words={words};focus={focus or ''};lang={target}",
                lambda: self._summary(whole_text(), words, focus, target),
            ),
            "topics": (f"lang={target}", lambda: self._topics(whole_text(), target)),
            "entities": ("", lambda: self._entities(whole_text())),
            "sentiment": ("", lambda: self._sentiment(whole_text())),
            "language": ("", lambda: self._language(text)),
        }
        return {kind: self._stored_or_run(episode, kind, *jobs[kind], force=force) for kind in what}

    def translate(
        self,
        episode: Episode,
        to: str,
        *,
        start: float | None = None,
        end: float | None = None,
        force: bool = False,
    ) -> Analysis:
        """The episode, or the passage between `start` and `end` seconds, in language `to`."""
        to = to.strip().lower()
        if not to:
            raise FonotecaError("no target language for the translation", "pass one with --to, e.g. --to en")
        segments = self.archive.segments(episode.id)
        if start is not None or end is not None:
            low, high = start or 0.0, end if end is not None else float("inf")
            segments = [s for s in segments if s.end > low and s.start < high]
            if not segments:
                raise FonotecaError(
                    f"episode {episode.id} has no transcript between {low:g} s and {high:g} s",
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
            episode, "translation", params, lambda: {"to": to, **span, "text": self._translate(text, to)}, force=force
        )

    # Storage ---------------------------------------------------------------------------------------------------

    def _stored_or_run(
        self, episode: Episode, kind: str, params: str, run: Callable[[], Any], *, force: bool
    ) -> Analysis:
        stored = self.archive.get_analysis(episode.id, kind, params)
        if (
            stored is not None
            and not force
            and stored.transcript_rev == episode.transcript_rev
            and stored.prompt_version == PROMPT_VERSIONS[kind]
        ):
            return stored
        result = run()  # raises on an unusable answer: nothing is stored then
        analysis = Analysis(
            episode_id=episode.id,
            kind=kind,
            params=params,
            model=self.client.model_label,
            prompt_version=PROMPT_VERSIONS[kind],
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
            "run `fonoteca sync` (or `fonoteca transcribe`) first",
        )

    def _answer_language(self, episode: Episode, text: str) -> str:
        if episode.language:
            return episode.language
        show = self.archive.get_show(episode.show_id)
        return show.language or detect_language(text) or "en"

    # Fitting long transcripts into the context (map-reduce) ------------------------------------------------------

    def token_budget(self, answer_tokens: int) -> int:
        """Tokens of transcript one request can carry next to its instructions and its answer."""
        budget = self.settings.llm_context - PROMPT_OVERHEAD_TOKENS - answer_tokens
        if budget < 64:
            raise LLMError(
                f"a context of {self.settings.llm_context} tokens is too small to analyse anything",
                "set FONOTECA_LLM_CONTEXT to the model's context (at least 1024)",
            )
        return budget

    def fit(self, text: str, *, language: str, answer_tokens: int = 512) -> str:
        """`text` itself when it fits in one request, else its summarised parts, summarised again until they fit."""
        budget = self.token_budget(min(answer_tokens, self.settings.llm_context // 4))
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
        most = self.map_answer_tokens // 2
        return self.client.complete(
            [
                {"role": "system", "content": f"You condense show transcripts. Write in {language_name(language)}."},
                {
                    "role": "user",
                    "content": f"Summarise part {number} of {total} of a transcript, delimited by triple quotes, in at "
                    f"most {most} words. Keep the names of people, organisations and products, the topics discussed "
                    f'and the mood of the speakers.\n\n"""{chunk}"""',
                },
            ],
            max_tokens=self.map_answer_tokens,
            purpose="map",
        )

    # The analyses ----------------------------------------------------------------------------------------------

    @staticmethod
    def _messages(language: str, instruction: str, text: str) -> list[dict[str, str]]:
        return [
            {
                "role": "system",
                "content": f"You analyse transcripts of a show. Answer in {language_name(language)}.",
            },
            {"role": "user", "content": f'{instruction}\n\nTranscript, delimited by triple quotes:\n"""{text}"""'},
        ]

    def _summary(self, text: str, words: int, focus: str | None, language: str) -> dict[str, Any]:
        instruction = f"Summarise the transcript in at most {words} words."
        if focus:
            instruction += f" Focus on: {focus}."
        answer = self.client.complete(
            self._messages(language, instruction, text), max_tokens=min(512, words * 3 + 32), purpose="summary"
        )
        summary = limit_words(answer, words)
        if not summary:
            raise LLMError(f"the model {self.client.model_label} gave an empty summary", "nothing was stored; retry")
        return {"text": summary, "words": words, "focus": focus}

    def _topics(self, text: str, language: str) -> dict[str, Any]:
        answer = self.client.structured(
            self._messages(
                language, "Name five different topics discussed in the transcript, each in one or two words.", text
            ),
            Topics,
            max_tokens=120,
            purpose="topics",
        )
        return {"topics": answer.topics}

    def _entities(self, text: str) -> dict[str, Any]:
        answer = self.client.structured(
            self._messages(
                "en",
                "List the people, the organisations and the products or brands named in the transcript, written as "
                "in the transcript. Use empty lists when there are none.",
                text,
            ),
            Entities,
            max_tokens=300,
            purpose="entities",
        )
        return answer.model_dump()

    def _sentiment(self, text: str) -> dict[str, Any]:
        answer = self.client.structured(
            self._messages(
                "en",
                "What is the overall sentiment of the transcript: positive, neutral or negative? Does a speaker "
                "express anger, fury or irritation (true or false)?",
                text,
            ),
            Sentiment,
            max_tokens=40,
            purpose="sentiment",
        )
        return answer.model_dump()

    def _language(self, text: str) -> dict[str, Any]:
        detected = detect_language(text)
        if detected:
            return {"language": detected, "method": "py3langid"}
        sample = text[: 4 * self.token_budget(40)]  # ~4 chars per token is plenty for a language guess
        answer = self.client.structured(
            self._messages("en", "In which language is the transcript written? Give its ISO 639-1 code.", sample),
            LanguageAnswer,
            max_tokens=20,
            purpose="language",
        )
        return {"language": answer.language, "method": f"model {self.client.model_label}"}

    def _translate(self, text: str, to: str) -> str:
        # The translation comes back in the same request, so a part may fill at most half of what is left.
        budget = self.token_budget(0) // 2
        tokens = self.client.count_tokens(text)
        parts = []
        for chunk in split_text(text, budget=budget, tokens=tokens):
            parts.append(
                self.client.complete(
                    [
                        {
                            "role": "system",
                            "content": "You are a translator. Answer with only the translation, nothing else.",
                        },
                        {
                            "role": "user",
                            "content": f"Translate the text delimited by triple quotes into {language_name(to)}."
                            f'\n\n"""{chunk}"""',
                        },
                    ],
                    max_tokens=budget + 32,
                    purpose="translate",
                )
            )
        return "\n".join(p for p in parts if p)


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


def detect_language(text: str) -> str | None:
    """py3langid on the transcript itself: reliable from a few dozen words, which a small model is not."""
    if len(text.split()) < 20:
        return None
    import py3langid

    code, _score = py3langid.classify(text[:20_000])
    return code


def episode_report(episode: Episode, analyses: dict[str, Analysis], model: str) -> dict[str, Any]:
    """One episode's analyses as `fonoteca analyze --json` prints them."""

    def result(kind: str) -> Any:
        return analyses[kind].result if kind in analyses else None

    sentiment = result("sentiment") or {}
    return {
        "episode_id": episode.id,
        "title": episode.title,
        "summary": (result("summary") or {}).get("text"),
        "topics": (result("topics") or {}).get("topics"),
        "entities": result("entities"),
        "sentiment": sentiment.get("sentiment"),
        "anger": sentiment.get("anger"),
        "language": (result("language") or {}).get("language"),
        "model": next((a.model for a in analyses.values()), model),
    }


def current_analyses(archive: Archive, episode: Episode) -> tuple[dict[str, Analysis], list[Analysis]]:
    """What the episode page shows: the newest still-valid result of each kind, and the still-valid translations.

    Results made for an older transcript or prompt are left out: they no longer describe the episode."""
    latest: dict[str, Analysis] = {}
    translations: list[Analysis] = []
    for analysis in archive.list_analyses(episode.id):
        if analysis.transcript_rev != episode.transcript_rev or analysis.prompt_version != PROMPT_VERSIONS.get(
            analysis.kind
        ):
            continue
        if analysis.kind == "translation":
            translations.append(analysis)
        elif analysis.kind not in latest or analysis.created_at > latest[analysis.kind].created_at:
            latest[analysis.kind] = analysis
    return latest, translations
