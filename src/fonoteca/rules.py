"""Correction rules: a show's known mistakes of the transcriber and what was said ("nevaces nevados" → "bases de
datos"), applied to whole words, with case and accents folded as search folds them, so a rule written in lower case
without accents mends "Nevaces nevados" and "nevacés nevados" alike, and the replacement takes the case the mistake
was written in (a capital at a sentence's start stays one).

A line's text is settled from the words as transcribed (kept beside it once anything changes them): an edit made by
hand wins, else every rule of its show in the order they were added. Settling again from the same words gives the
same line, so removing a rule restores exactly the lines it changed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from fonoteca.text import folded_with_origin, text_span, words


@dataclass(frozen=True)
class Rule:
    """One correction of a show: `wrong` (whole words, folded when matched) becomes `right`."""

    wrong: str
    right: str
    id: int = 0
    created_at: str = ""

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        """The folded words of `wrong` in order, any punctuation or space between them; None when it has no word."""
        said = words(self.wrong)
        if not said:
            return None
        return re.compile(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in said) + r"(?!\w)")

    def apply(self, text: str) -> str:
        pattern = self.pattern
        if pattern is None:
            return text
        folded, origin = folded_with_origin(text)
        if folded.isascii() and len(folded) == len(text):
            origin = list(range(len(text)))
        pieces: list[str] = []
        done = 0
        for match in pattern.finditer(folded):
            start, end = text_span(text, origin, match.start(), match.end())
            pieces += [text[done:start], _in_case_of(text[start:end], self.right)]
            done = end
        return "".join(pieces) + text[done:] if pieces else text


def _in_case_of(found: str, right: str) -> str:
    """`right` in the case `found` was written in: all capitals stay so, a leading capital stays one."""
    letters = [c for c in found if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters) and not right.isupper():
        return right.upper()
    if letters and found.lstrip()[:1].isupper() and right[:1].islower():
        return right[:1].upper() + right[1:]
    return right


def settled(said: str, rules: Sequence[Rule], edited: str | None = None) -> str:
    """A line's text from its words as transcribed: the hand edit when there is one, else the rules in order."""
    if edited is not None:
        return edited
    for rule in rules:
        said = rule.apply(said)
    return said
