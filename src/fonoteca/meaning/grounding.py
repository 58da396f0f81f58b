"""The grounding check: what is shown about an episode must be in it.

An item (a topic, an entity, a chapter title) is grounded when every content word it has occurs in the text it is
about, compared folded (case and accents) and allowing inflection (the same Snowball stem: "contenedores" is grounded
by "contenedor"). A topic must also have a content word: "Hay que" is said, but about nothing. Items that are not
are dropped and counted, whoever wrote them: fonoteca's own keyness (which cannot fail it, and the check proves it)
or a language model, the embedded 135M one included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from fonoteca.meaning.keyness import is_content, stopwords
from fonoteca.text import words

_STEMMERS = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english", "es": "spanish",
    "eu": "basque", "fi": "finnish", "fr": "french", "hu": "hungarian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "nl": "dutch", "no": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sv": "swedish", "ta": "tamil", "tr": "turkish",
}  # fmt: skip
TITLE_SEPARATOR = " · "  # between the phrases of a generated chapter title; each is checked on its own


@lru_cache(maxsize=8)
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(_STEMMERS.get(language, "english"))


def _languages(language: str | None) -> list[str]:
    code = (language or "en").split("-")[0].lower()
    return list(dict.fromkeys([code if code in _STEMMERS else "en", "en", "es"]))


@dataclass
class Grounding:
    """The words of a text, folded and stemmed, to check items against."""

    words: frozenset[str]
    stems: frozenset[str]
    language: str | None = None

    @classmethod
    def of(cls, text: str, language: str | None = None) -> Grounding:
        said = frozenset(words(text))
        stems = frozenset(stem for code in _languages(language) for stem in _stemmer(code).stemWords(sorted(said)))
        return cls(said, stems, language)

    def grounded(self, item: str) -> bool:
        stop = stopwords(self.language)
        parts = [p for p in item.split(TITLE_SEPARATOR.strip()) if p.strip()] or [item]
        for part in parts:
            content = [w for w in words(part) if w not in stop] or words(part)
            if not content:
                return False
            for word in content:
                if word in self.words:
                    continue
                if not any(_stemmer(code).stemWord(word) in self.stems for code in _languages(self.language)):
                    return False
        return True

    def keep(self, items: Iterable[str], *, topics: bool = False) -> tuple[list[str], list[str]]:
        """(grounded items, dropped items), each in order. `topics`: an item that is all stopwords and fillers ("Hay
        que", "Ahora que": said, but about nothing) is dropped too."""
        stop = stopwords(self.language)
        kept, dropped = [], []
        for item in items:
            substantive = not topics or any(is_content(w, stop) for w in words(item))
            (kept if substantive and self.grounded(item) else dropped).append(item)
        return kept, dropped
