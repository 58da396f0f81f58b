"""Every prompt the language model is given, one object each: the analyses, the map-reduce step, translation, chat.

A stored analysis records the version of the prompts that made it, a short hash of their text, and is recomputed
once that differs: editing a prompt here is all it takes, there is no version number to remember to bump.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Prompt:
    """A system and a user message, str.format templates. `optional` holds sentences that go into the user message,
    at `{name}`, only when a value named `name` is given (a summary's focus); they are part of the prompt's text."""

    name: str  # also what the client counts its requests under (LLMClient.calls)
    system: str
    user: str
    optional: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def text(self) -> str:
        """Everything the prompt says, in one string: what its version is a hash of."""
        return json.dumps([self.system, self.user, sorted(self.optional.items())], ensure_ascii=False)

    @property
    def version(self) -> str:
        return version(self)

    def messages(self, **values: Any) -> list[dict[str, str]]:
        """The system and user messages, their templates filled with `values`."""
        sentences = {
            name: sentence.format(**values) if values.get(name) else "" for name, sentence in self.optional.items()
        }
        filled = {**values, **sentences}
        return [
            {"role": "system", "content": self.system.format(**filled)},
            {"role": "user", "content": self.user.format(**filled)},
        ]


def version(*prompts: Prompt) -> str:
    """A short hash of the prompts' text: what a result made with them is stored with."""
    text = json.dumps([p.text for p in prompts], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# -- analyses of one episode ------------------------------------------------------------------------------------------

_ANALYST = "You analyse transcripts of a show. Answer in {language}."
_TRANSCRIPT = '\n\nTranscript, delimited by triple quotes:\n"""{text}"""'

# Asked only of a capable model (FONOTECA_LLM_CAPABLE); fonoteca.llm.summary checks every citation it makes.
SUMMARY = Prompt(
    "summary",
    _ANALYST,
    "Summarise the episode in at most {words} words, using only its chapters and key moments below.{focus} Cite "
    "each statement's source in square brackets: a key moment's number, like [2], or a chapter's time, like [12:30]."
    "\n\nChapters:\n{chapters}\n\nKey moments (verbatim quotes):\n{moments}",
    MappingProxyType({"focus": " Focus on: {focus}."}),
)
TOPICS = Prompt(
    "topics",
    _ANALYST,
    "Name five different topics discussed in the transcript, each in one or two words." + _TRANSCRIPT,
)
ENTITIES = Prompt(
    "entities",
    _ANALYST,
    "List the people, the organisations and the products or brands named in the transcript, written as in the "
    "transcript. Use empty lists when there are none." + _TRANSCRIPT,
)
SENTIMENT = Prompt(
    "sentiment",
    _ANALYST,
    "What is the overall sentiment of the transcript: positive, neutral or negative? Does a speaker express anger, "
    "fury or irritation (true or false)?" + _TRANSCRIPT,
)
# Asked only when py3langid cannot tell (too short a transcript).
LANGUAGE = Prompt(
    "language", _ANALYST, "In which language is the transcript written? Give its ISO 639-1 code." + _TRANSCRIPT
)

# Rewrites a generated chapter's title (its keyness phrases) from the chapter's text; asked only of a capable model
# (FONOTECA_LLM_CAPABLE), and the title is kept only when the chapter says its content words.
CHAPTER_TITLE = Prompt(
    "chapter title",
    "You title the chapters of show transcripts. Answer with the title only, in the transcript's language.",
    "Write a title of at most {words} words for this chapter of a transcript, using only words the chapter says. Its "
    'most distinctive phrases are: {phrases}.\n\nChapter, delimited by triple quotes:\n"""{text}"""',
)

# Condenses one part of a transcript longer than the context (map-reduce); the analyses then read the parts' summaries.
MAP = Prompt(
    "map",
    "You condense show transcripts. Write in {language}.",
    "Summarise part {number} of {total} of a transcript, delimited by triple quotes, in at most {words} words. Keep "
    "the names of people, organisations and products, the topics discussed and the mood of the speakers."
    '\n\n"""{text}"""',
)

TRANSLATION = Prompt(
    "translation",
    "You are a translator. Answer with only the translation, nothing else.",
    'Translate the text delimited by triple quotes into {language}.\n\n"""{text}"""',
)

# -- asking the archive -----------------------------------------------------------------------------------------------

CHAT = Prompt(
    "chat",
    "You answer questions about an archive of podcast and stream transcripts. Use only the numbered excerpts given "
    "with the question. Cite every fact with the number of its excerpt in square brackets, like [1]. If the excerpts "
    "do not contain the answer, say that the archive does not say. Be brief. Answer in {language}.",
    "Excerpts from the archive:\n\n{excerpts}\n\nQuestion: {question}",
)
