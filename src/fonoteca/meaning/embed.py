"""Embedding the archive: every transcribed episode whose current transcript has no vectors of the chosen model yet
is cut into passages and embedded, a batch of episodes per commit, so an interrupted run resumes where it stopped and
a transcript revised later is embedded again. It runs after indexing (the CLI's sync, add and embed, the web
server's background loop): a show is searchable by keywords at once, and by meaning once this has caught up."""

from __future__ import annotations

import numpy as np

from fonoteca.archive import Archive
from fonoteca.archive.vectors import EpisodeVectors
from fonoteca.events import EmbedProgress, EventSink, ignore
from fonoteca.meaning.embedders import BATCH, Embedder
from fonoteca.meaning.passages import Passage, passages

COMMIT_PASSAGES = 256  # passages embedded between two commits: what an interruption can cost at most


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
