"""Line-sized segments from Whisper's words.

faster-whisper's batched pipeline transcribes voice-activity chunks of up to 30 s and returns one segment per chunk,
cut where the chunk was cut, not where a sentence ends. Search hits, exports and the player's transcript need
segments of a sentence or so: these are made again from the word timestamps, at sentence ends and pauses, and no
longer than MAX_SEGMENT unless a single word lasts longer.
"""

from __future__ import annotations

from fonoteca.archive.models import Segment, Word

MAX_SEGMENT = 15.0  # seconds
MIN_SENTENCE = 1.0  # a sentence end closes a segment only once it has this much speech ("Sí." stays with the next)
LONG_PAUSE = 1.5  # seconds of silence between two words that close a segment wherever it is
_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
_CLAUSE_END = (",", ";", ":", "—")


def _ends_with(word: str, marks: tuple[str, ...]) -> bool:
    return word.rstrip(" \"'»”)]").endswith(marks)


def _segment(words: list[Word]) -> Segment:
    return Segment(
        start=round(words[0][0], 3),
        end=round(words[-1][1], 3),
        text="".join(w[2] for w in words).strip(),
        words=list(words),
    )


def _best_cut(words: list[Word]) -> int:
    """Where to cut a run of words that grew past MAX_SEGMENT: after the last clause mark, else at the longest pause
    (never before the first word). Returns how many words the first part takes."""
    for i in range(len(words) - 1, 0, -1):
        if words[i - 1][1] - words[0][0] <= MAX_SEGMENT and _ends_with(words[i - 1][2], _CLAUSE_END + _SENTENCE_END):
            return i
    gaps = [
        (words[i][0] - words[i - 1][1], i) for i in range(1, len(words)) if words[i - 1][1] - words[0][0] <= MAX_SEGMENT
    ]
    return max(gaps)[1] if gaps else max(1, len(words) - 1)


def natural_segments(segment: Segment) -> list[Segment]:
    """The segment cut at sentence ends and long pauses into pieces of at most MAX_SEGMENT (a segment without word
    timestamps is returned as it is)."""
    if not segment.words or len(segment.words) < 2:
        return [segment]
    pieces: list[Segment] = []
    current: list[Word] = []
    words = segment.words
    for i, word in enumerate(words):
        current.append(word)
        while current[-1][1] - current[0][0] > MAX_SEGMENT and len(current) > 1:
            cut = _best_cut(current)
            pieces.append(_segment(current[:cut]))
            current = current[cut:]
        pause = words[i + 1][0] - word[1] if i + 1 < len(words) else 0.0
        sentence_done = _ends_with(word[2], _SENTENCE_END) and word[1] - current[0][0] >= MIN_SENTENCE
        if i + 1 < len(words) and (sentence_done or pause >= LONG_PAUSE):
            pieces.append(_segment(current))
            current = []
    if current:
        pieces.append(_segment(current))
    return pieces
