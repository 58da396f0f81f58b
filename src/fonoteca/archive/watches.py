"""Watched words in the archive: the watches, the transcript revisions each has scanned, the mentions found, and the
webhook's outbox. `Archive.watches` is the one store of them; fonoteca.watch decides what a mention is.

A watch scans an episode once per transcript revision (`watch_scans`), so a second sync records nothing twice. When a
watch is added, every episode already transcribed is recorded as scanned at its current revision: a watch tells what
is said from then on, and the archive's history of the word is what search and trends already show. A mention is one
transcript line (segment) that has the word; the same line of the same episode is never recorded twice, even when the
episode is transcribed again. Mentions found while a webhook is configured go out in one batch per scan (of at most
BATCH_SIZE): the batch row is the outbox entry, kept with its attempts and next attempt time until the receiver takes
it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from fonoteca.errors import FonotecaError, NotFound

if TYPE_CHECKING:
    from fonoteca.archive import Archive


BATCH_SIZE = 500  # mentions per webhook POST


@dataclass(frozen=True)
class Watch:
    id: int
    term: str  # as the user wrote it
    folded: str  # its folded words, space-separated
    show_id: int | None  # None: every show
    show_title: str | None
    created_at: str
    mentions: int  # recorded since it was added
    unseen: int  # not yet listed by `fonoteca watch`

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Mention:
    id: int
    watch_id: int
    term: str
    episode_id: str
    episode_title: str
    show_title: str
    published: str | None
    start: float  # the second the line starts at
    sentence: str  # the transcript line, as said
    count: int  # times the word is said in that line
    found_at: str
    seen: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FoundMention:
    """A mention a scan found, before it is stored."""

    watch_id: int
    episode_id: str
    transcript_rev: int
    start: float
    sentence: str
    count: int


@dataclass(frozen=True)
class Batch:
    """One webhook delivery waiting in the outbox."""

    id: int
    attempts: int
    next_attempt: float  # unix time
    last_error: str | None


_MENTION_SELECT = (
    "SELECT m.id, m.watch_id, w.term, m.episode_id, e.title AS episode_title, s.title AS show_title, e.published, "
    "m.start, m.sentence, m.count, m.found_at, m.seen FROM mentions m JOIN watches w ON w.id = m.watch_id "
    "JOIN episodes e ON e.id = m.episode_id JOIN shows s ON s.id = e.show_id"
)


def _mention(row: sqlite3.Row) -> Mention:
    return Mention(**{**dict(row), "seen": bool(row["seen"])})


class WatchStore:
    def __init__(self, archive: Archive) -> None:
        self._archive = archive

    # -- the watches ------------------------------------------------------------------------------------------------

    def add(self, term: str, folded: str, show_id: int | None) -> Watch:
        """A new watch; the episodes transcribed so far count as scanned (see the module's docstring)."""
        with self._archive._transaction() as db:
            taken = db.execute("SELECT id FROM watches WHERE folded = ? AND show_id IS ?", (folded, show_id)).fetchone()
            if taken:
                raise FonotecaError(
                    f"{term!r} is already watched" + ("" if show_id is None else " in that show"),
                    "see the watches with `fonoteca watch list`",
                )
            watch_id = db.execute(
                "INSERT INTO watches (term, folded, show_id) VALUES (?, ?, ?)", (term, folded, show_id)
            ).lastrowid
            db.execute(
                "INSERT INTO watch_scans (watch_id, episode_id, transcript_rev) SELECT ?, id, transcript_rev "
                "FROM episodes WHERE status = 'done' AND (? IS NULL OR show_id = ?)",
                (watch_id, show_id, show_id),
            )
        return self.get(watch_id)

    def remove(self, watch_id: int) -> None:
        """The watch and its mentions (by cascade)."""
        with self._archive._transaction() as db:
            db.execute("DELETE FROM watches WHERE id = ?", (watch_id,))

    _WATCH_SELECT = (
        "SELECT w.id, w.term, w.folded, w.show_id, s.title AS show_title, w.created_at, "
        "(SELECT COUNT(*) FROM mentions m WHERE m.watch_id = w.id) AS mentions, "
        "(SELECT COUNT(*) FROM mentions m WHERE m.watch_id = w.id AND NOT m.seen) AS unseen "
        "FROM watches w LEFT JOIN shows s ON s.id = w.show_id"
    )

    def get(self, watch_id: int) -> Watch:
        rows = self._archive._query(f"{self._WATCH_SELECT} WHERE w.id = ?", (watch_id,))
        if not rows:
            raise NotFound(f"no watch with id {watch_id}", "see the watches with `fonoteca watch list`")
        return Watch(**dict(rows[0]))

    def find(self, folded: str) -> list[Watch]:
        """The watches of this folded word or phrase (one per show it is watched in)."""
        rows = self._archive._query(f"{self._WATCH_SELECT} WHERE w.folded = ? ORDER BY w.id", (folded,))
        return [Watch(**dict(r)) for r in rows]

    def list(self) -> list[Watch]:
        rows = self._archive._query(f"{self._WATCH_SELECT} ORDER BY w.term COLLATE NOCASE, w.id")
        return [Watch(**dict(r)) for r in rows]

    # -- scanning ---------------------------------------------------------------------------------------------------

    def pending(self) -> dict[tuple[str, int], list[Watch]]:
        """{(episode id, transcript_rev): the watches that have not scanned that revision} over finished episodes."""
        rows = self._archive._query(
            "SELECT e.id AS episode_id, e.transcript_rev, w.id FROM watches w "
            "JOIN episodes e ON e.status = 'done' AND (w.show_id IS NULL OR e.show_id = w.show_id) "
            "LEFT JOIN watch_scans ws ON ws.watch_id = w.id AND ws.episode_id = e.id "
            "WHERE ws.transcript_rev IS NULL OR ws.transcript_rev != e.transcript_rev"
        )
        if not rows:
            return {}
        watches = {w.id: w for w in self.list()}
        pending: dict[tuple[str, int], list[Watch]] = {}
        for row in rows:
            pending.setdefault((row["episode_id"], row["transcript_rev"]), []).append(watches[row["id"]])
        return pending

    def record(
        self, scanned: Iterable[tuple[int, str, int]], found: list[FoundMention], *, outbox: bool
    ) -> list[Mention]:
        """Store a scan in one commit: the (watch id, episode id, transcript_rev) scanned and the mentions found.
        Returns the mentions that are new (a line already recorded is not); with `outbox`, they go in one batch (of at
        most BATCH_SIZE: a show added with its whole history must not make one POST of thousands)."""
        with self._archive._transaction() as db:
            ids: list[int] = []
            for m in found:
                cursor = db.execute(
                    "INSERT INTO mentions (watch_id, episode_id, transcript_rev, start, sentence, count) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (m.watch_id, m.episode_id, m.transcript_rev, m.start, m.sentence, m.count),
                )
                if cursor.rowcount:
                    ids.append(cursor.lastrowid)
            for chunk in (ids[i : i + BATCH_SIZE] for i in range(0, len(ids), BATCH_SIZE) if outbox):
                batch = db.execute("INSERT INTO watch_batches (next_attempt) VALUES (0)").lastrowid
                db.executemany("UPDATE mentions SET batch_id = ? WHERE id = ?", [(batch, i) for i in chunk])
            db.executemany(
                "INSERT INTO watch_scans (watch_id, episode_id, transcript_rev) VALUES (?, ?, ?) "
                "ON CONFLICT (watch_id, episode_id) DO UPDATE SET transcript_rev = excluded.transcript_rev",
                list(scanned),
            )
        return self.mentions_by_ids(ids)

    # -- reading mentions -------------------------------------------------------------------------------------------

    def mentions_by_ids(self, ids: list[int]) -> list[Mention]:
        found: list[Mention] = []
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            marks = ", ".join("?" for _ in chunk)
            found += [_mention(r) for r in self._archive._query(f"{_MENTION_SELECT} WHERE m.id IN ({marks})", chunk)]
        return sorted(found, key=lambda m: m.id)

    def unseen(self) -> list[Mention]:
        """Mentions not listed yet, in the order they were found."""
        return [_mention(r) for r in self._archive._query(f"{_MENTION_SELECT} WHERE NOT m.seen ORDER BY m.id")]

    def recent(self, limit: int = 100, watch_id: int | None = None) -> list[Mention]:
        """The latest mentions found, newest first."""
        rows = self._archive._query(
            f"{_MENTION_SELECT} WHERE ? IS NULL OR m.watch_id = ? ORDER BY m.id DESC LIMIT ?",
            (watch_id, watch_id, limit),
        )
        return [_mention(r) for r in rows]

    def mark_seen(self, up_to: int) -> None:
        """Every mention up to this id has been listed: the next `fonoteca watch` shows only later ones."""
        with self._archive._transaction() as db:
            db.execute("UPDATE mentions SET seen = 1 WHERE id <= ? AND NOT seen", (up_to,))

    # -- the webhook's outbox ---------------------------------------------------------------------------------------

    def due_batches(self, now: float) -> list[Batch]:
        rows = self._archive._query(
            "SELECT id, attempts, next_attempt, last_error FROM watch_batches "
            "WHERE delivered_at IS NULL AND next_attempt <= ? ORDER BY id",
            (now,),
        )
        return [Batch(*r) for r in rows]

    def undelivered(self) -> list[Batch]:
        rows = self._archive._query(
            "SELECT id, attempts, next_attempt, last_error FROM watch_batches WHERE delivered_at IS NULL ORDER BY id"
        )
        return [Batch(*r) for r in rows]

    def batch_mentions(self, batch_id: int) -> list[Mention]:
        rows = self._archive._query(f"{_MENTION_SELECT} WHERE m.batch_id = ? ORDER BY m.id", (batch_id,))
        return [_mention(r) for r in rows]

    def delivered(self, batch_id: int) -> None:
        with self._archive._transaction() as db:
            db.execute(
                "UPDATE watch_batches SET delivered_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), "
                "attempts = attempts + 1, last_error = NULL WHERE id = ?",
                (batch_id,),
            )

    def failed(self, batch_id: int, error: str, next_attempt: float) -> None:
        with self._archive._transaction() as db:
            db.execute(
                "UPDATE watch_batches SET attempts = attempts + 1, last_error = ?, next_attempt = ? WHERE id = ?",
                (error, next_attempt, batch_id),
            )
