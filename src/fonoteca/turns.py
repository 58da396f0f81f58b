"""Speaker turns laid over a transcript's timed words (pure functions, no archive): which voice says each segment, and
a segment that spans a change of speaker split at the word where it changes.

Whisper's word times and the turns' edges each drift by a fraction of a second, so a word goes to the voice whose turns
overlap it most, a word no turn covers (a breath between turns) stays with the voice before it, a line no turn covers
goes to the nearest turn's voice, and a change that lasts one short word is taken for that drift, not a new speaker. The
split parts keep their words, their times and the segment's `said` where nothing needs to change; a split part's text is
its own words."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import replace

from fonoteca.archive.models import Segment, SpeakerTurn, Word

# A run of words given to another voice inside a segment is a speaker change only when it lasts longer than this or
# has more than one word: one short word is within the drift of Whisper's word times and the turns' edges.
SHORTEST_CHANGE_S = 0.5


class TurnIndex:
    """Turns sorted by start, to ask which voice speaks most over a span (a long episode has thousands of turns)."""

    def __init__(self, turns: Sequence[SpeakerTurn]) -> None:
        self.turns = sorted(turns, key=lambda t: (t.start, t.end))
        self.starts = [t.start for t in self.turns]
        # The longest turn bounds how far back a turn overlapping a span can start.
        self.longest = max((t.end - t.start for t in self.turns), default=0.0)

    def number_at(self, start: float, end: float) -> int | None:
        """The voice whose turns overlap [start, end] most; for a point (start == end), the voice speaking then."""
        overlap: dict[int, float] = {}
        first = bisect_right(self.starts, start - self.longest)
        last = bisect_right(self.starts, end)
        for turn in self.turns[first:last]:
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0 or (shared == 0 and start == end and turn.start <= start <= turn.end):
                overlap[turn.number] = overlap.get(turn.number, 0.0) + shared
        if not overlap:
            return None
        return max(overlap, key=lambda number: (overlap[number], -number))

    def speaker_of(self, start: float, end: float) -> int | None:
        """`number_at`, else the voice of the nearest turn: a line Whisper heard in a pause the turns leave out was
        said by someone, most likely whoever spoke just before or after (None only without turns)."""
        number = self.number_at(start, end)
        if number is not None or not self.turns:
            return number
        i = bisect_right(self.starts, start)
        near = self.turns[max(0, i - 3) : i + 2]
        return min(near, key=lambda t: (max(t.start - end, start - t.end, 0.0), t.number)).number


def split_at_turns(segments: Sequence[Segment], turns: Sequence[SpeakerTurn]) -> list[tuple[Segment, int | None]]:
    """Each segment with the voice that says it; a segment whose words change voice is split at the word where the
    voice changes, into parts that each have one voice. A segment without word times is given the voice that
    overlaps it most and is never split."""
    index = TurnIndex(turns)
    out: list[tuple[Segment, int | None]] = []
    for segment in segments:
        if not segment.words:
            out.append((segment, index.speaker_of(segment.start, segment.end)))
            continue
        runs = _runs(segment.words, index, index.speaker_of(segment.start, segment.end))
        if len(runs) == 1:
            out.append((segment, runs[0][0]))
            continue
        for position, (number, words) in enumerate(runs):
            first, last = position == 0, position == len(runs) - 1
            part = replace(
                segment,
                start=segment.start if first else words[0][0],
                end=segment.end if last else words[-1][1],
                text="".join(w[2] for w in words).strip(),
                words=list(words),
                said=None,  # the part's text is its words as transcribed; the show's rules and edits settle it again
            )
            out.append((part, number))
    return out


def _runs(words: Sequence[Word], index: TurnIndex, segment: int | None) -> list[tuple[int | None, list[Word]]]:
    """The segment's words in runs of one voice, the runs too short to be a change joined to the run before them;
    `segment`: the voice of the whole segment, for words before any turn."""
    numbers = [index.number_at(w[0], w[1]) for w in words]
    known = next((n for n in numbers if n is not None), segment)
    runs: list[tuple[int | None, list[Word]]] = []
    for word, number in zip(words, numbers, strict=True):
        number = number if number is not None else known  # a word between turns stays with the voice before it
        known = number
        if runs and runs[-1][0] == number:
            runs[-1][1].append(word)
        else:
            runs.append((number, [word]))
    merged: list[tuple[int | None, list[Word]]] = []
    for number, run in runs:
        if merged and _too_short(run) or merged and merged[-1][0] == number:
            merged[-1][1].extend(run)
        else:
            merged.append((number, run))
    if len(merged) > 1 and _too_short(merged[0][1]):  # a segment cannot open with a one-word change either
        merged[1:2] = [(merged[1][0], merged[0][1] + merged[1][1])]
        merged.pop(0)
    return merged


def _too_short(run: Sequence[Word]) -> bool:
    return len(run) == 1 and run[0][1] - run[0][0] < SHORTEST_CHANGE_S


def speaking_seconds(turns: Sequence[SpeakerTurn]) -> dict[int, float]:
    """How long each voice speaks in the turns."""
    seconds: dict[int, float] = {}
    for turn in turns:
        seconds[turn.number] = seconds.get(turn.number, 0.0) + max(0.0, turn.end - turn.start)
    return seconds


def reassigned(turns: Sequence[SpeakerTurn], start: float, end: float, number: int) -> list[SpeakerTurn]:
    """The turns with [start, end) given to voice `number`: turns across its edges are cut there."""
    out: list[SpeakerTurn] = []
    for turn in turns:
        if turn.end <= start or turn.start >= end:
            out.append(turn)
            continue
        if turn.start < start:
            out.append(SpeakerTurn(turn.start, start, turn.number))
        if turn.end > end:
            out.append(SpeakerTurn(end, turn.end, turn.number))
    out.append(SpeakerTurn(start, end, number))
    return sorted(out, key=lambda t: (t.start, t.end))
