"""A synthetic archive the size of a long-running show, built through fonoteca's own Archive API.

Default: 1 500 hours of speech (~13 M words at 145 words/minute), 750 episodes of two hours spread over six years,
segments of ~40 words, a Zipf-distributed vocabulary of Spanish-like words (with accents) plus real Spanish function
words at the top ranks, so common words and common-word phrases behave like real speech.

    from synthetic import build_synthetic_archive
    settings, vocabulary = build_synthetic_archive(Path("/tmp/bench-home"), hours=1500)
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from fonoteca.archive import Archive, Segment
from fonoteca.settings import Settings

WORDS_PER_MINUTE = 145
WORDS_PER_SEGMENT = 40
VOCABULARY = 60_000
FUNCTION_WORDS = [
    "de",
    "la",
    "que",
    "el",
    "en",
    "y",
    "a",
    "los",
    "se",
    "del",
    "las",
    "un",
    "por",
    "con",
    "no",
    "una",
    "su",
    "para",
    "es",
    "al",
    "lo",
    "como",
    "más",
    "o",
    "pero",
    "sus",
    "le",
    "ha",
    "me",
    "si",
    "sin",
    "sobre",
    "este",
    "ya",
    "entre",
    "cuando",
    "todo",
    "esta",
    "ser",
    "son",
    "dos",
    "también",
    "fue",
    "había",
    "era",
    "muy",
    "años",
    "hasta",
    "desde",
    "está",
    "mi",
    "porque",
    "qué",
    "sólo",
    "han",
    "yo",
    "hay",
    "vez",
    "puede",
    "todos",
    "así",
    "nos",
    "ni",
    "parte",
    "tiene",
    "él",
    "uno",
    "donde",
    "bien",
    "tiempo",
    "mismo",
    "ese",
    "ahora",
    "cada",
    "e",
    "vida",
    "otro",
]
_ONSETS = ["", "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "ch", "br", "tr", "pl", "gr", "cl"]
_VOWELS = ["a", "e", "i", "o", "u", "á", "é", "í", "ó", "ú", "ia", "ue", "io"]
_CODAS = ["", "", "", "n", "s", "r", "l", "ción", "mente", "dad"]


def make_vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    words = list(dict.fromkeys(FUNCTION_WORDS))
    seen = set(words)
    while len(words) < size:
        syllables = rng.integers(2, 5)
        word = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
                       for _ in range(syllables)) + _CODAS[rng.integers(len(_CODAS))]  # fmt: skip
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def build_synthetic_archive(
    home: Path, hours: float = 1500, episodes: int = 750, seed: int = 0
) -> tuple[Settings, list[str]]:
    """Fill `home` with a synthetic archive (segments only; indexing is left to the caller to time)."""
    rng = np.random.default_rng(seed)
    vocabulary = make_vocabulary(VOCABULARY, rng)
    ranks = np.arange(1, len(vocabulary) + 1)
    weights = 1.0 / ranks**1.07
    weights /= weights.sum()
    settings = Settings.from_env(environ={}, home=home)
    total_words = int(hours * 60 * WORDS_PER_MINUTE)
    per_episode = total_words // episodes
    seconds_per_word = 60 / WORDS_PER_MINUTE
    first_day = datetime(2019, 1, 7, 20, tzinfo=UTC)
    days_between = 6 * 365 / episodes
    vocab = np.array(vocabulary, dtype=object)
    started = time.perf_counter()
    with Archive(settings.db_path) as archive:
        show, _ = archive.add_show(title="Programa sintético", source="synthetic://show", source_kind="feed")
        for n in range(episodes):
            published = (first_day + timedelta(days=n * days_between)).strftime("%Y-%m-%dT%H:%M:%SZ")
            episode, _ = archive.upsert_episode(
                show, guid=f"ep{n}", title=f"Episodio {n + 1}", kind="audio", published=published,
                duration=per_episode * seconds_per_word, status="done", source="transcribed", language="es",
            )  # fmt: skip
            tokens = vocab[rng.choice(len(vocabulary), size=per_episode, p=weights)]
            segments = []
            for i in range(0, per_episode, WORDS_PER_SEGMENT):
                chunk = tokens[i : i + WORDS_PER_SEGMENT]
                start = i * seconds_per_word
                segments.append(Segment(round(start, 2), round(start + len(chunk) * seconds_per_word, 2),
                                        " ".join(chunk).capitalize() + "."))  # fmt: skip
            archive.append_segments(episode.id, segments)
    print(f"built {episodes} episodes, {total_words:,} words in {time.perf_counter() - started:.1f} s")
    return settings, vocabulary


def add_vector_index_option(parser: argparse.ArgumentParser) -> None:
    """--vector-index, as the benchmarks that search by meaning take it."""
    parser.add_argument(
        "--vector-index",
        choices=["exact", "lists", "auto"],
        default="auto",
        help="search by meaning by the exact scan, through faiss's inverted file, or as fonoteca chooses by the "
        "archive's size (FONOTECA_VECTOR_INDEX)",
    )
