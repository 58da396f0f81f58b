"""Chapters found in the transcript itself: where the talk changes topic.

TextTiling (Hearst 1997) over the passages' meaning vectors instead of their words: the similarity of the passages
just before and just after each gap between two passages (a few on each side, averaged), and each gap's depth, how far
the similarity drops there below the nearest peaks on both sides. The deepest gaps become boundaries, deepest first,
as long as every chapter stays at least MIN_SECONDS long; a chapter still longer than MAX_SECONDS is then cut at its
deepest gap. A boundary falls between two passages (30–60 s each): it is placed at the segment start between them,
moved by one segment to follow a pause or a sentence's end.

Titles are the chapter's own most distinctive phrases (fonoteca.meaning.keyness) against the rest of the episode and
the archive: words the chapter says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fonoteca.archive import Segment

MIN_SECONDS = 300.0  # a chapter is at least five minutes long
MAX_SECONDS = 1200.0  # and at most twenty, unless no gap inside it can be cut without a shorter one
WINDOW = 3  # passages on each side of a gap whose mean vectors are compared (≈ 2 minutes)
DEPTH_CUTOFF = 1.0  # a gap is a boundary when its depth is at least mean + this × standard deviation of all depths
PAUSE_SECONDS = 0.6  # a silence this long before a segment marks a natural place to start a chapter


def gap_similarities(vectors: np.ndarray, window: int = WINDOW) -> np.ndarray:
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
    starts: Sequence[float],
    end: float,
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
) -> list[int]:
    """The passages (by position) that start a new chapter, in order, from the passages' unit vectors and start
    times and the episode's end."""
    n = len(vectors)
    if n < 2 or end - starts[0] < 2 * min_seconds:
        return []
    depth = depths(gap_similarities(vectors, WINDOW))
    gaps = np.arange(1, n)
    cutoff = depth[1:].mean() + DEPTH_CUTOFF * depth[1:].std()
    chosen: list[int] = []

    def fits(g: int) -> bool:
        edges = sorted([0, *chosen, g])
        times = [starts[e] for e in edges] + [end]
        position = edges.index(g)
        return times[position] - times[position - 1] >= min_seconds and times[position + 1] - starts[g] >= min_seconds

    for g in sorted(gaps, key=lambda g: -depth[g]):
        if depth[g] < cutoff or depth[g] <= 0:
            break
        if fits(int(g)):
            chosen.append(int(g))
    while True:  # chapters still too long are cut at their deepest gap that leaves both parts long enough
        edges = sorted([0, *chosen])
        times = [starts[e] for e in edges] + [end]
        cut = None
        for i, first in enumerate(edges):
            if times[i + 1] - times[i] <= max_seconds:
                continue
            last = edges[i + 1] if i + 1 < len(edges) else n
            inside = [g for g in range(first + 1, last) if fits(g)]
            if inside:
                cut = max(inside, key=lambda g: depth[g])
                break
        if cut is None:
            return sorted(chosen)
        chosen.append(cut)


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
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float = MAX_SECONDS,
) -> list[int]:
    """Positions in `segments` (one episode's, in order) where chapters start, the first always 0. `spans` are the
    passages' [start, end, first_idx, last_idx] (segment idx values) as the archive stores them."""
    if not segments:
        return []
    end = max(s.end for s in segments)
    cuts = boundaries(vectors, spans[:, 0].tolist(), end, min_seconds=min_seconds, max_seconds=max_seconds)
    position = {s.idx: i for i, s in enumerate(segments)}
    starts = [0]
    for g in cuts:
        low = position.get(int(spans[g - 1][2]), 0) + 1
        high = position.get(int(spans[g][3]), len(segments) - 1)
        at = snap(segments, low, high)
        if at > starts[-1]:
            starts.append(at)
    return starts
