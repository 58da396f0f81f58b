"""Hints: the words a transcription is told to expect, so that Whisper writes a show's names as the show writes them.

Two sources, chosen by FONOTECA_HINTS: the show's own vocabulary (`fonoteca vocabulary add`), and the names and terms
of the episode's own title and show notes, which are likely said in it (a guest, a product, a place). Notes are
cleaned first: links, e-mail addresses, handles and the boilerplate lines of a feed (subscribe, follow us, contact,
sponsors) say nothing about what is spoken. The hints reach faster-whisper as `hotwords` (see HINTS_OPTION), capped at
MAX_TERMS.

The hints are gated (Hints.misheard, applied by the Transcriber): the audio is transcribed without them, and only a
segment in which Whisper wrote, unsure, something that reads like a term ("confu i" for ComfyUI, "Carpaneo" for
Carpanedo) is transcribed again with them, its new text kept only if it writes that term. Told to every window, a
vocabulary that does not apply changed words inside the speech ("dinosaurs because" heard as "sinners, or it's
because": +0.027 WER on clips without names, bench/results/words.txt, as `hotwords` and as `initial_prompt` alike),
which no guard can tell from speech; gated, such hints leave the text as Whisper alone wrote it, and cost only the
check. Whisper told hints may also go on after the speech ends; the quality guard (fonoteca.transcribe.guard) leaves
those words out of the stretches transcribed again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from fonoteca.text import fold, html_to_text, words

# bench/results/words.txt: `hotwords` and `initial_prompt` gave the same recall and WER on the clips with terms, and
# the same words changed on the clips without names (both put the terms in Whisper's prompt); hotwords keeps them where
# faster-whisper also passes the previous text.
HINTS_OPTION = "hotwords"
# Told to every window (bench/results/words.txt as of 76664dc), 12 terms took term recall from 50 % to 100 %; the same
# 12 padded to 30 kept it at 1.6x the time, and to 100 terms WER rose from 0.078 to 0.082 at 3.8x. Past this many they
# cost more than they bring; gated, 100 terms kept the WER of 12 but took 2x the time on clips without names (more
# runs of words look like one of 100 terms), and a stretch transcribed again is decoded with a prompt this short.
MAX_TERMS = 12
MAX_NOTE_TERMS = 12  # of the episode's notes: the title's first, then the notes' in the order they come
MAX_TERM_CHARS = 60

_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+|<[^>]*>|\]\([^)]*\)")
_HANDLE = re.compile(r"(?<!\w)[@#]\w+")
# Lines of a feed's notes that are the same in every episode: how to follow, contact, support or sponsor the show.
_BOILERPLATE = re.compile(
    r"suscr[ií]b|subscri|s[ií]guenos|follow|contact|patreon|ko-fi|paypal|donat|patrocin|sponsor|"
    r"newsletter|feed|correo|e-?mail|twitter|telegram:|youtube:|instagram|facebook|mastodon|tiktok|"
    r"licen[cs]|creative commons|copyright|derechos",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[\w][\w.+'’-]*[\w+]|\w|\|")  # "|": a comma or bracket, which ends a run
# Words written with a capital only because they start a sentence or are common title words.
_COMMON_WORDS = (
    "el la los las un una unos unas lo al del de y o en con por para que qué como cómo este esta estos estas "
    "ese esa otro otra aquí hoy ya también pero si no sí más muy todo todos cada mi tu su nuestro "
    "episodio capítulo programa especial próximo recuerda repasamos "
    "the a an and or of in on at to for with by from this that these those here today our your my his her "
    "episode show part chapter special next new"
)
_COMMON = frozenset(fold(w) for w in _COMMON_WORDS.split())


# The gate (Hints.misheard): a run of words Whisper was less sure of than this, whose letters are this alike to a term
# it was not told, is where the term may have been said. Chosen on bench/words.py's clips (bench/results/words.txt):
# at 0.9 and 0.55 the gate opened on all 6 clips whose term Whisper alone missed ("Ahora ve," for Oravec is 0.57
# alike) and on 1 of the 13 clips without names ("Los" for "blogs"); at 0.65 it missed Oravec. An opening that was
# wrong costs the time of one segment transcribed again, not words: the new text is kept only if it writes the term.
MISHEARD_BELOW = 0.9
SIMILAR_FROM = 0.55  # Levenshtein similarity of the letters (folded, spaces and punctuation out)


@dataclass(frozen=True)
class Hints:
    """The terms one transcription is told to expect, the vocabulary's first; empty: none. By default they are
    gated: the audio is transcribed without them, and only a stretch where Whisper wrote, unsure, something that reads
    like a term is transcribed again with them, its new text kept if it writes the term (see Transcriber). Hints that
    do not apply so change nothing. `everywhere`: every window is transcribed with them (what bench/words.py compares
    the gate with)."""

    terms: tuple[str, ...] = ()
    everywhere: bool = False

    @classmethod
    def of(cls, *sources: Iterable[str]) -> Hints:
        """The terms of `sources` in order, each once (case and accents folded), capped at MAX_TERMS."""
        seen: set[str] = set()
        terms: list[str] = []
        for source in sources:
            for term in source:
                key = fold(term.strip())
                if key and key not in seen and len(terms) < MAX_TERMS:
                    seen.add(key)
                    terms.append(term.strip())
        return cls(tuple(terms))

    def whisper_options(self) -> dict[str, str]:
        """faster-whisper's transcribe() options that carry the hints."""
        return {HINTS_OPTION: ", ".join(self.terms)} if self.terms else {}

    def written(self, text: str) -> set[str]:
        """The terms `text` writes (whole words, case and accents folded)."""
        said = f" {' '.join(words(text))} "
        return {term for term in self.terms if f" {' '.join(words(term))} " in said}

    def misheard(self, said: Sequence[tuple[str, float]]) -> set[str]:
        """The terms the words `said` ((word, Whisper's probability) in order, one segment) may have misheard: a run
        of as many words as the term has, one fewer or one more ("confu i" for ComfyUI), one of them under
        MISHEARD_BELOW, whose letters are SIMILAR_FROM alike to the term's. A term the segment writes is no suspect."""
        written = self.written("".join(word for word, _ in said))
        return {term for term in self.terms if term not in written and _misheard_as(term, said)}


NO_HINTS = Hints()

_NOT_A_LETTER = re.compile(r"[\W_]+")


def _misheard_as(term: str, said: Sequence[tuple[str, float]]) -> bool:
    letters, size = _letters(term), len(term.split())
    for length in range(max(1, size - 1), size + 2):
        for first in range(len(said) - length + 1):
            run = said[first : first + length]
            if min(p for _, p in run) < MISHEARD_BELOW and _alike(_letters("".join(w for w, _ in run)), letters):
                return True
    return False


def _letters(text: str) -> str:
    return _NOT_A_LETTER.sub("", fold(text))


def _alike(written: str, term: str) -> bool:
    return bool(written) and Levenshtein.normalized_similarity(written, term) >= SIMILAR_FROM


def note_terms(title: str, notes: str, *, limit: int = MAX_NOTE_TERMS) -> list[str]:
    """The names and terms of an episode's title and notes (HTML or Markdown): runs of capitalised words, and words
    written like names (ComfyUI, Next.js), without links, addresses, handles or boilerplate lines; at most `limit`,
    the title's first. A single capitalised word that only ever starts a sentence ("Aterrizan los…") is no name."""
    runs: list[tuple[str, bool]] = []  # (term, whether it is one word that starts its sentence)
    for line in [title, *html_to_text(notes).splitlines()]:
        runs.extend(_capitalised_runs(_HANDLE.sub(" ", _URL.sub(" ", line))))
    inside = {fold(w) for term, initial in runs if not initial for w in term.split()}
    found: list[str] = []
    seen: set[str] = set()
    for term, initial in runs:
        key = fold(term)
        if initial and key not in inside and not any(c.isupper() for c in term[1:]):
            continue
        if key not in seen and len(term) <= MAX_TERM_CHARS:
            seen.add(key)
            found.append(term)
    return found[:limit]


_SENTENCE_BREAK = re.compile(r"(?<=[.!?:;])\s+|\s[-–—|]\s|^\s*[-+*•]\s+")
_PUNCTUATION_BREAK = re.compile(r"[¿¡()\[\]\"“”«»,]")


def _capitalised_runs(line: str) -> list[tuple[str, bool]]:
    """(run of consecutive capitalised words, whether it is one word at its sentence's start), common words trimmed
    from its ends ("El Linux Express" is "Linux Express")."""
    runs: list[tuple[str, bool]] = []
    for sentence in _SENTENCE_BREAK.split(line):
        if not sentence or _BOILERPLATE.search(sentence):
            continue
        words = [m.group().strip(".'’-") for m in _TOKEN.finditer(_PUNCTUATION_BREAK.sub(" | ", sentence))]
        run: list[str] = []
        run_start = 0
        for i, word in enumerate([*words, ""]):
            if _looks_like_a_name(word):
                if not run:
                    run_start = i
                run.append(word)
                continue
            while run and fold(run[0]) in _COMMON:
                run, run_start = run[1:], run_start + 1
            while run and fold(run[-1]) in _COMMON:
                run = run[:-1]
            if len(run) > 4:  # a heading in capitals: its names, not the whole
                runs.extend((w, False) for w in run if fold(w) not in _COMMON and len(w) > 2)
            elif run:
                runs.append((" ".join(run), len(run) == 1 and run_start == 0))
            run = []
    return runs


def _looks_like_a_name(word: str) -> bool:
    if not word or not word[0].isalpha():
        return False
    return word[0].isupper() or any(c.isupper() for c in word[1:])
