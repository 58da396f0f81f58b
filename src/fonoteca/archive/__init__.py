"""The archive: one SQLite file, and the only module in fonoteca that speaks SQL.

Everything else (ingest, transcription, search, trends, LLM, CLI, web) goes through `Archive`, and gets back the domain
models and enums of `fonoteca.archive.models` (importable from here too). The database runs in WAL mode with foreign
keys on; each write is its own transaction, so a killed process leaves the archive consistent. An episode's status
changes only along `TRANSITIONS`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum, StrEnum
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from fonoteca.archive.models import (
    TRANSITIONS,
    Analysis,
    Captions,
    DamagedTranscript,
    Episode,
    EpisodeKind,
    Message,
    Segment,
    Show,
    Source,
    SourceKind,
    Stats,
    Status,
    TimelineEntry,
)
from fonoteca.archive.schema import MIGRATIONS
from fonoteca.archive.vectors import VectorStore
from fonoteca.archive.watches import WatchStore
from fonoteca.errors import FonotecaError, NotFound, StorageError
from fonoteca.processes import pid_alive

__all__ = [
    "CLAIM_TIMEOUT_S",
    "TRANSITIONS",
    "UNCHANGED",
    "Analysis",
    "Archive",
    "Captions",
    "DamagedTranscript",
    "Episode",
    "EpisodeBusy",
    "EpisodeKind",
    "Message",
    "Segment",
    "Show",
    "Source",
    "SourceKind",
    "Stats",
    "Status",
    "TimelineEntry",
    "Unchanged",
    "episode_id_for",
    "slugify",
]

# A claim whose holder has not shown life for this long is taken over even when its pid cannot be checked (another
# host on a shared archive). Holders refresh it with every committed segment and during downloads.
CLAIM_TIMEOUT_S = 30 * 60


class Unchanged(Enum):
    """The default of an update's keyword: leave the column as it is (None would set it to NULL)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


class EpisodeBusy(FonotecaError):
    """Another process holds the episode: whatever this process meant to write to it would duplicate that work."""


def episode_id_for(show_source: str, guid: str) -> str:
    """A short id that stays the same however often the show is re-read or the archive rebuilt."""
    return hashlib.sha1(f"{show_source}\n{guid}".encode()).hexdigest()[:10]


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60] or "show"


class Archive:
    """One archive file, safe to share between threads (the web server).

    Writes go through one connection behind a lock, each in its own BEGIN IMMEDIATE transaction. Reads never wait for
    that lock: every thread reads through its own read-only connection, and each query is its own read transaction,
    so it sees everything committed before it started (WAL lets readers run beside the one writer)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"cannot open the archive at {self.path}: {exc}",
                "check that the folder exists and is writable, or choose another with --db / FONOTECA_HOME",
            ) from exc
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._thread_reader = threading.local()
        # Every thread's reader, so close() closes them all, and a finished thread's is closed when the next opens.
        self._readers: dict[threading.Thread, sqlite3.Connection] = {}
        self._readers_lock = threading.Lock()
        self.host = socket.gethostname()
        # The token tells apart two Archive objects of one process, and a new process that reused a dead one's pid.
        self.holder = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA cache_size=-65536")  # 64 MB: bulk indexing of a big archive stays in memory
            self._migrate()
        except sqlite3.Error as exc:
            raise _storage_error(exc, self.path) from exc

    # -- plumbing -----------------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
            self._db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise _storage_error(exc, self.path) from exc
                raise

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection, opened on its first read."""
        reader: sqlite3.Connection | None = getattr(self._thread_reader, "connection", None)
        if reader is not None:
            return reader
        # check_same_thread is off only so that close() may close it from whichever thread closes the archive.
        reader = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        reader.row_factory = sqlite3.Row
        reader.execute("PRAGMA query_only=ON")
        with self._readers_lock:
            for thread in [t for t in self._readers if not t.is_alive()]:
                self._readers.pop(thread).close()
            self._readers[threading.current_thread()] = reader
        self._thread_reader.connection = reader
        return reader

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        # In autocommit mode the statement is its own read transaction, over as soon as its rows are fetched.
        try:
            return self._reader().execute(sql, tuple(params)).fetchall()
        except sqlite3.OperationalError as exc:
            raise _storage_error(exc, self.path) from exc

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise FonotecaError(
                f"the archive at {self.path} was written by a newer fonoteca (schema {version})",
                "upgrade fonoteca to open it",
            )
        if version == len(MIGRATIONS):
            return
        # A migration that rebuilds a table drops the old one: with foreign keys on, that would delete every row
        # that refers to it. They are checked by hand before each migration commits instead. (The pragma cannot
        # change inside a transaction.)
        self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                with self._transaction() as db:
                    for statement in _split_sql(script):
                        db.execute(statement)
                    if broken := db.execute("PRAGMA foreign_key_check").fetchall():
                        raise FonotecaError(
                            f"upgrading the archive at {self.path} to schema {number} would break {len(broken)} "
                            f"references (first: {tuple(broken[0])}); nothing was changed",
                            "report this with a copy of the archive",
                        )
                    db.execute(f"PRAGMA user_version = {number}")
        finally:
            self._db.execute("PRAGMA foreign_keys=ON")

    @property
    def schema_version(self) -> int:
        return self._query("PRAGMA user_version")[0][0]

    @cached_property
    def watches(self) -> WatchStore:
        """Watched words, their mentions and the webhook's outbox (fonoteca.archive.watches)."""
        return WatchStore(self)

    @cached_property
    def vectors(self) -> VectorStore:
        """The passages' vectors of search by meaning (fonoteca.archive.vectors)."""
        return VectorStore(self)

    # -- shows --------------------------------------------------------------------------------------------------

    def add_show(
        self,
        *,
        title: str,
        source: str,
        source_kind: SourceKind,
        language: str | None | Unchanged = UNCHANGED,
        feed_language: str | None | Unchanged = UNCHANGED,
        description: str | Unchanged = UNCHANGED,
        link: str | Unchanged = UNCHANGED,
        image: str | Unchanged = UNCHANGED,
        credentials: str | None | Unchanged = UNCHANGED,
        captions: Captions | Unchanged = UNCHANGED,
    ) -> tuple[Show, bool]:
        """Create the show for `source`, or update the metadata given if it exists. Returns (show, created).

        `language` pins the language of its transcripts; `credentials` are the feed URL's user:password; `captions`
        which of a video platform's captions stand in for a transcription."""
        source_kind = _member(SourceKind, source_kind, "show source kind")
        if not isinstance(captions, Unchanged):
            captions = _member(Captions, captions, "captions choice")
        existing = self._query("SELECT id FROM shows WHERE source = ?", (source,))
        if existing:
            show_id = existing[0]["id"]
            self.update_show(
                show_id, title=title, language=language, feed_language=feed_language, description=description,
                link=link, image=image, credentials=credentials, captions=captions,
            )  # fmt: skip
            return self.get_show(show_id), False
        with self._transaction() as db:
            slug = _unique_slug(db, slugify(title))
            show_id = db.execute(
                "INSERT INTO shows (slug, title, source, source_kind, language, feed_language, description, link, "
                "image, credentials, captions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    slug, title, source, source_kind, _given(language, None), _given(feed_language, None),
                    _given(description, ""), _given(link, ""), _given(image, ""), _given(credentials, None),
                    _given(captions, Captions.CREATOR),
                ),
            ).lastrowid  # fmt: skip
        return self.get_show(show_id), True

    def update_show(
        self,
        show_id: int,
        *,
        title: str | Unchanged = UNCHANGED,
        language: str | None | Unchanged = UNCHANGED,
        feed_language: str | None | Unchanged = UNCHANGED,
        description: str | Unchanged = UNCHANGED,
        link: str | Unchanged = UNCHANGED,
        image: str | Unchanged = UNCHANGED,
        credentials: str | None | Unchanged = UNCHANGED,
        captions: Captions | Unchanged = UNCHANGED,
    ) -> None:
        """Change the show's metadata given; what is left UNCHANGED keeps its value."""
        # The column names are this method's own, never taken from a caller's keyword.
        assignments, values = _assignments({
            "title": title, "language": language, "feed_language": feed_language, "description": description,
            "link": link, "image": image, "credentials": credentials, "captions": captions,
        })  # fmt: skip
        if assignments:
            with self._transaction() as db:
                db.execute(f"UPDATE shows SET {assignments} WHERE id = ?", (*values, show_id))

    def mark_synced(self, show_id: int) -> None:
        """Record that the show's source was read just now."""
        with self._transaction() as db:
            db.execute("UPDATE shows SET synced_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?", (show_id,))

    def get_show(self, ref: int | str) -> Show:
        """A show by id, slug, source or (case-insensitive) title."""
        rows = self._query(
            "SELECT * FROM shows WHERE id = ? OR slug = ? OR source = ? OR lower(title) = lower(?)",
            (ref if isinstance(ref, int) or str(ref).isdigit() else -1, str(ref), str(ref), str(ref)),
        )
        if not rows:
            raise NotFound(f"no show called {ref!r}", "run `fonoteca shows` to see the archive's shows")
        return Show(**dict(rows[0]))

    def list_shows(self) -> list[Show]:
        return [Show(**dict(r)) for r in self._query("SELECT * FROM shows ORDER BY title COLLATE NOCASE")]

    # -- episodes -----------------------------------------------------------------------------------------------

    def upsert_episode(
        self,
        show: Show,
        *,
        guid: str,
        title: str,
        kind: EpisodeKind,
        published: str | None = None,
        duration: float | None = None,
        description: str = "",
        link: str = "",
        media_url: str | None = None,
        media_path: str | None = None,
        media_type: str | None = None,
        transcript_url: str | None = None,
        transcript_type: str | None = None,
        status: Status = Status.NEW,
        error: str | None = None,
        source: Source | None = None,
        language: str | None = None,
        image: str = "",
        number: int | None = None,
    ) -> tuple[Episode, bool]:
        """Add an episode unless the show already has one with this GUID. Returns (episode, created).

        A new episode may start at any status (a local file that does not decode is added as failed, with the
        `error`). An existing episode keeps its status and transcript; only the title, and the published date,
        description and link when given, are refreshed: metadata that the feed may correct."""
        kind = _member(EpisodeKind, kind, "episode kind")
        status = _member(Status, status, "episode status")
        source = _member(Source, source, "transcript source") if source is not None else None
        episode_id = episode_id_for(show.source, guid)
        if self._query("SELECT 1 FROM episodes WHERE id = ?", (episode_id,)):
            self.update_episode(
                episode_id,
                title=title,
                published=published or UNCHANGED,
                description=description or UNCHANGED,
                link=link or UNCHANGED,
                image=image or UNCHANGED,
                number=number if number is not None else UNCHANGED,
            )
            return self.get_episode(episode_id), False
        with self._transaction() as db:
            # Another process re-reading the same feed may insert it first: then it is simply not new here.
            created = db.execute(
                "INSERT INTO episodes (id, show_id, guid, title, kind, published, duration, description, link, "
                "media_url, media_path, media_type, transcript_url, transcript_type, status, error, source, language, "
                "image, number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    episode_id, show.id, guid, title, kind, published, duration, description, link, media_url,
                    media_path, media_type, transcript_url, transcript_type, status, error, source, language, image,
                    number,
                ),
            ).rowcount  # fmt: skip
        return self.get_episode(episode_id), bool(created)

    def update_episode(
        self,
        episode_id: str,
        *,
        title: str | Unchanged = UNCHANGED,
        published: str | None | Unchanged = UNCHANGED,
        description: str | Unchanged = UNCHANGED,
        link: str | Unchanged = UNCHANGED,
        media_url: str | None | Unchanged = UNCHANGED,
        media_path: str | None | Unchanged = UNCHANGED,
        media_type: str | None | Unchanged = UNCHANGED,
        transcript_url: str | None | Unchanged = UNCHANGED,
        transcript_type: str | None | Unchanged = UNCHANGED,
        language: str | None | Unchanged = UNCHANGED,
        image: str | Unchanged = UNCHANGED,
        number: int | None | Unchanged = UNCHANGED,
    ) -> None:
        """Change the episode's metadata given; what is left UNCHANGED keeps its value. Its status changes only
        through the methods that check the move (set_status, mark_downloaded, start_transcription...)."""
        # The column names are this method's own, never taken from a caller's keyword.
        assignments, values = _assignments({
            "title": title, "published": published, "description": description, "link": link,
            "media_url": media_url, "media_path": media_path, "media_type": media_type,
            "transcript_url": transcript_url, "transcript_type": transcript_type, "language": language,
            "image": image, "number": number,
        })  # fmt: skip
        if assignments:
            with self._transaction() as db:
                db.execute(
                    f"UPDATE episodes SET {assignments}, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
                    "WHERE id = ?",
                    (*values, episode_id),
                )

    def _move(self, db: sqlite3.Connection, episode_id: str, target: Status) -> bool:
        """Set the episode's status inside the caller's transaction, if TRANSITIONS allows the move from its
        current one. False when there is no such episode (another process deleted it); a move the table does not
        allow is a programming error."""
        row = db.execute("SELECT status FROM episodes WHERE id = ?", (episode_id,)).fetchone()
        if row is None:
            return False
        current = Status(row["status"])
        if not current.can_become(target):
            allowed = ", ".join(sorted(TRANSITIONS[current]))
            raise ValueError(f"episode {episode_id} cannot go from {current} to {target} (from {current}: {allowed})")
        db.execute(
            "UPDATE episodes SET status = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?",
            (target, episode_id),
        )
        return True

    def set_status(self, episode_id: str, status: Status, error: str | None = None) -> None:
        """Move the episode to `status` (checked against TRANSITIONS), with `error` saying why when it failed."""
        status = _member(Status, status, "episode status")
        with self._transaction() as db:
            if self._move(db, episode_id, status):
                db.execute("UPDATE episodes SET error = ? WHERE id = ?", (error, episode_id))

    def mark_downloaded(self, episode_id: str, media_path: str) -> None:
        with self._transaction() as db:
            if self._move(db, episode_id, Status.DOWNLOADED):
                db.execute("UPDATE episodes SET media_path = ?, error = NULL WHERE id = ?", (media_path, episode_id))

    def start_transcription(self, episode_id: str, duration: float) -> None:
        with self._transaction() as db:
            if self._move(db, episode_id, Status.TRANSCRIBING):
                db.execute("UPDATE episodes SET duration = ?, error = NULL WHERE id = ?", (duration, episode_id))

    def finish_transcription(
        self,
        episode_id: str,
        *,
        language: str | None,
        engine: str,
        model: str,
        duration: float,
        dropped: Mapping[str, int] | None = None,
    ) -> None:
        """The segments appended while transcribing are the whole transcript: the episode is done. `dropped` is what
        the quality guard dropped, by reason (of a resumed run, what it dropped after the segments it resumed from)."""
        with self._transaction() as db:
            if self._move(db, episode_id, Status.DONE):
                db.execute(
                    "UPDATE episodes SET error = NULL, source = ?, language = ?, engine = ?, model = ?, duration = ?, "
                    "dropped_segments = ? WHERE id = ?",
                    (Source.TRANSCRIBED, language, engine, model, duration, _counts_json(dropped), episode_id),
                )

    def requeue_failed(self, episode_id: str) -> bool:
        """A failed episode back to 'new', forgetting its old media, e.g. when the feed fixed its enclosure.

        Returns False (and changes nothing) when the episode is not failed any more."""
        with self._transaction() as db:
            row = db.execute("SELECT status FROM episodes WHERE id = ?", (episode_id,)).fetchone()
            if row is None or row["status"] != Status.FAILED:
                return False
            self._move(db, episode_id, Status.NEW)
            db.execute("UPDATE episodes SET error = NULL, media_path = NULL WHERE id = ?", (episode_id,))
            return True

    # -- claims: one process per episode ---------------------------------------------------------------------------

    def claim_episode(self, episode_id: str) -> bool:
        """Take the episode for this process; False when another live process holds it.

        A claim left by a process that died (its pid is gone on this host, or it has shown no life for
        CLAIM_TIMEOUT_S) is taken over: the work it committed is resumed, not repeated."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT * FROM claims WHERE episode_id = ?", (episode_id,)).fetchone()
            if row and row["holder"] != self.holder and not self._abandoned(row, now):
                return False
            db.execute(
                "INSERT INTO claims (episode_id, holder, host, pid, heartbeat) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (episode_id) DO UPDATE SET holder = excluded.holder, host = excluded.host, "
                "pid = excluded.pid, heartbeat = excluded.heartbeat, "
                "claimed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
                (episode_id, self.holder, self.host, os.getpid(), now),
            )
        return True

    def release_episode(self, episode_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM claims WHERE episode_id = ? AND holder = ?", (episode_id, self.holder))

    def heartbeat(self, episode_id: str) -> None:
        """Show that the claim on the episode is still being worked on (a long download commits nothing)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE claims SET heartbeat = ? WHERE episode_id = ? AND holder = ?",
                (time.time(), episode_id, self.holder),
            )

    def _abandoned(self, claim: sqlite3.Row, now: float) -> bool:
        if claim["heartbeat"] < now - CLAIM_TIMEOUT_S:
            return True
        return claim["host"] == self.host and not pid_alive(claim["pid"])

    def _refuse_if_held_elsewhere(self, db: sqlite3.Connection, episode_id: str) -> None:
        row = db.execute("SELECT * FROM claims WHERE episode_id = ?", (episode_id,)).fetchone()
        if row and row["holder"] != self.holder and not self._abandoned(row, time.time()):
            raise EpisodeBusy(
                f"episode {episode_id} is being processed by another fonoteca process (pid {row['pid']} on "
                f"{row['host']})",
                "let it finish; its transcript is the one kept",
            )

    _EPISODE_SELECT = "SELECT e.*, s.title AS show_title FROM episodes e JOIN shows s ON s.id = e.show_id"

    def get_episode(self, ref: str) -> Episode:
        """An episode by id or by a unique prefix of its id."""
        ref = str(ref).strip()
        rows = self._query(f"{self._EPISODE_SELECT} WHERE e.id = ?", (ref,))
        if not rows and len(ref) >= 4:
            rows = self._query(f"{self._EPISODE_SELECT} WHERE e.id LIKE ? LIMIT 2", (ref + "%",))
            if len(rows) > 1:
                raise NotFound(f"episode id {ref!r} is ambiguous", "type more characters of the id")
        if not rows:
            raise NotFound(f"no episode with id {ref!r}", "run `fonoteca episodes` to see the ids")
        return Episode(**dict(rows[0]))

    def episodes_by_ids(self, ids: Iterable[str]) -> dict[str, Episode]:
        """The episodes of these exact ids (a search's hits), one query per 500; ids not in the archive are absent."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Episode] = {}
        for chunk in (wanted[i : i + 500] for i in range(0, len(wanted), 500)):
            marks = ", ".join("?" for _ in chunk)
            for row in self._query(f"{self._EPISODE_SELECT} WHERE e.id IN ({marks})", chunk):
                found[row["id"]] = Episode(**dict(row))
        return found

    def list_episodes(
        self,
        show_id: int | None = None,
        *,
        status: Status | Iterable[Status] | None = None,
        newest_first: bool = False,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> list[Episode]:
        where, params = [], []
        if show_id is not None:
            where.append("e.show_id = ?")
            params.append(show_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"e.status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        if date_from:
            where.append("e.published >= ?")
            params.append(date_from)
        if date_to:
            where.append("substr(e.published, 1, 10) <= ?")
            params.append(date_to)
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"{self._EPISODE_SELECT} {'WHERE ' + ' AND '.join(where) if where else ''} "
            f"ORDER BY e.published IS NULL, e.published {order}, e.added_at {order}, e.id"
        )
        return [Episode(**dict(r)) for r in self._query(sql, params)]

    def timeline(self, show_id: int | None = None) -> list[TimelineEntry]:
        """The transcribed episodes in date order, with only what a chart over the history needs (a word's trend
        reads them all on every request: a tenth of the time of list_episodes).

        Each thread keeps the last ones it read until the archive changes: SQLite's data_version changes whenever
        another connection (any process's) commits, and a reader connection never writes itself. It is read before
        the rows, so a commit between the two only makes the next call read them again, never keeps stale rows."""
        reader = self._reader()
        version = reader.execute("PRAGMA data_version").fetchone()[0]
        cached: tuple[sqlite3.Connection, int, dict[int | None, list[TimelineEntry]]] | None = getattr(
            self._thread_reader, "timelines", None
        )
        if cached is None or cached[0] is not reader or cached[1] != version:
            cached = (reader, version, {})
            self._thread_reader.timelines = cached
        if show_id not in cached[2]:
            where, params = ("AND e.show_id = ?", (show_id,)) if show_id is not None else ("", ())
            rows = self._query(
                "SELECT e.id, e.title, e.published, e.duration, e.kind, e.show_id, i.words FROM episodes e "
                f"LEFT JOIN indexed i ON i.episode_id = e.id WHERE e.status = 'done' {where} "
                "ORDER BY e.published IS NULL, e.published, e.added_at, e.id",
                params,
            )
            cached[2][show_id] = [
                TimelineEntry(r[0], r[1], r[2], r[3], EpisodeKind(r[4]), r[5], r[6] or 0) for r in rows
            ]
        return list(cached[2][show_id])  # a copy: the caller may reorder or extend its list; the entries are frozen

    def delete_episode(self, episode_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM episodes WHERE id = ?", (episode_id,))

    # -- segments -----------------------------------------------------------------------------------------------

    def append_segments(self, episode_id: str, segments: Iterable[Segment], *, at: int | None = None) -> int:
        """Commit segments after those already stored (resumable transcription). Returns how many were added.

        `at` is the index the writer expects its first segment to get: if the episode has more segments than that,
        another process wrote them, and appending would duplicate the transcript, so EpisodeBusy is raised. Writing
        to an episode another live process has claimed is refused the same way."""
        with self._transaction() as db:
            self._refuse_if_held_elsewhere(db, episode_id)
            next_idx = db.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM segments WHERE episode_id = ?", (episode_id,)
            ).fetchone()[0]
            if at is not None and at != next_idx:
                raise EpisodeBusy(
                    f"episode {episode_id} has {next_idx} segments where this process wrote {at}: another process "
                    "is transcribing it",
                    "let it finish; `fonoteca check` finds transcripts damaged by earlier versions",
                )
            added = _insert_segments(db, episode_id, segments, first_idx=next_idx)
            if added:
                _forget_vectors(db, episode_id)
                db.execute(
                    "UPDATE episodes SET transcript_rev = transcript_rev + 1, "
                    "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?",
                    (episode_id,),
                )
                db.execute(
                    "UPDATE claims SET heartbeat = ? WHERE episode_id = ? AND holder = ?",
                    (time.time(), episode_id, self.holder),
                )
        return added

    def replace_transcript(
        self,
        episode_id: str,
        segments: Iterable[Segment],
        *,
        source: Source,
        language: str | None = None,
        duration: float | None = None,
        engine: str | None = None,
        model: str | None = None,
        dropped: Mapping[str, int] | None = None,
    ) -> int:
        """Swap in a whole transcript in one commit (an import, a text post's paragraphs, a re-transcription), and
        mark the episode done with where the transcript came from. Returns how many segments it has.

        `duration` None keeps the one the episode has; `engine` and `model` are Whisper's (None for imports)."""
        source = _member(Source, source, "transcript source")
        with self._transaction() as db:
            self._refuse_if_held_elsewhere(db, episode_id)
            if not self._move(db, episode_id, Status.DONE):
                return 0
            db.execute("DELETE FROM segments WHERE episode_id = ?", (episode_id,))
            count = _insert_segments(db, episode_id, segments, first_idx=0)
            _forget_vectors(db, episode_id)
            db.execute(
                "UPDATE episodes SET transcript_rev = transcript_rev + 1, error = NULL, source = ?, language = ?, "
                "duration = COALESCE(?, duration), engine = ?, model = ?, dropped_segments = ? WHERE id = ?",
                (source, language, duration, engine, model, _counts_json(dropped), episode_id),
            )
        return count

    def segments(
        self, episode_id: str, *, words: bool = True, first: int = 0, last: int | None = None
    ) -> list[Segment]:
        """The episode's segments in order, from index `first` to `last` (inclusive; None: to the end); `words=False`
        leaves out their word timestamps (None), which a page of lines never shows and whose JSON is most of the time
        of reading a long transcript that has them."""
        columns = "*" if words else "episode_id, idx, start, end, text, NULL AS words, speaker"
        rows = self._query(
            f"SELECT {columns} FROM segments WHERE episode_id = ? AND idx BETWEEN ? AND ? ORDER BY idx",
            (episode_id, first, last if last is not None else 2**62),
        )
        return [_segment(r) for r in rows]

    def last_segment_end(self, episode_id: str) -> float:
        rows = self._query("SELECT MAX(end) FROM segments WHERE episode_id = ?", (episode_id,))
        return float(rows[0][0] or 0.0)

    def segment_count(self, episode_id: str) -> int:
        return self._query("SELECT COUNT(*) FROM segments WHERE episode_id = ?", (episode_id,))[0][0]

    def transcript_text(self, episode_id: str) -> str:
        return "\n".join(s.text.strip() for s in self.segments(episode_id))

    def damaged_transcripts(self) -> list[DamagedTranscript]:
        """Episodes with repeated segments (same start and text), or transcribed segments that go back in time by more
        than half a second: the mark of two processes having transcribed the episode at once. Text episodes and
        imported transcripts may legitimately repeat a paragraph or overlap cues, so only duplicates of timed
        segments count for imports, and overlaps only for Whisper's own transcripts."""
        rows = self._query(
            """
            WITH ordered AS (
                SELECT s.episode_id, s.start, s.text, e.source,
                       LAG(s.end) OVER (PARTITION BY s.episode_id ORDER BY s.idx) AS previous_end
                FROM segments s JOIN episodes e ON e.id = s.episode_id
                WHERE e.kind != 'text'
            ),
            repeats AS (
                SELECT episode_id, COUNT(*) - 1 AS extra FROM ordered
                GROUP BY episode_id, start, text HAVING COUNT(*) > 1
            ),
            damage AS (
                SELECT episode_id, SUM(extra) AS duplicated, 0 AS overlapping FROM repeats GROUP BY episode_id
                UNION ALL
                SELECT episode_id, 0, COUNT(*) FROM ordered
                WHERE source = 'transcribed' AND start < previous_end - 0.5 GROUP BY episode_id
            )
            SELECT d.episode_id, s.title AS show_title, e.title, SUM(d.duplicated), SUM(d.overlapping)
            FROM damage d JOIN episodes e ON e.id = d.episode_id JOIN shows s ON s.id = e.show_id
            GROUP BY d.episode_id ORDER BY s.title, e.published, e.id
            """
        )
        return [DamagedTranscript(*row) for row in rows]

    # -- statistics ---------------------------------------------------------------------------------------------

    def stats(self, show_id: int | None = None) -> Stats:
        """The seed's header: how many episodes are transcribed and how much audio time that is."""
        rows = self._query(
            "SELECT e.show_id, COUNT(*) AS n, COALESCE(SUM(COALESCE(e.duration, "
            "(SELECT MAX(end) FROM segments WHERE episode_id = e.id), 0)), 0) AS secs "
            "FROM episodes e WHERE e.status = 'done' AND (? IS NULL OR e.show_id = ?) GROUP BY e.show_id",
            (show_id, show_id),
        )
        per_show = {r["show_id"]: (r["n"], float(r["secs"])) for r in rows}
        shows = [s for s in self.list_shows() if show_id is None or s.id == show_id]
        by_show = [(s, *per_show.get(s.id, (0, 0.0))) for s in shows]
        return Stats(
            episodes=sum(n for _, n, _ in by_show),
            seconds=sum(secs for _, _, secs in by_show),
            by_show=by_show,
        )

    def episodes_per_show(self, show_id: int | None = None) -> dict[int, int]:
        """{show id: how many episodes it has, whatever their status}, for every show (or the one given), in one
        query: a show without episodes is absent, so read it with `.get(show.id, 0)`."""
        rows = self._query(
            "SELECT show_id, COUNT(*) FROM episodes WHERE ? IS NULL OR show_id = ? GROUP BY show_id",
            (show_id, show_id),
        )
        return {r[0]: r[1] for r in rows}

    def status_counts(self) -> dict[Status, int]:
        rows = self._query("SELECT status, COUNT(*) AS n FROM episodes GROUP BY status")
        return {Status(r["status"]): r["n"] for r in rows}

    # -- search bookkeeping -------------------------------------------------------------------------------------

    def episodes_to_index(self) -> list[tuple[str, int]]:
        """(episode_id, transcript_rev) of finished episodes whose index entry is missing or stale."""
        rows = self._query(
            "SELECT e.id, e.transcript_rev FROM episodes e LEFT JOIN indexed i ON i.episode_id = e.id "
            "WHERE e.status = 'done' AND (i.transcript_rev IS NULL OR i.transcript_rev != e.transcript_rev)"
        )
        return [(r[0], r[1]) for r in rows]

    def indexed_episodes_gone(self) -> list[str]:
        """Episodes the index holds that are no longer finished (deleted ones vanish from `indexed` by cascade)."""
        rows = self._query(
            "SELECT i.episode_id FROM indexed i JOIN episodes e ON e.id = i.episode_id WHERE e.status != 'done'"
        )
        return [r[0] for r in rows]

    def mark_indexed(self, episode_id: str, transcript_rev: int, term_counts: dict[str, int]) -> None:
        """Record that the index holds this revision, with the episode's word counts for trends, in one commit."""
        self.mark_indexed_many([(episode_id, transcript_rev, term_counts)])

    def mark_indexed_many(self, entries: list[tuple[str, int, dict[str, int]]]) -> None:
        """mark_indexed for a batch of episodes in one transaction.

        The rows of the whole batch are inserted in key order, so SQLite touches each B-tree page once per batch
        instead of once per row: this is most of the indexing time of a large archive."""
        if not entries:
            return
        ids = [episode_id for episode_id, _, _ in entries]
        with self._transaction() as db:
            known = set()
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                marks = ",".join("?" * len(chunk))
                known |= {
                    r[0] for r in db.execute(f"SELECT episode_id FROM indexed WHERE episode_id IN ({marks})", chunk)
                }
            for episode_id in known:  # only re-indexed episodes have old counts to remove
                db.execute("DELETE FROM term_counts WHERE episode_id = ?", (episode_id,))
            rows = sorted(
                ((term, episode_id, count) for episode_id, _, counts in entries for term, count in counts.items()),
                key=itemgetter(0),  # by term alone: comparing whole tuples costs more than it gains
            )
            db.executemany("INSERT INTO term_counts (term, episode_id, count) VALUES (?, ?, ?)", rows)
            db.executemany(
                "INSERT INTO indexed (episode_id, transcript_rev, words) VALUES (?, ?, ?) "
                "ON CONFLICT (episode_id) DO UPDATE SET transcript_rev = excluded.transcript_rev, "
                "words = excluded.words",
                [(episode_id, rev, _word_total(counts)) for episode_id, rev, counts in entries],
            )

    def fill_word_totals(self) -> int:
        """Give the episodes indexed before word totals were stored (schema 6) theirs, summed from their stored word
        counts: the same number indexing stores, without reading a transcript again. One small query when there are
        none; returns how many were filled."""
        if not self._query("SELECT 1 FROM indexed WHERE words IS NULL LIMIT 1"):
            return 0
        with self._transaction() as db:
            # A pair is stored as "a_b" and a word never holds "_" (fonoteca.text.words): the words are the rest.
            return db.execute(
                "UPDATE indexed SET words = (SELECT COALESCE(SUM(count), 0) FROM term_counts t "
                "WHERE t.episode_id = indexed.episode_id AND instr(t.term, '_') = 0) WHERE words IS NULL"
            ).rowcount

    def unmark_indexed(self, episode_id: str | None = None) -> None:
        """Forget index bookkeeping for one episode, or for all (`fonoteca reindex`)."""
        with self._transaction() as db:
            if episode_id is None:
                db.execute("DELETE FROM indexed")
                db.execute("DELETE FROM term_counts")
            else:
                db.execute("DELETE FROM indexed WHERE episode_id = ?", (episode_id,))
                db.execute("DELETE FROM term_counts WHERE episode_id = ?", (episode_id,))

    def indexed_ids(self) -> set[str]:
        return {r[0] for r in self._query("SELECT episode_id FROM indexed")}

    def indexed_segment_count(self) -> int:
        """How many documents the search index should hold: one per segment of each indexed episode."""
        return self._query("SELECT COUNT(*) FROM segments s JOIN indexed i ON i.episode_id = s.episode_id")[0][0]

    def term_counts(self, term: str, show_id: int | None = None) -> dict[str, int]:
        """{episode_id: count} for one folded word or word pair."""
        if show_id is None:
            rows = self._query("SELECT episode_id, count FROM term_counts WHERE term = ?", (term,))
        else:
            rows = self._query(
                "SELECT t.episode_id, t.count FROM term_counts t JOIN episodes e ON e.id = t.episode_id "
                "WHERE t.term = ? AND e.show_id = ?",
                (term, show_id),
            )
        return {r[0]: r[1] for r in rows}

    # -- LLM analyses -------------------------------------------------------------------------------------------

    def get_analysis(self, episode_id: str, kind: str, params: str = "") -> Analysis | None:
        rows = self._query(
            "SELECT * FROM analyses WHERE episode_id = ? AND kind = ? AND params = ?", (episode_id, kind, params)
        )
        if not rows:
            return None
        data = dict(rows[0])
        data["result"] = json.loads(data["result"])
        return Analysis(**data)

    def list_analyses(self, episode_id: str) -> list[Analysis]:
        rows = self._query("SELECT * FROM analyses WHERE episode_id = ? ORDER BY kind, params", (episode_id,))
        return [Analysis(**{**dict(r), "result": json.loads(r["result"])}) for r in rows]

    def save_analysis(self, analysis: Analysis) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO analyses (episode_id, kind, params, model, prompt_version, transcript_rev, "
                "result) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    analysis.episode_id,
                    analysis.kind,
                    analysis.params,
                    analysis.model,
                    analysis.prompt_version,
                    analysis.transcript_rev,
                    json.dumps(analysis.result, ensure_ascii=False),
                ),
            )

    # -- conversations ------------------------------------------------------------------------------------------

    def create_conversation(
        self, conversation_id: str, show_id: int | None = None, episode_id: str | None = None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO conversations (id, show_id, episode_id) VALUES (?, ?, ?)",
                (conversation_id, show_id, episode_id),
            )

    def conversation_scope(self, conversation_id: str) -> tuple[int | None, str | None]:
        """The show and episode a conversation was started about ((None, None): the whole archive, or no such
        conversation)."""
        rows = self._query("SELECT show_id, episode_id FROM conversations WHERE id = ?", (conversation_id,))
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def add_message(
        self, conversation_id: str, role: str, content: str, citations: list[dict[str, Any]] | None = None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO messages (conversation_id, role, content, citations) VALUES (?, ?, ?, ?)",
                (conversation_id, role, content, json.dumps(citations, ensure_ascii=False) if citations else None),
            )

    def messages(self, conversation_id: str) -> list[Message]:
        rows = self._query(
            "SELECT role, content, citations, created_at FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        return [
            Message(r["role"], r["content"], json.loads(r["citations"]) if r["citations"] else None, r["created_at"])
            for r in rows
        ]


def _segment(row: sqlite3.Row) -> Segment:
    words = json.loads(row["words"]) if row["words"] else None
    return Segment(
        start=row["start"],
        end=row["end"],
        text=row["text"],
        words=[tuple(w) for w in words] if words else None,
        speaker=row["speaker"],
        idx=row["idx"],
        episode_id=row["episode_id"],
    )


def _word_total(term_counts: dict[str, int]) -> int:
    """The words an episode has, from its counts of folded words and word pairs ("a_b": see fill_word_totals)."""
    return sum(count for term, count in term_counts.items() if "_" not in term)


def _counts_json(counts: Mapping[str, int] | None) -> str | None:
    return json.dumps(dict(sorted(counts.items()))) if counts else None


def _insert_segments(db: sqlite3.Connection, episode_id: str, segments: Iterable[Segment], *, first_idx: int) -> int:
    """Insert `segments` numbered from `first_idx`, in one executemany (a long imported transcript has thousands);
    returns how many."""
    rows = [
        (episode_id, idx, seg.start, seg.end, seg.text, _words_json(seg.words), seg.speaker)
        for idx, seg in enumerate(segments, start=first_idx)
    ]
    db.executemany(
        "INSERT INTO segments (episode_id, idx, start, end, text, words, speaker) VALUES (?,?,?,?,?,?,?)", rows
    )
    return len(rows)


def _forget_vectors(db: sqlite3.Connection, episode_id: str) -> None:
    """A changed transcript's passages are no longer its own. Left in place, they would be found by meaning, with the
    new transcript's text at their segment numbers, by every process that loaded them, until they are embedded again:
    their count changes the vectors' stamp, so those processes read the vectors again."""
    db.execute("DELETE FROM vectors WHERE episode_id = ?", (episode_id,))


def _words_json(words: list[tuple[float, float, str]] | None) -> str | None:
    if not words:
        return None
    return json.dumps([[round(s, 2), round(e, 2), w] for s, e, w in words], ensure_ascii=False)


def _unique_slug(db: sqlite3.Connection, base: str) -> str:
    slug, n = base, 2
    while db.execute("SELECT 1 FROM shows WHERE slug = ?", (slug,)).fetchone():
        slug, n = f"{base}-{n}", n + 1
    return slug


_Member = TypeVar("_Member", bound=StrEnum)


def _member(enum: type[_Member], value: str, what: str) -> _Member:
    """The enum member for `value`: a value outside it is a programming error, named here instead of surfacing as a
    failed CHECK constraint (which would read as a damaged archive)."""
    try:
        return enum(value)
    except ValueError:
        raise ValueError(f"unknown {what} {value!r}; one of {', '.join(enum)}") from None


def _assignments(columns: dict[str, object]) -> tuple[str, list[object]]:
    """("a = ?, b = ?", [values]) for the columns whose value is not UNCHANGED."""
    changed = {name: value for name, value in columns.items() if value is not UNCHANGED}
    return ", ".join(f"{name} = ?" for name in changed), list(changed.values())


_Value = TypeVar("_Value")


def _given(value: _Value | Unchanged, default: _Value) -> _Value:
    return default if value is UNCHANGED else value


def _split_sql(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _storage_error(exc: sqlite3.Error, path: Path) -> StorageError:
    text = str(exc).lower()
    if "disk" in text and ("full" in text or "i/o" in text):
        hint = "free some disk space (or move the archive with FONOTECA_HOME) and run the command again"
    elif "readonly" in text or "read-only" in text or "permission" in text or "unable to open" in text:
        hint = "make the data folder writable, or choose another with --db / FONOTECA_HOME"
    elif "locked" in text:
        hint = "another fonoteca process is writing; wait for it to finish and try again"
    else:
        hint = "the archive file may be damaged; restore it from a backup or choose another with --db"
    return StorageError(f"archive error at {path}: {exc}", hint)
