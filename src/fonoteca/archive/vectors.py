"""The passages' vectors of search by meaning, stored with the archive: one row per episode and embeddings model,
holding every passage of one transcript revision.

Vectors are kept as int8, each scaled so that its largest component is ±127, and made unit length again when read: a
quarter of float32's size, and the nearest passages barely change (measured in bench/search.py). They are keyed by the
model's name and dimension: vectors of another model or of another size are never compared, and a model whose size
changed has its episodes embedded again. An episode's vectors go with it (foreign key cascade); those of an older
transcript revision are ignored until re-embedded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fonoteca.archive import Archive

_SPAN = np.dtype("<f4")  # start, end, first segment idx, last segment idx of each passage


@dataclass(frozen=True)
class EpisodeVectors:
    """What is embedded for one episode: the passages' (n, 4) [start, end, first_idx, last_idx] and their vectors."""

    episode_id: str
    transcript_rev: int
    spans: np.ndarray
    vectors: np.ndarray  # (n, dim) float32, rows of length 1


@dataclass
class VectorMatrix:
    """Every embedded passage of the archive for one model, as arrays a question is compared with in one product."""

    vectors: np.ndarray  # (passages, dim) float32
    row_episode: np.ndarray  # (passages,) index into episode_ids
    spans: np.ndarray  # (passages, 4) start, end, first_idx, last_idx
    episode_ids: list[str]
    episode_show: np.ndarray  # (episodes,) show id
    episode_published: list[str | None]
    damaged: list[str] = field(default_factory=list)  # one line per episode whose stored vectors cannot be read


class VectorStore:
    """The `vectors` table, through the archive's own connections (Archive.vectors)."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def pending(self, model: str, dim: int) -> list[tuple[str, int]]:
        """(episode_id, transcript_rev) of transcribed episodes whose passages have no readable vectors of this model
        and size for their current transcript, oldest first."""
        rows = self.archive._query(
            "SELECT e.id, e.transcript_rev FROM episodes e LEFT JOIN vectors v ON v.episode_id = e.id AND v.model = ? "
            "WHERE e.status = 'done' AND (v.episode_id IS NULL OR v.transcript_rev != e.transcript_rev OR v.dim != ? "
            # a row whose blobs do not have the size they must have is damaged: embedded again
            "OR length(v.vectors) != v.count * v.dim OR length(v.spans) != v.count * 16) "
            "ORDER BY e.published IS NULL, e.published, e.id",
            (model, dim),
        )
        return [(r[0], r[1]) for r in rows]

    def save_many(self, model: str, dim: int, items: list[EpisodeVectors]) -> int:
        """Store a batch of episodes' vectors in one commit, replacing older ones of the model. An episode whose
        transcript changed (or that was deleted) since it was read is left out: it is pending again. Returns how many
        episodes were stored."""
        stored = 0
        now = time.time()
        with self.archive._transaction() as db:
            for item in items:
                scales = np.abs(item.vectors).max(axis=1, keepdims=True) if len(item.vectors) else 1.0
                quantised = np.round(item.vectors / np.where(scales > 0, scales, 1.0) * 127).astype(np.int8)
                cursor = db.execute(
                    "INSERT INTO vectors (episode_id, model, dim, transcript_rev, count, spans, vectors, embedded_at) "
                    "SELECT id, ?, ?, ?, ?, ?, ?, ? FROM episodes WHERE id = ? AND transcript_rev = ? "
                    "ON CONFLICT (episode_id, model) DO UPDATE SET dim = excluded.dim, "
                    "transcript_rev = excluded.transcript_rev, count = excluded.count, spans = excluded.spans, "
                    "vectors = excluded.vectors, embedded_at = excluded.embedded_at",
                    (
                        model, dim, item.transcript_rev, len(item.vectors), item.spans.astype(_SPAN).tobytes(),
                        quantised.tobytes(), now, item.episode_id, item.transcript_rev,
                    ),
                )  # fmt: skip
                stored += cursor.rowcount
        return stored

    def any(self) -> bool:
        """Whether anything at all is embedded, of any model."""
        return bool(self.archive._query("SELECT EXISTS (SELECT 1 FROM vectors)")[0][0])

    def stamp(self, model: str, dim: int) -> tuple[int, float]:
        """Changes whenever the model's vectors do (an episode embedded, re-embedded or deleted): the key of a
        process's loaded matrix."""
        row = self.archive._query(
            "SELECT COUNT(*), COALESCE(MAX(embedded_at), 0) FROM vectors WHERE model = ? AND dim = ?", (model, dim)
        )[0]
        return int(row[0]), float(row[1])

    def load(self, model: str, dim: int) -> VectorMatrix:
        """Every current passage vector of the model: a row that cannot be read is left out and named in `damaged`
        (keyword search never reads these rows)."""
        rows = self.archive._query(
            "SELECT v.episode_id, e.show_id, e.published, v.count, v.spans, v.vectors FROM vectors v "
            "JOIN episodes e ON e.id = v.episode_id "
            "WHERE v.model = ? AND v.dim = ? AND e.status = 'done' AND v.transcript_rev = e.transcript_rev "
            "ORDER BY v.episode_id",
            (model, dim),
        )
        blocks, spans, owners, ids, shows, published, damaged = [], [], [], [], [], [], []
        for episode_id, show_id, when, count, span_blob, vector_blob in rows:
            if count == 0:
                continue
            try:
                episode_spans, vectors = _decode(count, dim, span_blob, vector_blob)
            except ValueError as exc:
                damaged.append(
                    f"the stored meaning vectors of episode {episode_id} are damaged ({exc}); it is found by keywords "
                    "only until `fonoteca embed` (or the web server, by itself) embeds it again"
                )
                continue
            owners.append(np.full(count, len(ids), np.int32))
            ids.append(episode_id)
            shows.append(show_id)
            published.append(when)
            blocks.append(vectors)
            spans.append(episode_spans)
        return VectorMatrix(
            vectors=np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32),
            row_episode=np.concatenate(owners) if owners else np.zeros(0, np.int32),
            spans=np.concatenate(spans) if spans else np.zeros((0, 4), np.float32),
            episode_ids=ids,
            episode_show=np.asarray(shows, np.int64),
            episode_published=published,
            damaged=damaged,
        )

    def forget(self, model: str | None = None) -> None:
        """Drop the stored vectors (of one model, or all): everything is embedded again by the next `embed`."""
        with self.archive._transaction() as db:
            db.execute("DELETE FROM vectors WHERE ? IS NULL OR model = ?", (model, model))

    def size(self, model: str) -> tuple[int, int]:
        """(passages, bytes of vectors and passage times) stored for the model."""
        row = self.archive._query(
            "SELECT COALESCE(SUM(count), 0), COALESCE(SUM(length(vectors) + length(spans)), 0) "
            "FROM vectors WHERE model = ?",
            (model,),
        )[0]
        return int(row[0]), int(row[1])


def _decode(count: int, dim: int, span_blob: bytes, vector_blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    if len(vector_blob) != count * dim:
        raise ValueError(f"{len(vector_blob)} bytes where {count} passages of {dim} dimensions take {count * dim}")
    if len(span_blob) != count * 4 * _SPAN.itemsize:
        raise ValueError(f"{len(span_blob)} bytes of passage times where {count * 4 * _SPAN.itemsize} are expected")
    vectors = np.frombuffer(vector_blob, np.int8).reshape(count, dim).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not norms.all():
        raise ValueError("a passage vector of zeros")
    vectors /= norms
    return np.frombuffer(span_blob, _SPAN).reshape(count, 4).astype(np.float32), vectors
