"""The query language a user can guess, read leniently: it never raises.

    words            all must match            "exact phrase"   in this order
    prefix*          words starting so         a OR b           either
    -word, -"a b"    must not match

Anything else (unbalanced quotes, lone operators, `:` `(` `^` `~` and friends) is read as plain words.
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


def parse(query: str) -> ParsedQuery:
    if query.count('"') % 2:
        query = query[::-1].replace('"', "", 1)[::-1]  # drop the unbalanced last quote
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
