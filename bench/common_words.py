"""The common words of the search index (fonoteca.search.common) measured on real transcripts: the most frequent folded
words of the shared corpora (Venezolanos in Spanish, Talk Python in English), how much of their speech the list
covers, and which word pairs the index keeps with it.

    python bench/common_words.py [--top 100]

Prints each corpus's top words (how the Spanish and English part of the list was chosen), the share of words that are
common, and the share of adjacent pairs the index keeps (a pair is kept when one of its words is common).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from fonoteca.search.common import COMMON_WORDS, common_pairs
from fonoteca.text import words

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "transcripts"


def corpus_lines(name: str) -> list[str]:
    if name == "es":
        files = sorted((SHARED / "venezolanos_es" / "episodios").glob("*/transcripcion.md"))
        spoken = [f.read_text().split("---", 2)[-1] for f in files]  # after the front matter
        return [line for text in spoken for line in text.splitlines() if line and not line.startswith("#")]
    lines = []
    for f in sorted((SHARED / "talkpython_en_vtt_subset").glob("*.vtt")):
        lines += [line for line in f.read_text().splitlines() if line and "-->" not in line and line != "WEBVTT"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=100)
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"needs the shared corpora at {SHARED}")
    for language in ("es", "en"):
        lines = [words(line) for line in corpus_lines(language)]
        counts = Counter(word for line in lines for word in line)
        said = sum(counts.values())
        top = [word for word, _ in counts.most_common(args.top)]
        pairs = sum(max(0, len(line) - 1) for line in lines)
        kept = sum(sum(common_pairs(line)) for line in lines)
        covered = sum(counts[w] for w in COMMON_WORDS)
        print(f"{language}: {said:,} words, {len(counts):,} distinct; the top {args.top} are "
              f"{sum(counts[w] for w in top) / said:.1%} of the words")  # fmt: skip
        print(f"  COMMON_WORDS: {covered / said:.1%} of the words; the index keeps {kept / pairs:.1%} of the pairs")
        print(f"  top {args.top} not in COMMON_WORDS: {' '.join(w for w in top if w not in COMMON_WORDS) or '-'}")
        print(f"  top {args.top}: {' '.join(top)}")


if __name__ == "__main__":
    main()
