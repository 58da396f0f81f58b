"""The archive: one SQLite file, and the only module in fonoteca that speaks SQL.

Everything else (ingest, transcription, search, trends, LLM, CLI, web) goes through `Archive`. The database runs in WAL
mode with foreign keys on; each write is its own transaction, so a killed process leaves the archive consistent.
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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from operator import itemgetter
from pathlib import Path
from typing import Any

from fonoteca.archive.schema import MIGRATIONS
from fonoteca.errors import FonotecaError, NotFound, StorageError

STATUSES = ("new", "downloaded", "transcribing", "done", "failed")
SOURCES = ("transcribed", "publisher", "sidecar", "text")
# A claim whose holder has not shown life for this long is taken over even when its pid cannot be checked (another
# host on a shared archive). Holders refresh it with every committed segment and during downloads.
CLAIM_TIMEOUT_S = 30 * 60


@dataclass
class Show:
    id: int
    slug: str
    title: str
    source: str
    source_kind: str
    language: str | None = None
    feed_language: str | None = None
    description: str = ""
    link: str = ""
    image: str = ""
    added_at: str = ""
    synced_at: str | None = None
    credentials: str | None = field(default=None, repr=False)  # the feed URL's user:password: never shown

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "credentials"}


@dataclass(frozen=True)
class TimelineEntry:
    """An episode as a point of the show's history (see Archive.timeline)."""

    id: str
    title: str
    published: str | None
    duration: float | None
    kind: str

    @property
    def date(self) -> str | None:
        return self.published[:10] if self.published else None

    @property
    def hours(self) -> float:
        """Hours of audio (none for a text episode, whose mentions per hour would mean nothing)."""
        return (self.duration or 0.0) / 3600 if self.kind != "text" else 0.0


@dataclass
class Episode:
    id: str
    show_id: int
    guid: str
    title: str
    kind: str
    published: str | None = None
    duration: float | None = None
    media_url: str | None = None
    media_path: str | None = None
    media_type: str | None = None
    description: str = ""
    link: str = ""
    transcript_url: str | None = None
    transcript_type: str | None = None
    status: str = "new"
    error: str | None = None
    source: str | None = None
    language: str | None = None
    engine: str | None = None
    model: str | None = None
    transcript_rev: int = 0
    added_at: str = ""
    updated_at: str = ""
    show_title: str = ""  # joined from shows, for listings

    @property
    def date(self) -> str | None:
        return self.published[:10] if self.published else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["show"] = data.pop("show_title")
        data["date"] = self.date
        return data


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[tuple[float, float, str]] | None = None
    speaker: str | None = None
    idx: int = -1
    episode_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "idx": self.idx,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "speaker": self.speaker,
            "words": [list(w) for w in self.words] if self.words else None,
        }


@dataclass(frozen=True)
class DamagedTranscript:
    """An episode whose segments repeat or go back in time: what two transcriptions of it at once leave behind."""

    episode_id: str
    show_title: str
    title: str
    duplicated: int  # segments whose start and text another segment of the episode already has
    overlapping: int  # transcribed segments that start before the previous one ended


@dataclass
class Stats:
    episodes: int  # transcribed (done) episodes
    seconds: float  # audio time transcribed
    words: int = 0
    by_show: list[tuple[Show, int, float]] = field(default_factory=list)


@dataclass
class Analysis:
    episode_id: str
    kind: str
    params: str
    model: str
    prompt_version: str
    transcript_rev: int
    result: Any
    created_at: str = ""


@dataclass
class Message:
    role: str
    content: str
    citations: list[dict[str, Any]] | None = None
    created_at: str = ""


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
    """A connection to one archive file. Safe to share between threads (the web server) behind its own lock."""

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
        with self._lock:
            self._db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
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

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise FonotecaError(
                f"the archive at {self.path} was written by a newer fonoteca (schema {version})",
                "upgrade fonoteca to open it",
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction() as db:
                for statement in _split_sql(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return self._query("PRAGMA user_version")[0][0]

    # -- shows --------------------------------------------------------------------------------------------------

    def add_show(self, *, title: str, source: str, source_kind: str, **fields: Any) -> tuple[Show, bool]:
        """Create the show for `source`, or update its metadata if it exists. Returns (show, created)."""
        existing = self._query("SELECT id FROM shows WHERE source = ?", (source,))
        if existing:
            show_id = existing[0]["id"]
            self.update_show(show_id, title=title, **fields)
            return self.get_show(show_id), False
        slug = self._unique_slug(slugify(title))
        columns = ["slug", "title", "source", "source_kind", *fields]
        with self.transaction() as db:
            cur = db.execute(
                f"INSERT INTO shows ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                (slug, title, source, source_kind, *fields.values()),
            )
            show_id = cur.lastrowid
        return self.get_show(show_id), True

    def _unique_slug(self, base: str) -> str:
        slug, n = base, 2
        while self._query("SELECT 1 FROM shows WHERE slug = ?", (slug,)):
            slug, n = f"{base}-{n}", n + 1
        return slug

    def update_show(self, show_id: int, **fields: Any) -> None:
        if not fields:
            return
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as db:
            db.execute(f"UPDATE shows SET {assignments} WHERE id = ?", (*fields.values(), show_id))

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

    def delete_show(self, show_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM shows WHERE id = ?", (show_id,))

    # -- episodes -----------------------------------------------------------------------------------------------

    def upsert_episode(self, show: Show, *, guid: str, title: str, kind: str, **fields: Any) -> tuple[Episode, bool]:
        """Add an episode unless the show already has one with this GUID. Returns (episode, created).

        An existing episode keeps its status and transcript; only metadata that the feed may correct is refreshed.
        """
        _check_columns(fields, allow_status=True)
        episode_id = episode_id_for(show.source, guid)
        if self._query("SELECT 1 FROM episodes WHERE id = ?", (episode_id,)):
            refreshable = {k: v for k, v in fields.items() if k in ("description", "link", "published") and v}
            if refreshable:
                self.update_episode(episode_id, title=title, **refreshable)
            return self.get_episode(episode_id), False
        columns = ["id", "show_id", "guid", "title", "kind", *fields]
        with self.transaction() as db:
            # Another process re-reading the same feed may insert it first: then it is simply not new here.
            created = db.execute(
                f"INSERT INTO episodes ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
                "ON CONFLICT DO NOTHING",
                (episode_id, show.id, guid, title, kind, *fields.values()),
            ).rowcount
        return self.get_episode(episode_id), bool(created)

    def update_episode(self, episode_id: str, **fields: Any) -> None:
        """Change an episode's metadata. Its status changes only through the methods that check it (set_status...)."""
        if not fields:
            return
        _check_columns(fields, allow_status=False)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as db:
            db.execute(
                f"UPDATE episodes SET {assignments}, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?",
                (*fields.values(), episode_id),
            )

    def _set_episode(self, episode_id: str, status: str, **fields: Any) -> None:
        _check_status(status)
        assignments = "".join(f", {name} = ?" for name in fields)
        with self.transaction() as db:
            db.execute(
                f"UPDATE episodes SET status = ?{assignments}, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
                "WHERE id = ?",
                (status, *fields.values(), episode_id),
            )

    def set_status(self, episode_id: str, status: str, error: str | None = None) -> None:
        self._set_episode(episode_id, status, error=error)

    def mark_downloaded(self, episode_id: str, media_path: str) -> None:
        self._set_episode(episode_id, "downloaded", media_path=media_path, error=None)

    def start_transcription(self, episode_id: str, duration: float) -> None:
        self._set_episode(episode_id, "transcribing", error=None, duration=duration)

    def finish_transcription(
        self, episode_id: str, *, language: str | None, engine: str, model: str, duration: float
    ) -> None:
        self._set_episode(
            episode_id, "done", error=None, source="transcribed", language=language, engine=engine, model=model,
            duration=duration,
        )  # fmt: skip

    def requeue_failed(self, episode_id: str) -> bool:
        """A failed episode back to 'new', forgetting its old media, e.g. when the feed fixed its enclosure.

        Returns False (and changes nothing) when the episode is not failed any more."""
        with self.transaction() as db:
            return bool(
                db.execute(
                    "UPDATE episodes SET status = 'new', error = NULL, media_path = NULL, "
                    "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ? AND status = 'failed'",
                    (episode_id,),
                ).rowcount
            )

    # -- claims: one process per episode ---------------------------------------------------------------------------

    def claim_episode(self, episode_id: str) -> bool:
        """Take the episode for this process; False when another live process holds it.

        A claim left by a process that died (its pid is gone on this host, or it has shown no life for
        CLAIM_TIMEOUT_S) is taken over: the work it committed is resumed, not repeated."""
        now = time.time()
        with self.transaction() as db:
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
        with self.transaction() as db:
            db.execute("DELETE FROM claims WHERE episode_id = ? AND holder = ?", (episode_id, self.holder))

    def heartbeat(self, episode_id: str) -> None:
        """Show that the claim on the episode is still being worked on (a long download commits nothing)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE claims SET heartbeat = ? WHERE episode_id = ? AND holder = ?",
                (time.time(), episode_id, self.holder),
            )

    def _abandoned(self, claim: sqlite3.Row, now: float) -> bool:
        if claim["heartbeat"] < now - CLAIM_TIMEOUT_S:
            return True
        return claim["host"] == self.host and not _pid_alive(claim["pid"])

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

    def list_episodes(
        self,
        show_id: int | None = None,
        *,
        status: str | Iterable[str] | None = None,
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
        reads them all on every request: a tenth of the time of list_episodes)."""
        where, params = ("AND show_id = ?", (show_id,)) if show_id is not None else ("", ())
        rows = self._query(
            f"SELECT id, title, published, duration, kind FROM episodes WHERE status = 'done' {where} "
            "ORDER BY published IS NULL, published, added_at, id",
            params,
        )
        return [TimelineEntry(*row) for row in rows]

    def delete_episode(self, episode_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM episodes WHERE id = ?", (episode_id,))

    def reset_interrupted(self) -> list[Episode]:
        """Episodes left 'transcribing' by a process that died; they resume from their last committed segment."""
        return self.list_episodes(status="transcribing")

    # -- segments -----------------------------------------------------------------------------------------------

    def append_segments(self, episode_id: str, segments: Iterable[Segment], *, at: int | None = None) -> int:
        """Commit segments after those already stored (resumable transcription). Returns how many were added.

        `at` is the index the writer expects its first segment to get: if the episode has more segments than that,
        another process wrote them, and appending would duplicate the transcript, so EpisodeBusy is raised. Writing
        to an episode another live process has claimed is refused the same way."""
        added = 0
        with self.transaction() as db:
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
            for seg in segments:
                db.execute(
                    "INSERT INTO segments (episode_id, idx, start, end, text, words, speaker) VALUES (?,?,?,?,?,?,?)",
                    (episode_id, next_idx, seg.start, seg.end, seg.text, _words_json(seg.words), seg.speaker),
                )
                next_idx += 1
                added += 1
            if added:
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

    def replace_segments(self, episode_id: str, segments: Iterable[Segment], **episode_fields: Any) -> int:
        """Atomically swap the whole transcript (an import, a re-transcription) and update the episode with it."""
        _check_columns(episode_fields, allow_status=True)
        with self.transaction() as db:
            self._refuse_if_held_elsewhere(db, episode_id)
            db.execute("DELETE FROM segments WHERE episode_id = ?", (episode_id,))
            count = 0
            for count, seg in enumerate(segments, start=1):
                db.execute(
                    "INSERT INTO segments (episode_id, idx, start, end, text, words, speaker) VALUES (?,?,?,?,?,?,?)",
                    (episode_id, count - 1, seg.start, seg.end, seg.text, _words_json(seg.words), seg.speaker),
                )
            assignments = "".join(f", {name} = ?" for name in episode_fields)
            db.execute(
                f"UPDATE episodes SET transcript_rev = transcript_rev + 1{assignments}, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?",
                (*episode_fields.values(), episode_id),
            )
        return count

    def segments(self, episode_id: str) -> list[Segment]:
        rows = self._query("SELECT * FROM segments WHERE episode_id = ? ORDER BY idx", (episode_id,))
        return [_segment(r) for r in rows]

    def segments_by_keys(self, keys: Iterable[tuple[str, int]]) -> list[Segment]:
        """Segments by (episode_id, idx), in the order asked: how search hits become text."""
        out = []
        for episode_id, idx in keys:
            rows = self._query("SELECT * FROM segments WHERE episode_id = ? AND idx = ?", (episode_id, idx))
            if rows:
                out.append(_segment(rows[0]))
        return out

    def last_segment_end(self, episode_id: str) -> float:
        rows = self._query("SELECT MAX(end) FROM segments WHERE episode_id = ?", (episode_id,))
        return float(rows[0][0] or 0.0)

    def segment_count(self, episode_id: str) -> int:
        return self._query("SELECT COUNT(*) FROM segments WHERE episode_id = ?", (episode_id,))[0][0]

    def clear_segments(self, episode_id: str) -> None:
        self.replace_segments(episode_id, [])

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

    def status_counts(self) -> dict[str, int]:
        rows = self._query("SELECT status, COUNT(*) AS n FROM episodes GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

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
        with self.transaction() as db:
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
                "INSERT INTO indexed (episode_id, transcript_rev) VALUES (?, ?) "
                "ON CONFLICT (episode_id) DO UPDATE SET transcript_rev = excluded.transcript_rev",
                [(episode_id, rev) for episode_id, rev, _ in entries],
            )

    def unmark_indexed(self, episode_id: str | None = None) -> None:
        """Forget index bookkeeping for one episode, or for all (`fonoteca reindex`)."""
        with self.transaction() as db:
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
        with self.transaction() as db:
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
        with self.transaction() as db:
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
        with self.transaction() as db:
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


def _words_json(words: list[tuple[float, float, str]] | None) -> str | None:
    if not words:
        return None
    return json.dumps([[round(s, 2), round(e, 2), w] for s, e, w in words], ensure_ascii=False)


# Columns that callers may set by name; id, show, GUID and the bookkeeping columns are the archive's own.
_SETTABLE = frozenset(f.name for f in dataclass_fields(Episode)) - {
    "id", "show_id", "guid", "transcript_rev", "added_at", "updated_at", "show_title"
}  # fmt: skip


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown episode status {status!r}; one of {', '.join(STATUSES)}")


def _check_columns(values: dict[str, Any], *, allow_status: bool) -> None:
    """A programming error (a misspelt or internal column) is named here instead of surfacing as an SQL error."""
    unknown = sorted(set(values) - _SETTABLE)
    if unknown:
        raise ValueError(f"episodes have no settable column {', '.join(unknown)}")
    if "status" in values:
        if not allow_status:
            raise ValueError("an episode's status changes through set_status and the other status methods")
        _check_status(values["status"])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


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


def open_archive(settings: Any) -> Archive:
    """The archive named by the settings (`--db`, else `FONOTECA_HOME/fonoteca.db`)."""
    return Archive(settings.db_path)
