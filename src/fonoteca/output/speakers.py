"""Speakers as a reader sees them: each one's colour on the pages and in the graph, and how long each one speaks.

A speaker's colour comes from their label (the same name has the same colour on every page and episode), from a
palette whose every colour is readable as text on the pages' backgrounds (WCAG AA, 4.5:1: tests/test_speakers_search
checks it). Where two speakers of one episode would share a colour, the one who speaks less takes the next free one.
The graph's lines of a split by speaker take the colours the show's page gives its speakers (coloured_lines).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fonoteca.search.trends import TrendPoint

# Tailwind's 700/800 shades of ten hues: distinct from one another and dark enough for text on the light pages.
SPEAKER_COLOURS = (
    "#1d4ed8", "#b91c1c", "#047857", "#7e22ce", "#b45309", "#0e7490", "#be185d", "#4d7c0f", "#4338ca", "#9a3412",
)  # fmt: skip
OTHERS_COLOUR = "#4b5563"  # the graph's line of everyone else: a grey no speaker has (Tailwind's gray-600)


@dataclass(frozen=True)
class SpeakerTime:
    """A speaker's share of an episode or a show: their lines' seconds and the episodes they speak in."""

    name: str
    seconds: float
    episodes: int
    share: float  # of the seconds every named speaker speaks, 0–1
    colour: str


def speaker_colour(label: str) -> str:
    """The label's own colour (crc32 of its case-folded text: the same on every page and in every process)."""
    return SPEAKER_COLOURS[zlib.crc32(label.strip().casefold().encode()) % len(SPEAKER_COLOURS)]


def speaker_colours(labels: Sequence[str]) -> dict[str, str]:
    """Each label's colour, distinct from the others' while the palette lasts: `labels` most speaking first, so the
    main voices keep their own colours and a clash moves the lesser one to the next free colour."""
    taken: dict[str, str] = {}
    for label in labels:
        colour = speaker_colour(label)
        if colour in taken.values() and len(taken) < len(SPEAKER_COLOURS):
            start = SPEAKER_COLOURS.index(colour)
            free = (SPEAKER_COLOURS[(start + n) % len(SPEAKER_COLOURS)] for n in range(1, len(SPEAKER_COLOURS)))
            colour = next(c for c in free if c not in taken.values())
        taken[label] = colour
    return taken


def speaking_times(rows: Sequence[tuple[str, float, int]]) -> list[SpeakerTime]:
    """Archive.speaking_time's rows (most speaking first) with each speaker's share and colour."""
    total = sum(seconds for _name, seconds, _n in rows) or 1.0
    colours = speaker_colours([name for name, _seconds, _n in rows])
    return [SpeakerTime(name, seconds, n, seconds / total, colours[name]) for name, seconds, n in rows]


def coloured_lines(points: Sequence[TrendPoint], speakers: Sequence[str]) -> None:
    """Give the lines of a split by speaker their speakers' colours, as the pages give them: `speakers` are the
    scope's speakers most speaking first (Fonoteca.speaking_time, which the show's page colours from), so a speaker's
    line has the colour of their name on that page; the line of everyone else is grey."""
    drawn = [p.speaker for p in points if p.split == "speaker" and p.speaker]
    colours = speaker_colours(list(dict.fromkeys([*speakers, *drawn])))
    for point in points:
        if point.split == "speaker":
            point.colour = colours[point.speaker] if point.speaker else OTHERS_COLOUR
