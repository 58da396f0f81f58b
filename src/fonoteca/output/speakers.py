"""Speakers as a reader sees them: each one's colour on the pages, and how long each one speaks.

A speaker's colour comes from their label (the same name has the same colour on every page and episode), from a
palette whose every colour is readable as text on the pages' backgrounds (WCAG AA, 4.5:1: tests/test_speakers_search
checks it). Where two speakers of one episode would share a colour, the one who speaks less takes the next free one.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# Tailwind's 700/800 shades of ten hues: distinct from one another and dark enough for text on the light pages.
SPEAKER_COLOURS = (
    "#1d4ed8", "#b91c1c", "#047857", "#7e22ce", "#b45309", "#0e7490", "#be185d", "#4d7c0f", "#4338ca", "#9a3412",
)  # fmt: skip


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
