"""The quality guard: what Whisper writes where nobody speaks, found and dropped before it reaches the archive.

On silence, music and applause Whisper is known to "hear" the captions of its training data ("Subtítulos realizados
por la comunidad de Amara.org", "Thanks for watching!") or to repeat one line over and over. Each segment is checked
against Whisper's own confidence figures (how likely it is that nobody speaks, and how repetitive the text is) and
against a list of these phantom phrases; what is dropped is counted by reason in the episode's record.

Told to expect a show's names (hints, fonoteca.transcribe.hints), Whisper is also known to go on after the speech
ends: faster-whisper decodes the last second or so of a clip again from the last timestamp, with the hints and the
text so far as its prompt, and where Whisper alone would stop it "continues the conversation" ("This is the first
time I've ever seen a child, a child, a child…"). Those words have no audio under them: word alignment piles them up
at the end of the audio, each lasting no time at all, which real speech never does for several words in a row,
or Whisper itself gives each word of the tail almost no chance (bench/words.py). Such runs of words, and segments of
such words only, are cut off (`placed`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from fonoteca.archive.models import Segment, Word
from fonoteca.text import fold


class Dropped(StrEnum):
    """Why a segment was not kept."""

    PHANTOM = "phantom phrase"  # a caption credit or sign-off Whisper writes on silence and music
    NO_SPEECH = "no speech"  # Whisper itself thinks nobody speaks there, and is unsure of the words
    REPETITIVE = "repetitive"  # the text repeats itself (Whisper's compression-ratio check) or the previous lines
    UNPLACED = "words without audio"  # words Whisper wrote that its alignment places nowhere in the audio
    IMPROBABLE = "improbable words"  # a segment of words Whisper itself gave almost no chance, every one of them


# Whole-segment texts known to come from Whisper's training captions, not from the audio (per language, folded:
# lower case, no accents, no punctuation). A segment is dropped only when it says nothing else.
PHANTOM_PHRASES: dict[str, tuple[str, ...]] = {
    "es": (
        "subtitulos realizados por la comunidad de amara org",
        "subtitulado por la comunidad de amara org",
        "subtitulos por la comunidad de amara org",
        "gracias por ver el video",
        "gracias por ver",
        "suscribete al canal",
        "no olvides suscribirte",
        "subtitulos en espanol",
        "mas informacion www alimmenta com",
    ),
    "en": (
        "thanks for watching",
        "thank you for watching",
        "please subscribe",
        "subtitles by the amara org community",
        "like and subscribe",
        "transcription by castingwords",
    ),
    "pt": ("legendas pela comunidade amara org", "obrigado por assistir"),
    "fr": ("sous titres realises par la communaute d amara org", "merci d avoir regarde"),
    "it": ("sottotitoli creati dalla comunita amara org", "grazie per la visione"),
    "de": ("untertitel im auftrag des zdf", "untertitel der amara org community", "vielen dank furs zuschauen"),
}
_ALL_PHANTOMS = frozenset(p for phrases in PHANTOM_PHRASES.values() for p in phrases)
_NON_WORD = re.compile(r"[^\w]+")

# Whisper's own thresholds (openai/whisper `transcribe`): above 2.4 the text is a loop; a segment is silence when the
# no-speech probability is high AND the words are improbable. The no-speech bar is stricter than Whisper's 0.6,
# because a segment that faster-whisper kept already passed Whisper's own check once.
COMPRESSION_RATIO_LIMIT = 2.4
NO_SPEECH_LIMIT = 0.8
LOGPROB_LIMIT = -1.0
REPEATS_LIMIT = 3  # the same line (of 2 words or more) this many times in a row is a loop, not speech
# A word shorter than this has no audio under it, and this many of them in a row are invented: over the clips and
# podcast slices of bench/words.py (2,044 words, with and without hints), no two such words followed each other in
# real speech (2 lone ones in 240 s of podcast), while each invented tail was a run of 12 to 25.
UNPLACED_SECONDS = 0.02
UNPLACED_RUN = 3
# faster-whisper's own bar for a word that is likely not said (its hallucination check). A segment all of whose
# words are under it is a tail written over silence ("El", "video."); in the same runs the least sure segment of real
# speech had a word at 0.47.
IMPROBABLE_WORD = 0.15


def _folded(text: str) -> str:
    return _NON_WORD.sub(" ", fold(text)).strip()


@dataclass
class QualityGuard:
    """Checks one episode's segments in order (it remembers the lines just kept); `dropped` counts by reason."""

    dropped: Counter[str] = field(default_factory=Counter)
    _previous: str = ""
    _repeats: int = 0

    def unreliable(self, *, no_speech_prob: float, avg_logprob: float, compression_ratio: float) -> Dropped | None:
        """By Whisper's own figures for the segment (one voice-activity chunk in batched mode)."""
        if no_speech_prob > NO_SPEECH_LIMIT and avg_logprob < LOGPROB_LIMIT:
            return self._count(Dropped.NO_SPEECH)
        if compression_ratio > COMPRESSION_RATIO_LIMIT:
            return self._count(Dropped.REPETITIVE)
        return None

    def placed(self, segment: Segment) -> Segment | None:
        """The segment without its runs of words placed nowhere in the audio (UNPLACED_RUN or more in a row that each
        last no time): its text made again from the words left, or None when such words are most of it (a segment
        of invented words and the first of them, which spans the silence they were written over) or when Whisper
        gave every word of it less than IMPROBABLE_WORD."""
        words = segment.words or []
        if words and all(len(w) > 3 and w[3] < IMPROBABLE_WORD for w in words):  # type: ignore[misc]
            self._count(Dropped.IMPROBABLE)
            return None
        unplaced = _unplaced_runs(words)
        if not unplaced:
            return segment
        self._count(Dropped.UNPLACED)
        if 2 * len(unplaced) >= len(words):
            return None
        kept = [w for i, w in enumerate(words) if i not in unplaced]
        return Segment(start=round(kept[0][0], 3), end=round(kept[-1][1], 3), text="".join(w[2] for w in kept).strip(),
                       words=kept)  # fmt: skip

    def phantom(self, text: str) -> Dropped | None:
        """By the words of one line: a known phantom phrase, or the same line again and again."""
        folded = _folded(text)
        if folded in _ALL_PHANTOMS:
            return self._count(Dropped.PHANTOM)
        self._repeats = self._repeats + 1 if folded == self._previous else 1
        self._previous = folded
        if self._repeats >= REPEATS_LIMIT and len(folded.split()) >= 2:
            return self._count(Dropped.REPETITIVE)
        return None

    def _count(self, reason: Dropped) -> Dropped:
        self.dropped[reason] += 1
        return reason


def _unplaced_runs(words: list[Word]) -> set[int]:
    """The indexes of the words in runs of UNPLACED_RUN or more words in a row that each last no time."""
    found: set[int] = set()
    run: list[int] = []
    for i, word in enumerate([*words, None]):
        if word is not None and word[1] - word[0] < UNPLACED_SECONDS:
            run.append(i)
            continue
        if len(run) >= UNPLACED_RUN:
            found.update(run)
        run = []
    return found
