"""The query language a user can guess, read leniently: it never raises.

    words            all must match            "exact phrase"   in this order
    prefix*          words starting so         a OR b           either
    -word, -"a b"    must not match

Anything else (unbalanced quotes, lone operators, `:` `(` `^` `~` and friends) is read as plain words.

What the query asks for (`intent`) is read from the same text: quotes, exclusions and prefixes ask for words as they
were typed; a question or a long sentence asks for what it means; a few plain words ask for themselves first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fonoteca.text import words

_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')


@dataclass
class Clause:
    words: list[str]  # folded
    prefix: bool = False  # last word is a prefix

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1


@dataclass
class ParsedQuery:
    must: list[list[Clause]] = field(default_factory=list)  # each inner list: alternatives joined by OR
    must_not: list[Clause] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.must and not self.must_not

    def positive_clauses(self) -> list[Clause]:
        return [clause for group in self.must for clause in group]


def _balanced(query: str) -> str:
    if query.count('"') % 2:
        return query[::-1].replace('"', "", 1)[::-1]  # drop the unbalanced last quote
    return query


def parse(query: str) -> ParsedQuery:
    query = _balanced(query)
    parsed = ParsedQuery()
    pending_or = False
    for match in _TOKEN.finditer(query):
        negate, phrase, bare = match.group(1) == "-", match.group(2), match.group(3)
        if bare is not None:
            if bare == "OR":
                pending_or = bool(parsed.must)
                continue
            negate = bare.startswith("-") and len(bare) > 1
            text = bare[1:] if negate else bare
            prefix = text.endswith("*") and len(words(text)) == 1
            clause = Clause(words(text), prefix=prefix)
        else:
            clause = Clause(words(phrase or ""))
        if not clause.words:
            continue
        if negate:
            parsed.must_not.append(clause)
        elif pending_or:
            parsed.must[-1].append(clause)
        else:
            parsed.must.append([clause])
        pending_or = False
    return parsed


# A query this long that uses no syntax reads as a sentence someone said or wrote, not as keywords: the labelled
# questions of bench/retrieval.py run from 6 to 21 words, a keyword query of the shared corpora's phrases 1 to 4.
SENTENCE_WORDS = 6
# First words of a question without its question mark (folded: "qué" is "que"); "por que" is checked as a pair.
_QUESTION_WORDS = frozenset(
    ("what", "how", "why", "when", "who", "whom", "whose", "where", "which")
    + ("que", "como", "cuando", "quien", "quienes", "donde", "cual", "cuales", "cuanto", "cuanta", "cuantos", "cuantas")
)


@dataclass(frozen=True)
class Intent:
    """What a query asks for. `literal`: passages that say what was typed come before any found by meaning alone;
    otherwise both rank together. `why`: the reason, in words for the person who typed it."""

    literal: bool
    why: str


def intent(query: str) -> Intent:
    """Quotes, `-word` and `prefix*` ask for words; a question or a sentence of SENTENCE_WORDS words or more asks for
    its meaning; a few plain words ask for themselves first, then for what is close in meaning."""
    query = _balanced(query)
    parsed = parse(query)
    quoted = [phrase for negate, phrase, _bare in _TOKEN.findall(query) if not negate and words(phrase)]
    if quoted:
        return Intent(True, f'you quoted "{quoted[0]}", so the passages that say it come first')
    if parsed.must_not:
        return Intent(True, f"you excluded -{' '.join(parsed.must_not[0].words)}, so words are matched as typed")
    prefixes = [c.words[0] for c in parsed.positive_clauses() if c.prefix]
    if prefixes:
        return Intent(True, f"you asked for words starting with {prefixes[0]}*, so those words come first")
    said = words(query)
    if "?" in query or "¿" in query or (said and said[0] in _QUESTION_WORDS) or said[:2] == ["por", "que"]:
        return Intent(False, "it reads as a question, so passages close to what it means rank with those that say it")
    if len(said) >= SENTENCE_WORDS:
        return Intent(False, "it reads as a sentence, so passages close to what it means rank with those that say it")
    return Intent(
        True, "passages that say these words come first (in this order before apart), then passages close in meaning"
    )


def in_order(query: str) -> str | None:
    """Two or more plain words as one quoted phrase (what they say in the order typed), else None."""
    parsed = parse(query)
    if parsed.must_not or len(parsed.must) < 2:
        return None
    if any(len(group) > 1 or group[0].prefix or group[0].is_phrase for group in parsed.must):
        return None
    return '"' + " ".join(group[0].words[0] for group in parsed.must) + '"'
