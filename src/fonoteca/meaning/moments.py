"""Key moments: the few passages that best represent an episode, central and diverse (maximal marginal relevance
over the passages' vectors, Carbonell & Goldstein 1998), each shown as a verbatim quote of its most telling sentences
with its second. The default "summary" where no capable language model is configured: nothing in it is written by a
model, so nothing in it can be invented."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from fonoteca.archive import KeyMoment, Segment
from fonoteca.meaning.keyness import is_content
from fonoteca.text import words

LAMBDA = 0.7  # relevance (closeness to the episode's centroid) against redundancy with the moments already chosen
QUOTE_CHARS = 320  # a quote is at most about this long: whole segments, or a long segment's first sentences
FEWEST, MOST = 3, 7
MINUTES_PER_MOMENT = 10
LONG_SECONDS = 90 * 60  # longer episodes get moments per chapter
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def how_many(seconds: float) -> int:
    return int(min(MOST, max(FEWEST, round(seconds / 60 / MINUTES_PER_MOMENT))))


def mmr(vectors: np.ndarray, k: int, lam: float = LAMBDA) -> list[int]:
    """Positions of `k` rows of unit `vectors`: each the most similar to their centroid, least like those chosen."""
    if len(vectors) == 0:
        return []
    centroid = vectors.mean(axis=0)
    norm = np.linalg.norm(centroid)
    relevance = vectors @ (centroid / norm) if norm else np.zeros(len(vectors))
    chosen: list[int] = []
    redundancy = np.full(len(vectors), -np.inf)
    for _ in range(min(k, len(vectors))):
        score = lam * relevance - (1 - lam) * np.where(np.isfinite(redundancy), redundancy, 0.0)
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        redundancy = np.maximum(redundancy, vectors @ vectors[best])
    return chosen


def quote(segments: Sequence[Segment], stop: frozenset[str]) -> tuple[float, float, str]:
    """The passage's most telling stretch (start, end, text), verbatim: the run of whole consecutive segments of at
    most QUOTE_CHARS that says the passage's frequent content words most; a single longer segment gives its first
    sentences."""
    weight = Counter(w for s in segments for w in words(s.text) if is_content(w, stop))
    best, best_score = (0, 0), -1.0
    for first in range(len(segments)):
        chars = 0
        for last in range(first, len(segments)):
            chars += len(segments[last].text.strip()) + 1
            if chars > QUOTE_CHARS and last > first:
                break
            score = sum(weight[w] for s in segments[first : last + 1] for w in words(s.text) if w in weight)
            if score > best_score:
                best, best_score = (first, last), score
    first, last = best
    text = " ".join(s.text.strip() for s in segments[first : last + 1])
    if len(text) > QUOTE_CHARS:
        kept = ""
        for sentence in _SENTENCE_END.split(text):
            if kept and len(kept) + len(sentence) + 1 > QUOTE_CHARS:
                break
            kept = f"{kept} {sentence}" if kept else sentence
        text = kept if len(kept) <= QUOTE_CHARS * 2 else kept[:QUOTE_CHARS].rsplit(" ", 1)[0]
    return segments[first].start, segments[last].end, text


def key_moments(
    segments: Sequence[Segment],
    vectors: np.ndarray,
    spans: np.ndarray,
    chapter_starts: Sequence[float],
    stop: frozenset[str],
) -> list[KeyMoment]:
    """3–7 key moments of the episode (one per chapter when it is longer than LONG_SECONDS), in time order."""
    if len(vectors) == 0 or not segments:
        return []
    end = max(s.end for s in segments)
    if end - segments[0].start > LONG_SECONDS and len(chapter_starts) > 1:
        edges = [*chapter_starts[1:], float("inf")]
        picks = []
        for start, stop_at in zip(chapter_starts, edges, strict=True):
            inside = np.flatnonzero((spans[:, 0] >= start) & (spans[:, 0] < stop_at))
            picks += [int(inside[i]) for i in mmr(vectors[inside], 1)]
    else:
        picks = mmr(vectors, how_many(end - segments[0].start))
    by_idx = {s.idx: s for s in segments}
    out = []
    for p in sorted(picks):
        first, last = int(spans[p][2]), int(spans[p][3])
        members = [by_idx[i] for i in range(first, last + 1) if i in by_idx]
        if members:
            out.append(KeyMoment(*quote(members, stop)))
    return out
