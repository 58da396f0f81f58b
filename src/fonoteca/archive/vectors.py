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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection, delete, func, literal, or_, select

from fonoteca.archive.database import in_chunks
from fonoteca.archive.models import Status
from fonoteca.archive.tables import episodes
from fonoteca.archive.tables import vectors as vectors_table

if TYPE_CHECKING:
    from fonoteca.archive.database import Database

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


@dataclass(frozen=True)
class CurrentVectors:
    """An episode's current vectors of a model, as VectorStore.current lists them (not the vectors themselves)."""

    episode_id: str
    transcript_rev: int
    show_id: int
    published: str | None
    count: int
    damaged: bool


class VectorStore:
    """The `vectors` table, through the archive's database (Archive.vectors)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._stamps: dict[tuple[str, int], tuple[int, tuple[int, float]]] = {}  # (model, dim) → (counter, stamp)

    def pending(self, model: str, dim: int) -> list[tuple[str, int]]:
        """(episode_id, transcript_rev) of transcribed episodes whose passages have no readable vectors of this model
        and size for their current transcript, oldest first."""
        v = vectors_table.c
        rows = self.database.query(
            select(episodes.c.id, episodes.c.transcript_rev)
            .join_from(episodes, vectors_table, (v.episode_id == episodes.c.id) & (v.model == model), isouter=True)
            .where(
                episodes.c.status == Status.DONE,
                or_(
                    v.episode_id.is_(None),
                    v.transcript_rev != episodes.c.transcript_rev,
                    v.dim != dim,
                    # a row whose blobs do not have the size they must have is damaged: embedded again
                    func.length(v.vectors) != v.count * v.dim,
                    func.length(v.spans) != v.count * 16,
                ),
            )
            .order_by(episodes.c.published.is_(None), episodes.c.published, episodes.c.id)
        )
        return [(r[0], r[1]) for r in rows]

    def save_many(self, model: str, dim: int, items: list[EpisodeVectors]) -> int:
        """Store a batch of episodes' vectors in one commit, replacing older ones of the model. An episode whose
        transcript changed (or that was deleted) since it was read is left out: it is pending again. Returns how many
        episodes were stored."""
        stored = 0
        now = time.time()
        v = vectors_table.c
        columns = ["episode_id", "model", "dim", "transcript_rev", "count", "spans", "vectors", "embedded_at"]
        with self.database.transaction() as db:
            for item in items:
                scales = np.abs(item.vectors).max(axis=1, keepdims=True) if len(item.vectors) else 1.0
                quantised = np.round(item.vectors / np.where(scales > 0, scales, 1.0) * 127).astype(np.int8)
                # Only while the episode still has the transcript revision the passages were cut from.
                current = select(
                    episodes.c.id,
                    literal(model, v.model.type),
                    literal(dim, v.dim.type),
                    literal(item.transcript_rev, v.transcript_rev.type),
                    literal(len(item.vectors), v.count.type),
                    literal(item.spans.astype(_SPAN).tobytes(), v.spans.type),
                    literal(quantised.tobytes(), v.vectors.type),
                    literal(now, v.embedded_at.type),
                ).where(episodes.c.id == item.episode_id, episodes.c.transcript_rev == item.transcript_rev)
                statement = self.database.insert(vectors_table).from_select(columns, current)
                stored += db.execute(
                    statement.on_conflict_do_update(
                        index_elements=[v.episode_id, v.model],
                        set_={name: statement.excluded[name] for name in columns[2:]},
                    )
                ).rowcount  # fmt: skip
        return stored

    def any(self) -> bool:
        """Whether anything at all is embedded, of any model."""
        return bool(self.database.query(_ANY_VECTOR))

    def stamp(self, model: str, dim: int) -> tuple[int, float]:
        """Changes whenever the model's vectors do (an episode embedded, re-embedded or deleted): the key of a
        process's loaded matrix, read before every search by meaning. Counting the model's vectors scans their index,
        so it is counted again only when the archive's change counter moved (every write of vectors moves it, by any
        process): read first, so a write landing between the two reads is counted at the next search."""
        counter, _ = self.database.changes()
        seen = self._stamps.get((model, dim))
        if seen is not None and seen[0] == counter:
            return seen[1]
        row = self.database.query(
            select(func.count(), func.coalesce(func.max(vectors_table.c.embedded_at), 0)).where(
                vectors_table.c.model == model, vectors_table.c.dim == dim
            )
        )[0]
        stamp = int(row[0]), float(row[1])
        self._stamps[model, dim] = counter, stamp
        return stamp

    def load(self, model: str, dim: int) -> VectorMatrix:
        """Every current passage vector of the model: a row that cannot be read is left out and named in `damaged`
        (keyword search never reads these rows)."""
        v = vectors_table.c
        rows = self.database.query(
            select(v.episode_id, episodes.c.show_id, episodes.c.published, v.count, v.spans, v.vectors)
            .join_from(vectors_table, episodes, episodes.c.id == v.episode_id)
            .where(
                v.model == model, v.dim == dim, episodes.c.status == Status.DONE,
                v.transcript_rev == episodes.c.transcript_rev,
            )
            .order_by(v.episode_id)
        )  # fmt: skip
        blocks, spans, owners, ids, shows, published, damaged = [], [], [], [], [], [], []
        for episode_id, show_id, when, count, span_blob, vector_blob in rows:
            if count == 0:
                continue
            try:
                episode_spans, vectors = _decode(count, dim, span_blob, vector_blob)
            except ValueError as exc:
                damaged.append(damaged_line(episode_id, exc))
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

    def current(self, model: str, dim: int) -> list[CurrentVectors]:
        """Every finished episode with vectors of the model for its current transcript, without reading the vectors:
        what an index of them must hold (fonoteca.search.ann). A row whose blobs do not have their size is `damaged`."""
        v = vectors_table.c
        rows = self.database.query(
            select(
                v.episode_id, v.transcript_rev, episodes.c.show_id, episodes.c.published, v.count,
                (func.length(v.vectors) == v.count * v.dim) & (func.length(v.spans) == v.count * 16),
            )
            .join_from(vectors_table, episodes, episodes.c.id == v.episode_id)
            .where(
                v.model == model, v.dim == dim, episodes.c.status == Status.DONE,
                v.transcript_rev == episodes.c.transcript_rev, v.count > 0,
            )
            .order_by(v.episode_id)
        )  # fmt: skip
        return [CurrentVectors(r[0], r[1], r[2], r[3], r[4], not r[5]) for r in rows]

    def quantised(self, model: str, dim: int, episode_ids: list[str]) -> Iterator[tuple[str, int, np.ndarray | str]]:
        """(episode_id, transcript_rev, its passages' int8 vectors as stored, or a line saying why they cannot be
        read) of these episodes' current vectors of the model, read a few hundred episodes at a time."""
        v = vectors_table.c
        for chunk in in_chunks(episode_ids, 200):
            rows = self.database.query(
                select(v.episode_id, v.transcript_rev, v.count, v.spans, v.vectors)
                .join_from(vectors_table, episodes, episodes.c.id == v.episode_id)
                .where(
                    v.model == model, v.dim == dim, v.episode_id.in_(chunk),
                    v.transcript_rev == episodes.c.transcript_rev,
                )
            )  # fmt: skip
            for episode_id, rev, count, span_blob, vector_blob in rows:
                try:
                    _decode(count, dim, span_blob, vector_blob)
                except ValueError as exc:
                    yield episode_id, rev, damaged_line(episode_id, exc)
                    continue
                yield episode_id, rev, np.frombuffer(vector_blob, np.int8).reshape(count, dim)

    def spans(self, model: str, dim: int, episode_ids: list[str]) -> dict[str, np.ndarray]:
        """{episode_id: (n, 4) start, end, first_idx, last_idx} of these episodes' passages (current vectors)."""
        v = vectors_table.c
        found: dict[str, np.ndarray] = {}
        for chunk in in_chunks(episode_ids, 500):
            rows = self.database.query(
                select(v.episode_id, v.count, v.spans)
                .join_from(vectors_table, episodes, episodes.c.id == v.episode_id)
                .where(
                    v.model == model, v.dim == dim, v.episode_id.in_(chunk),
                    v.transcript_rev == episodes.c.transcript_rev,
                )
            )  # fmt: skip
            for episode_id, count, blob in rows:
                if len(blob) == count * 4 * _SPAN.itemsize:
                    found[episode_id] = np.frombuffer(blob, _SPAN).reshape(count, 4).astype(np.float32)
        return found

    def episode(self, episode_id: str, model: str) -> EpisodeVectors | None:
        """The episode's stored passages and vectors of the model (of whichever transcript revision they were made
        from: the caller compares it), or None when there are none or they cannot be read."""
        v = vectors_table.c
        rows = self.database.query(
            select(v.transcript_rev, v.dim, v.count, v.spans, v.vectors).where(
                v.episode_id == episode_id, v.model == model
            )
        )
        if not rows:
            return None
        rev, dim, count, span_blob, vector_blob = rows[0]
        if count == 0:
            return EpisodeVectors(episode_id, rev, np.zeros((0, 4), np.float32), np.zeros((0, dim), np.float32))
        try:
            spans, vectors = _decode(count, dim, span_blob, vector_blob)
        except ValueError:
            return None
        return EpisodeVectors(episode_id, rev, spans, vectors)

    def forget(self, model: str | None = None) -> None:
        """Drop the stored vectors (of one model, or all): everything is embedded again by the next `embed`."""
        with self.database.transaction() as db:
            statement = delete(vectors_table)
            db.execute(statement if model is None else statement.where(vectors_table.c.model == model))

    def size(self, model: str) -> tuple[int, int]:
        """(passages, bytes of vectors and passage times) stored for the model."""
        v = vectors_table.c
        row = self.database.query(
            select(
                func.coalesce(func.sum(v.count), 0),
                func.coalesce(func.sum(func.length(v.vectors) + func.length(v.spans)), 0),
            ).where(v.model == model)
        )[0]
        return int(row[0]), int(row[1])


def damaged_line(episode_id: str, exc: Exception) -> str:
    return (
        f"the stored meaning vectors of episode {episode_id} are damaged ({exc}); it is found by keywords "
        "only until `fonoteca embed` (or the web server, by itself) embeds it again"
    )


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


def forget_vectors(db: Connection, episode_id: str) -> None:
    """A changed transcript's passages are no longer its own. Left in place, they would be found by meaning, with the
    new transcript's text at their segment numbers, by every process that loaded them, until they are embedded again:
    their count changes the vectors' stamp, so those processes read the vectors again."""
    db.execute(delete(vectors_table).where(vectors_table.c.episode_id == episode_id))


_ANY_VECTOR = select(vectors_table.c.episode_id).limit(1)
