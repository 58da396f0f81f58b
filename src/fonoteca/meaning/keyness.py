"""What a stretch of talk says distinctively: its words and two-word phrases ranked by keyness, Dunning's
log-likelihood (G2) of their count in it against a reference (the rest of the episode, the rest of the archive).

Only content words count: stopwords-iso's list of the episode's language (and of Spanish and English, which podcasts
mix), plus the fillers of speech those lists lack. A phrase is two adjacent content words said with nothing but space
between them, and a term is shown as it was said (its most frequent spelling in the transcript), so every topic and
title is text the transcript contains: the grounding check (fonoteca.meaning.grounding) proves it again.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import stopwordsiso

from fonoteca.archive import Segment
from fonoteca.text import fold, word_spans

# Spoken fillers and talk about the talk that stopwords-iso does not list; folded.
_FILLER_WORDS = """yeah yep yup okay ok gonna wanna gotta kinda sorta um uh uhm hmm mm mhm ah oh eh huh wow cool awesome
    stuff thing things lot lots guess mean sure actually basically literally totally pretty maybe probably
    episode episodes show podcast today week thank thanks welcome people folks guys talk talking
    digamos vale tipo osea eh este bueno pues verdad claro mira oye fijate vez veces cosa cosas gente
    episodio episodios programa podcast hoy gracias bienvenidos hablar hablando dice dijo digo decir"""
FILLERS = frozenset(_FILLER_WORDS.split())
MIN_LENGTH = 3  # shorter words ("IA" aside, which stopwords would not list anyway) are rarely a topic
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=16)
def stopwords(language: str | None) -> frozenset[str]:
    """Folded stopwords of the language, of Spanish and English, and the fillers."""
    found: set[str] = set(FILLERS)
    for code in {"es", "en", (language or "en").split("-")[0].lower()}:
        if stopwordsiso.has_lang(code):
            found |= {fold(w) for w in stopwordsiso.stopwords(code)}
    return frozenset(found)


def is_content(word: str, stop: frozenset[str]) -> bool:
    return len(word) >= MIN_LENGTH and not word.isdigit() and word not in stop and "_" not in word


@dataclass
class Counts:
    """Content words and two-word phrases (folded; a phrase is "a_b", as the archive counts pairs) of some segments,
    with how each was said, and the number of words."""

    terms: Counter[str] = field(default_factory=Counter)
    said: dict[str, Counter[str]] = field(default_factory=dict)
    words: int = 0

    def add(self, other: Counts) -> None:
        self.terms.update(other.terms)
        for term, spellings in other.said.items():
            self.said.setdefault(term, Counter()).update(spellings)
        self.words += other.words

    def spelling(self, term: str) -> str:
        """The term as it was said most often (ties: the first said)."""
        return self.said[term].most_common(1)[0][0]


def count(segments: Iterable[Segment], stop: frozenset[str]) -> Counts:
    out = Counts()
    for segment in segments:
        text = segment.text
        spans = word_spans(text)
        out.words += len(spans)
        for i, (start, end, word) in enumerate(spans):
            if not is_content(word, stop):
                continue
            out.terms[word] += 1
            out.said.setdefault(word, Counter())[text[start:end]] += 1
            if i + 1 < len(spans):
                next_start, next_end, next_word = spans[i + 1]
                if is_content(next_word, stop) and _SPACE.fullmatch(text[end:next_start]):
                    pair = f"{word}_{next_word}"
                    out.terms[pair] += 1
                    out.said.setdefault(pair, Counter())[text[start:next_end]] += 1
    return out


def log_likelihood(a: int, b: int, c: int, d: int) -> float:
    """G2 of a term said `a` times in `c` words against `b` times in `d` words of the reference; negative when it is
    said less often than in the reference (not distinctive of it)."""
    if a == 0 or c == 0:
        return 0.0
    expected_a = c * (a + b) / (c + d)
    g2 = a * math.log(a / expected_a)
    if b:
        expected_b = d * (a + b) / (c + d)
        g2 += b * math.log(b / expected_b)
    g2 *= 2
    return g2 if d == 0 or a / c > b / d else -g2


@dataclass(frozen=True)
class Key:
    term: str  # folded ("a_b" for a phrase)
    said: str  # as said
    count: int
    score: float


def key_terms(
    target: Counts,
    reference: Mapping[str, int],
    reference_words: int,
    *,
    least: int,
    most: int,
) -> list[Key]:
    """The target's `most` most distinctive terms said at least `least` times, best first. A phrase and a word of it
    are not both kept: the phrase when it is said about as often as the word (it says more), else the word."""
    scored = []
    for term, n in target.terms.items():
        if n < least:
            continue
        score = log_likelihood(n, reference.get(term, 0), target.words, reference_words)
        if reference_words < target.words:  # no archive to compare with yet: what it says most often
            score = n * (2.0 if "_" in term else 1.0)
        if score > 0:
            scored.append(Key(term, target.spelling(term), n, round(score, 2)))
    scored.sort(key=lambda k: (-k.score, k.term))
    chosen: list[Key] = []
    for key in scored:
        parts = set(key.term.split("_"))
        clashes = [c for c in chosen if parts & set(c.term.split("_"))]
        if not clashes:
            chosen.append(key)
        elif (
            "_" in key.term
            and all("_" not in c.term for c in clashes)
            and key.count * 2 >= max(c.count for c in clashes)  # the phrase carries the words it contains
        ):
            at = chosen.index(clashes[0])
            chosen = [c for c in chosen if c not in clashes]
            chosen.insert(at, key)
        if len(chosen) == most:
            break
    return chosen


def distinct_spellings(keys: Sequence[Key]) -> list[Key]:
    """Keys whose shown text differs once folded (two spellings of one name are one topic)."""
    seen: set[str] = set()
    out = []
    for key in keys:
        if fold(key.said) not in seen:
            seen.add(fold(key.said))
            out.append(key)
    return out
