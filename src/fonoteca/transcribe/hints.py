"""Hints: the words a transcription is told to expect, so that Whisper writes a show's names as the show writes them.

Two sources, chosen by FONOTECA_HINTS: the show's own vocabulary (`fonoteca vocabulary add`), and the names and terms
of the episode's own title and show notes, which are likely said in it (a guest, a product, a place). Notes are
cleaned first: links, e-mail addresses, handles and the boilerplate lines of a feed (subscribe, follow us, contact,
sponsors) say nothing about what is spoken. The hints reach faster-whisper as `hotwords` (see HINTS_OPTION), capped at
MAX_TERMS: bench/words.py measured both of faster-whisper's ways and how many terms help before they hurt. Told hints,
Whisper may go on after the speech ends; the quality guard (fonoteca.transcribe.guard) leaves those words out, so
the podcasts' note terms cost no WER on clips without names (+0.228 before it). An unrelated vocabulary still changes
words inside the speech (+0.027 WER there), so only the vocabulary the owner gave is used by default
(FONOTECA_HINTS=vocabulary).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from fonoteca.text import fold, html_to_text

# bench/results/words.txt: `hotwords` and `initial_prompt` gave the same recall and WER on the clips with terms (both
# put the terms in Whisper's prompt); hotwords keeps them where faster-whisper also passes the previous text.
HINTS_OPTION = "hotwords"
# bench/results/words.txt: 12 terms took term recall from 50 % to 100 % and WER from 0.091 to 0.078; the same 12
# padded to 30 kept both at 1.6x the time, and to 100 terms WER 0.082 at 3.8x (0.110 and 0.311 before the quality
# guard dropped the tails they make Whisper invent). Past this many they cost more than they bring.
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


@dataclass(frozen=True)
class Hints:
    """The terms one transcription is told to expect, the vocabulary's first; empty: none."""

    terms: tuple[str, ...] = ()

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


NO_HINTS = Hints()


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
