"""An episode's summary that cites what it says (issue 27).

With a capable endpoint (FONOTECA_LLM_CAPABLE) the model writes the summary from the episode's chapters (titles and
times) and key moments (numbered verbatim quotes with their times), not from the transcript, and cites them: [2] for
key moment 2, [12:30] (or (12:30)) for the chapter or key moment given at that time. Every citation is checked
against what the model was given: a number with no key moment, or a time that is no given chapter's or moment's (a
time outside the episode among them), is dropped and counted, as the grounding check drops what the transcript does
not say (fonoteca.meaning.grounding). Each citation that survives is a link to its second.

Without a capable endpoint the summary is the key moments themselves (fonoteca.meaning.moments): a small model's
free text cannot be checked against the episode, and the embedded 135M model's invents.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from fonoteca.archive import Chapter, KeyMoment, Overview
from fonoteca.llm.clean import GAP, close_gaps, limit_words
from fonoteca.search import episode_url
from fonoteca.text import format_timestamp, parse_timestamp

# Why the embedded setup's summary is the key moments, and how to get a written one: said wherever a summary is asked.
KEY_MOMENTS_NOTE = (
    "The key moments are this episode's summary: a small model's written summary cannot be checked against the "
    "episode, and the embedded one invents. For a written summary that cites them, point FONOTECA_LLM_BASE_URL at a "
    "capable model and set FONOTECA_LLM_CAPABLE=true."
)
KEY_MOMENTS = "key moments"  # what made the embedded setup's summary, where a language model's name would be

_TIME = r"\d{1,3}:\d{2}(?::\d{2})?"
_ITEM = rf"(?:{_TIME}|\d{{1,3}})"
_ITEMS_SEPARATOR = re.compile(r"\s*[,;]\s*")
# What the model may write as a citation: [2], [2, 5], [12:30], [2; 1:02:03]; a time also in parentheses, (12:30).
CITATION = re.compile(
    rf"\[\s*(?P<items>{_ITEM}(?:\s*[,;]\s*{_ITEM})*)\s*\]|\(\s*(?P<times>{_TIME}(?:\s*[,;]\s*{_TIME})*)\s*\)"
)
# One checked citation as the stored summary has it: [2] or [12:30].
MARKER = re.compile(rf"\[({_ITEM})\]")
_MARKERS_ALONE = re.compile(rf"(?:\[{_ITEM}\])+[.,;:!?…)]*")  # a word-limit token that is only citations
_UNFINISHED = re.compile(r"\s*[\[(][\d\s,;:]*$")  # a citation the answer's token limit cut: "… y [18:0"


@dataclass(frozen=True)
class Citation:
    """A checked citation: its marker in the summary's text, the second it links to, and what it cites."""

    marker: str  # "[2]" (key moment 2) or "[12:30]" (the chapter, else the key moment, given at that time)
    start: float
    url: str
    moment: int | None = None  # the key moment's number
    quote: str | None = None  # the key moment's verbatim quote
    chapter: str | None = None  # the chapter's title


@dataclass
class Sources:
    """What the model writes the summary from: the episode's chapters and its numbered key moments."""

    episode_id: str
    chapters: list[Chapter]
    moments: list[KeyMoment]

    @classmethod
    def of(cls, overview: Overview) -> Sources:
        return cls(overview.episode_id, overview.shown_chapters, overview.moments)

    def listed(self, quote_chars: int | None = None) -> tuple[str, str]:
        """(the chapters, the key moments) as the prompt lists them, each quote cut to `quote_chars` if given."""
        chapters = "\n".join(f"[{format_timestamp(c.start)}] {c.title}" for c in self.chapters) or "(none)"
        moments = "\n".join(
            f"[{n}] ({format_timestamp(m.start)}) “{_cut(m.quote, quote_chars)}”"
            for n, m in enumerate(self.moments, start=1)
        )
        return chapters, moments

    def cite(self, item: str) -> Citation | None:
        """The citation `item` ("2" or "12:30") names, or None when the model was given no such thing."""
        if ":" not in item:
            number = int(item)
            if not 1 <= number <= len(self.moments):
                return None
            moment = self.moments[number - 1]
            return self._citation(f"[{number}]", moment.start, moment=number, quote=moment.quote)
        second = parse_timestamp(item)  # as the prompt wrote it: whole seconds
        for chapter in self.chapters:
            if int(chapter.start) == second:
                return self._citation(f"[{format_timestamp(chapter.start)}]", chapter.start, chapter=chapter.title)
        for number, moment in enumerate(self.moments, start=1):
            if int(moment.start) == second:
                marker = f"[{format_timestamp(moment.start)}]"
                return self._citation(marker, moment.start, moment=number, quote=moment.quote)
        return None

    def _citation(self, marker: str, start: float, **what: Any) -> Citation:
        return Citation(marker, start, episode_url(self.episode_id, start), **what)


@dataclass
class CheckedSummary:
    """The model's summary after the check: its text with only the citations that name what was given (each as its
    marker), those citations in the order the text first makes them, and the ones dropped, as the model wrote them."""

    text: str
    citations: list[Citation]
    dropped: list[str]

    def result(self, **params: Any) -> dict[str, Any]:
        """As stored: the text, the citations (with their links), the dropped ones and the request's `params`."""
        return {"text": self.text, **params, "citations": [asdict(c) for c in self.citations], "dropped": self.dropped}


def check_citations(answer: str, sources: Sources, words: int) -> CheckedSummary:
    """The model's `answer` with each citation checked against `sources`, cut to at most `words` words (citations are
    not words). A marker that cites several things keeps those that exist ("[2, 9]" -> "[2]"); one that keeps none goes,
    with the space it leaves doubled ("según [9] y" -> "según y"), and so does one the answer ends in the middle of."""
    found: dict[str, Citation] = {}
    dropped: list[str] = []
    unfinished = _UNFINISHED.search(answer)
    if unfinished:
        dropped.append(unfinished.group(0).strip())
        answer = answer[: unfinished.start()]

    def check(match: re.Match[str]) -> str:
        kept: list[str] = []
        for item in _ITEMS_SEPARATOR.split(match["items"] or match["times"]):
            citation = sources.cite(item)
            if citation is None:
                dropped.append(f"[{item}]")
            elif citation.marker not in kept:
                found.setdefault(citation.marker, citation)
                kept.append(citation.marker)
        return "".join(kept) or GAP

    text = limit_words(close_gaps(CITATION.sub(check, answer)), words, uncounted=_MARKERS_ALONE)
    markers = dict.fromkeys(match.group(0) for match in MARKER.finditer(text))  # the word limit may cut some
    return CheckedSummary(text, [found[marker] for marker in markers if marker in found], dropped)


def summary_parts(result: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """A stored summary's text in pieces to render: (text, None) for prose, (marker, citation) for each checked
    citation, which the page, the CLI and the API show as a link to its second."""
    by_marker = {c["marker"]: c for c in result.get("citations") or []}
    text = result.get("text") or ""
    parts: list[tuple[str, dict[str, Any] | None]] = []
    done = 0
    for match in MARKER.finditer(text):
        citation = by_marker.get(match.group(0))
        if citation is None:
            continue
        parts += [(text[done : match.start()], None), (match.group(0), citation)]
        done = match.end()
    parts.append((text[done:], None))
    return [(piece, citation) for piece, citation in parts if piece]


def key_moments_summary(overview: Overview) -> dict[str, Any]:
    """The embedded setup's summary: the key moments, numbered, each a verbatim quote with its second and link, and
    the one line that says why and how to get a written one."""
    moments = [
        {"n": n, "start": m.start, "end": m.end, "quote": m.quote, "url": episode_url(overview.episode_id, m.start)}
        for n, m in enumerate(overview.moments, start=1)
    ]
    return {"text": None, "key_moments": moments, "note": KEY_MOMENTS_NOTE}


def _cut(quote: str, chars: int | None) -> str:
    if chars is None or len(quote) <= chars:
        return quote
    return quote[:chars].rsplit(" ", 1)[0] + "…"
