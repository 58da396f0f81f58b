"""Chapters found in the transcript itself: where the talk changes topic.

TextTiling (Hearst 1997) over the passages instead of over words. Two signals say how alike the talk is on both
sides of each gap between two passages: the meaning vectors and the words (TF-IDF over the passages' content words:
names and terms change where the topic changes), each the cosine of the mean of a few passages before and after the
gap, standardised and mixed. The mixed curve is smoothed, and each gap's depth is how far it drops there below the
nearest peaks on both sides. The deepest gaps become boundaries, deepest first, as long as every chapter stays at least
MIN_SECONDS long; a chapter still longer than MAX_SECONDS is then cut at its deepest gap. The wide, smoothed curve
finds where the topic changes; each boundary is then moved to the lowest point, within two gaps, of the same curve
over two passages on each side (the narrow curve places, the wide one finds). A boundary falls between two passages
(30–60 s each): it is placed at the segment start between them, moved by one segment to follow a pause or a
sentence's end.

The parameters were chosen on half of bench/chapters.py's joined documents and are reported on the other half too.
Titles are the chapter's own most distinctive phrases (fonoteca.meaning.keyness) against the rest of the episode and
the archive: words the chapter says.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from fonoteca.archive import Segment
from fonoteca.meaning.keyness import is_content
from fonoteca.text import words

MIN_SECONDS = 240.0  # a chapter is at least four minutes long
MAX_SECONDS = 1200.0  # and at most twenty, unless no gap inside it can be cut without a shorter one
WINDOW = 5  # passages on each side of a gap whose mean vectors are compared (≈ 3–4 minutes) to find boundaries
PLACING_WINDOW = 2  # and to place them (≈ 1–2 minutes)
PLACING_REACH = 2  # a found boundary moves by at most this many gaps to where the narrow curve is lowest
WORDS_WEIGHT = 0.4  # the words' share of the mixed curve (the meaning vectors have the rest)
SMOOTHING = 2  # passes of a [1, 2, 1] / 4 filter over the curve before depths are taken
DEPTH_CUTOFF = 2.0  # a gap is a boundary when its depth is at least mean + this × standard deviation of all depths
PAUSE_SECONDS = 0.6  # a silence this long before a segment marks a natural place to start a chapter


def lexical_vectors(texts: Sequence[str], stop: frozenset[str]) -> np.ndarray:
    """TF-IDF unit vectors of the texts over their content words: passages compared by what they say."""
    bags = [Counter(w for w in words(t) if is_content(w, stop)) for t in texts]
    vocabulary = {w: i for i, w in enumerate(sorted({w for b in bags for w in b}))}
    documents = Counter(w for b in bags for w in b)
    matrix = np.zeros((len(texts), max(1, len(vocabulary))), np.float32)
    for row, bag in enumerate(bags):
        for word, n in bag.items():
            matrix[row, vocabulary[word]] = (1 + math.log(n)) * math.log(1 + len(texts) / documents[word])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def gap_similarities(vectors: np.ndarray, window: int) -> np.ndarray:
    """For each gap g (before passage g, 1 ≤ g < n), the cosine of the mean vectors of the `window` passages before
    and after it; index 0 is unused."""
    n = len(vectors)
    sums = np.vstack([np.zeros((1, vectors.shape[1]), np.float64), np.cumsum(vectors, axis=0, dtype=np.float64)])
    sims = np.ones(n)
    for g in range(1, n):
        left = sums[g] - sums[max(0, g - window)]
        right = sums[min(n, g + window)] - sums[g]
        norm = np.linalg.norm(left) * np.linalg.norm(right)
        sims[g] = float(left @ right / norm) if norm else 1.0
    return sims


def mixed_similarities(meaning: np.ndarray, lexical: np.ndarray, window: int) -> np.ndarray:
    """Both signals' gap similarities, each standardised over the episode's gaps, mixed by WORDS_WEIGHT."""
    mixed = np.zeros(len(meaning))
    for vectors, weight in ((meaning, 1 - WORDS_WEIGHT), (lexical, WORDS_WEIGHT)):
        sims = gap_similarities(vectors, window)[1:]
        mixed[1:] += weight * (sims - sims.mean()) / (sims.std() or 1.0)
    return mixed


def smoothed(sims: np.ndarray, passes: int = SMOOTHING) -> np.ndarray:
    out = sims.copy()
    for _ in range(passes if len(out) > 3 else 0):
        out[1:] = np.convolve(np.pad(out[1:], 1, mode="edge"), np.array([0.25, 0.5, 0.25]), mode="valid")
    return out


def depths(sims: np.ndarray) -> np.ndarray:
    """Each gap's depth: the rise to the highest similarity reached climbing left, plus the rise climbing right."""
    n = len(sims)
    out = np.zeros(n)
    for g in range(1, n):
        left = g
        while left - 1 >= 1 and sims[left - 1] >= sims[left]:
            left -= 1
        right = g
        while right + 1 < n and sims[right + 1] >= sims[right]:
            right += 1
        out[g] = (sims[left] - sims[g]) + (sims[right] - sims[g])
    return out


def boundaries(
    vectors: np.ndarray,
    lexical: np.ndarray,
    starts: Sequence[float],
    end: float,
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
) -> list[int]:
    """The passages (by position) that start a new chapter, in order, from the passages' unit meaning vectors, their
    word vectors (lexical_vectors), their start times and the episode's end."""
    n = len(vectors)
    if n < 2 or end - starts[0] < 2 * min_seconds:
        return []
    depth = depths(smoothed(mixed_similarities(vectors, lexical, WINDOW)))
    cutoff = depth[1:].mean() + DEPTH_CUTOFF * depth[1:].std()
    chosen: list[int] = []

    def fits(g: int, others: Sequence[int]) -> bool:
        edges = sorted([0, *others, g])
        times = [starts[e] for e in edges] + [end]
        position = edges.index(g)
        return times[position] - times[position - 1] >= min_seconds and times[position + 1] - starts[g] >= min_seconds

    for g in sorted(range(1, n), key=lambda g: -depth[g]):
        if depth[g] < cutoff or depth[g] <= 0:
            break
        if fits(g, chosen):
            chosen.append(g)
    while True:  # chapters still too long are cut at their deepest gap that leaves both parts long enough
        edges = sorted([0, *chosen])
        times = [starts[e] for e in edges] + [end]
        cut = None
        for i, first in enumerate(edges):
            if times[i + 1] - times[i] <= max_seconds:
                continue
            last = edges[i + 1] if i + 1 < len(edges) else n
            inside = [g for g in range(first + 1, last) if fits(g, chosen)]
            if inside:
                cut = max(inside, key=lambda g: depth[g])
                break
        if cut is None:
            break
        chosen.append(cut)
    narrow = mixed_similarities(vectors, lexical, PLACING_WINDOW)
    placed: list[int] = []
    chosen.sort()
    for i, g in enumerate(chosen):
        neighbours = [*placed, *chosen[i + 1 :]]
        near = [h for h in range(max(1, g - PLACING_REACH), min(n - 1, g + PLACING_REACH) + 1) if fits(h, neighbours)]
        placed.append(min(near, key=lambda h: (narrow[h], abs(h - g))) if near else g)
    return placed


def snap(segments: Sequence[Segment], low: int, high: int) -> int:
    """The position, among segments[low..high] (the two passages around a boundary gap), where a chapter starts: the
    segment at the middle of the two, or its neighbour when that one follows a pause or a sentence's end. (Choosing
    by the contrast of the words around each candidate placed boundaries worse in bench/chapters.py: F1 0.57 against
    0.62 at the middle.)"""
    if high <= low:
        return low
    middle = (low + high + 1) // 2
    for i in (middle, middle + 1, middle - 1):
        if low <= i <= high and i > 0 and _natural_start(segments[i - 1], segments[i]):
            return i
    return middle


def _natural_start(before: Segment, segment: Segment) -> bool:
    return segment.start - before.end >= PAUSE_SECONDS or before.text.rstrip().endswith((".", "?", "!", "…"))


def chapter_starts(
    segments: Sequence[Segment],
    vectors: np.ndarray,
    spans: np.ndarray,
    stop: frozenset[str],
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
) -> list[int]:
    """Positions in `segments` (one episode's, in order) where chapters start, the first always 0. `spans` are the
    passages' [start, end, first_idx, last_idx] (segment idx values) as the archive stores them, `vectors` their
    meaning vectors, `stop` the stopwords their words are compared without."""
    if not segments:
        return []
    end = max(s.end for s in segments)
    position = {s.idx: i for i, s in enumerate(segments)}
    texts = [
        " ".join(s.text for s in segments[position.get(int(first), 0) : position.get(int(last), len(segments)) + 1])
        for _, _, first, last in spans
    ]
    cuts = boundaries(
        vectors, lexical_vectors(texts, stop), spans[:, 0].tolist(), end, min_seconds=min_seconds,
        max_seconds=max_seconds,
    )  # fmt: skip
    starts = [0]
    for g in cuts:
        low = position.get(int(spans[g - 1][2]), 0) + 1
        high = position.get(int(spans[g][3]), len(segments) - 1)
        at = snap(segments, low, high)
        if at > starts[-1]:
            starts.append(at)
    return starts
