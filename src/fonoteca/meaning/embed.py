"""Embedding the archive: every transcribed episode whose current transcript has no vectors of the chosen model yet
is cut into passages and embedded, a batch of episodes per commit, so an interrupted run resumes where it stopped and
a transcript revised later is embedded again. It runs where it holds no one up: `fonoteca embed`, the web server's
background loop, a worker's job on PostgreSQL. `import`, `add` and `sync` on SQLite return once the transcripts are
stored and searchable by keywords, and say what waits (`backlog`)."""

from __future__ import annotations

import numpy as np

from fonoteca.archive import Archive
from fonoteca.archive.vectors import EpisodeVectors
from fonoteca.events import EmbedProgress, EventSink, ignore
from fonoteca.meaning.embedders import BATCH, E5, USE, Embedder
from fonoteca.meaning.passages import Passage, passages

COMMIT_PASSAGES = 256  # passages embedded between two commits: what an interruption can cost at most
# Passages a second each packaged model embeds on 2 cores (bench/search.py, README "Which model"): an estimate of how
# long the embedding that waits will take. An endpoint's speed is not known beforehand.
PASSAGES_PER_SECOND = {USE: 100.0, E5: 4.4}
PASSAGE_SECONDS = 45  # passages are 30-60 seconds of speech: how many an episode has, from its duration


def backlog(archive: Archive, embedder: Embedder) -> str:
    """One line saying how many passages wait to be embedded for search by meaning and roughly how long that takes,
    and what does it; empty when nothing waits. What `import`, `add` and `sync` say instead of embedding in front of
    the user."""
    pending = archive.vectors.pending(embedder.name, embedder.dim)
    if not pending:
        return ""
    episodes = archive.episodes_by_ids(episode_id for episode_id, _ in pending).values()
    count = sum(max(1, round((e.duration or 0) / PASSAGE_SECONDS)) for e in episodes)
    rate = PASSAGES_PER_SECOND.get(embedder.name)
    took = f", about {_duration(count / rate)} at ~{rate:g} passages/s on 2 cores" if rate else ""
    return (
        f"~{count:,} passages of {len(pending):,} episode(s) wait to be embedded for search by meaning{took}; they are "
        "searchable by keywords now. `fonoteca embed` embeds them with a progress bar (interrupt it at any time: it "
        "resumes), and `fonoteca serve` does it in the background"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def embed_pending(
    archive: Archive, embedder: Embedder, *, events: EventSink = ignore, again: bool = False, most: int | None = None
) -> int:
    """Embed what is pending for `embedder` (everything with `again`; at most `most` episodes, for a background loop
    that must stop soon when asked); returns how many episodes were embedded."""
    if again:
        archive.vectors.forget(embedder.name)
    pending = archive.vectors.pending(embedder.name, embedder.dim)[:most]
    done = 0
    batch: list[EpisodeVectors] = []
    waiting = 0
    if pending:
        events(EmbedProgress(0, len(pending)))
    for position, (episode_id, rev) in enumerate(pending, start=1):
        batch.append(episode_vectors(archive, embedder, episode_id, rev))
        waiting += len(batch[-1].spans)
        if waiting >= COMMIT_PASSAGES or position == len(pending):
            done += archive.vectors.save_many(embedder.name, embedder.dim, batch)
            batch, waiting = [], 0
        events(EmbedProgress(position, len(pending)))
    return done


def episode_vectors(archive: Archive, embedder: Embedder, episode_id: str, transcript_rev: int) -> EpisodeVectors:
    """The episode's passages and their vectors (not stored yet)."""
    cut = passages(archive.segments(episode_id, words=False))
    texts = [p.text for p in cut]
    vectors = [embedder.embed(texts[i : i + BATCH], query=False) for i in range(0, len(texts), BATCH)]
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
    return EpisodeVectors(episode_id, transcript_rev, spans_of(cut), matrix)


def spans_of(cut: list[Passage]) -> np.ndarray:
    """(n, 4) float32: each passage's start, end, first and last segment idx, as the archive stores them."""
    return np.array([[p.start, p.end, p.first_idx, p.last_idx] for p in cut], np.float32).reshape(-1, 4)
