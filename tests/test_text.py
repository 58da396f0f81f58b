"""The one definition of a word (fonoteca.text), which the index, queries, snippets and trends all share."""

from __future__ import annotations

import random
import unicodedata

import pytest

from fonoteca.text import fold, word_spans, words

# Code point ranges mixed into random text: ASCII, Latin accents, bare combining marks, Greek, Cyrillic, Devanagari,
# Arabic, Latin Extended Additional, punctuation and letterlike symbols, ligatures, kana, CJK, full-width forms.
SCRIPTS = [(0x20, 0x7F), (0xA0, 0x250), (0x300, 0x370), (0x370, 0x400), (0x400, 0x500), (0x900, 0x980),
           (0x600, 0x700), (0x1E00, 0x1F00), (0x2000, 0x2200), (0xFB00, 0xFB10), (0x3040, 0x3100), (0x4E00, 0x4E50),
           (0xFF00, 0xFF60)]  # fmt: skip


def _reference_fold(text: str) -> str:
    """What fold() means, written the slow and obvious way: lower-case, NFKD, no combining marks."""
    stripped = "".join(ch for ch in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(ch))
    special = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ς": "σ"}
    return "".join(special.get(ch, ch) for ch in stripped)


def _random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for n in range(count):
        scripts = SCRIPTS[:3] if n % 2 else SCRIPTS  # half of them Latin-only: the fast paths
        texts.append("".join(chr(rng.randrange(*rng.choice(scripts))) for _ in range(rng.randrange(1, 16))))
    return texts


@pytest.mark.parametrize("text", ["Información", "INFORMACIÓN", "informacio\u0301n", "Ñandú", "ﬁnal", "Straße"])
def test_fold_lowercases_and_strips_accents_of_composed_and_decomposed_text(text: str) -> None:
    assert fold(text) == _reference_fold(text)
    assert fold("Información") == fold("informacio\u0301n") == "informacion"


def test_fold_agrees_with_its_reference_on_random_text_of_many_scripts() -> None:
    for text in _random_texts(20_000, seed=1):
        assert fold(text) == _reference_fold(text), repr(text)


def test_word_spans_locate_exactly_the_words_of_words_on_random_text() -> None:
    for text in _random_texts(20_000, seed=2):
        spans = word_spans(text)
        assert [word for _start, _end, word in spans] == words(text), repr(text)
        for start, end, word in spans:  # one character may hold more than one word: "¾" folds to "3⁄4"
            assert word in words(text[start:end]), repr(text)


def test_a_word_never_matches_inside_another() -> None:
    assert words("Los medios hablan de IA, de la IA.") == ["los", "medios", "hablan", "de", "ia", "de", "la", "ia"]
    assert [text for text in ("media", "IA") if "ia" in words(text)] == ["IA"]


def _reference_words(folded: str) -> list[str]:
    """The runs of letters, digits and combining marks of folded text, found one character at a time."""
    runs, run = [], ""
    for ch in folded:
        if ch.isalnum() or unicodedata.category(ch).startswith("M"):
            run += ch
        elif run:
            runs, run = [*runs, run], ""
    return [*runs, run] if run else runs


def test_words_are_those_of_the_folded_text_on_random_text_with_spanish_punctuation() -> None:
    """words() takes a shortcut for Latin text with ¿ ¡ « » — “ ” …: it cuts exactly the words of the whole folded
    text, as the pattern of every script does."""
    rng = random.Random(3)
    for text in _random_texts(20_000, seed=4):
        mixed = "".join(ch + rng.choice("¿¡«»‹›‘’‚“”„–—…•") if rng.random() < 0.2 else ch for ch in text)
        assert words(mixed) == _reference_words(_reference_fold(mixed)), repr(mixed)
    assert words("¿Qué pasó?—dijo «él»… ¡Sí!") == ["que", "paso", "dijo", "el", "si"]
