"""An episode's segments merged into passages of about 30–60 seconds of speech: the unit that is embedded and found
by meaning. A single Whisper segment is too short to carry what was meant; a whole episode says too many things."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fonoteca.archive import Segment

MIN_SECONDS = 30.0  # a passage closes once it is this long
MAX_SECONDS = 60.0  # a segment that would take it past this starts the next one
# Text episodes (paragraphs without times) and fast speech close a passage by size instead: e5 reads 512 tokens.
MAX_CHARS = 1200


@dataclass(frozen=True)
class Passage:
    episode_id: str
    start: float
    end: float
    text: str
    first_idx: int  # the segments it is made of, by their idx
    last_idx: int


def passages(segments: Sequence[Segment]) -> list[Passage]:
    """Consecutive segments (one episode's, in order) merged into passages; every segment is in exactly one."""
    out: list[Passage] = []
    group: list[Segment] = []
    chars = 0

    def close() -> None:
        nonlocal chars
        if group:
            text = " ".join(s.text.strip() for s in group if s.text.strip())
            first, last = group[0], group[-1]
            out.append(Passage(first.episode_id, first.start, last.end, text, first.idx, last.idx))
            group.clear()
            chars = 0

    for segment in segments:
        if group and (segment.end - group[0].start > MAX_SECONDS or chars + len(segment.text) > MAX_CHARS):
            close()
        group.append(segment)
        chars += len(segment.text) + 1
        if segment.end - group[0].start >= MIN_SECONDS:
            close()
    close()
    return out
