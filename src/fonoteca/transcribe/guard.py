"""The quality guard: what Whisper writes where nobody speaks, found and dropped before it reaches the archive.

On silence, music and applause Whisper is known to "hear" the captions of its training data ("Subtítulos realizados
por la comunidad de Amara.org", "Thanks for watching!") or to repeat one line over and over. Each segment is checked
against Whisper's own confidence figures (how likely it is that nobody speaks, and how repetitive the text is) and
against a list of these phantom phrases; what is dropped is counted by reason in the episode's record.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from fonoteca.text import fold


class Dropped(StrEnum):
    """Why a segment was not kept."""

    PHANTOM = "phantom phrase"  # a caption credit or sign-off Whisper writes on silence and music
    NO_SPEECH = "no speech"  # Whisper itself thinks nobody speaks there, and is unsure of the words
    REPETITIVE = "repetitive"  # the text repeats itself (Whisper's compression-ratio check) or the previous lines


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
