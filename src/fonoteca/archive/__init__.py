"""The archive: the only module in fonoteca that speaks SQL, on SQLite (one file, the embedded default) or on
PostgreSQL (one server shared by many machines), through SQLAlchemy Core.

Everything else (ingest, transcription, search, trends, LLM, CLI, web) goes through `Archive`, and gets back the domain
models and enums of `fonoteca.archive.models` (importable from here too). Statements are built from the tables of
`fonoteca.archive.tables`, so one statement runs on both databases. Each write is its own transaction, so a killed
process leaves the archive consistent; the rows a write reads before changing are locked (SELECT ... FOR UPDATE on
PostgreSQL; SQLite's BEGIN IMMEDIATE holds the whole file). An episode's status changes only along `TRANSITIONS`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
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

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Executable

from fonoteca.archive import migrations
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
from fonoteca.archive.tables import (
    analyses,
    claims,
    conversations,
    counted,
    episodes,
    finished,
    messages,
    shows,
    utc_now,
)
from fonoteca.archive.tables import segments as segments_table
from fonoteca.archive.tables import term_counts as term_counts_table
from fonoteca.archive.tables import vectors as vectors_table  # the module fonoteca.archive.vectors takes the name
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
    "database_url",
    "episode_id_for",
    "slugify",
]

# What a database says when it cannot do its part (a full disk, a lock, a server gone): a StorageError with what to do.
# Other errors (a constraint, a statement it rejects) are fonoteca's own mistakes and surface as they are.
_DATABASE_FAILURES = (OperationalError, InterfaceError)

# A claim whose holder has not shown life for this long is taken over even when its pid cannot be checked (another
# host on a shared archive). Holders refresh it with every committed segment and during downloads.
CLAIM_TIMEOUT_S = 30 * 60


class Unchanged(Enum):
    """The default of an update's keyword: leave the column as it is (None would set it to NULL)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


class EpisodeBusy(FonotecaError):
    """Another process holds the episode: whatever this process meant to write to it would duplicate that work."""

    http_status = 409
    retryable = True


def episode_id_for(show_source: str, guid: str) -> str:
    """A short id that stays the same however often the show is re-read or the archive rebuilt."""
    return hashlib.sha1(f"{show_source}\n{guid}".encode()).hexdigest()[:10]


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60] or "show"


def database_url(location: Path | str | URL) -> URL:
    """The SQLAlchemy URL of an archive given as a file path (SQLite) or a database URL. `postgresql://` and
    `postgres://` URLs are read with psycopg 3; `sqlite:///path` is the same as the bare path."""
    if isinstance(location, URL):
        location = location.render_as_string(hide_password=False)
    if isinstance(location, str) and "://" in location:
        try:
            url = make_url(location)
        except ArgumentError as exc:
            raise StorageError(
                f"{location!r} is not a database URL", "use postgresql://user:password@host/db or a file path"
            ) from exc
        if url.get_backend_name() in ("postgresql", "postgres"):
            return url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "sqlite" and url.database:
            return database_url(Path(url.database))
        raise StorageError(
            f"fonoteca keeps its archive on SQLite or PostgreSQL, not {url.get_backend_name()}",
            "use postgresql://user:password@host/db, or a file path for SQLite",
        )
    return URL.create("sqlite", database=str(Path(location).expanduser().absolute()))


class Archive:
    """One archive, safe to share between threads (the web server).

    Writes go through one connection behind a lock, each in its own transaction. Reads never wait for that lock: every
    thread reads through its own connection in autocommit mode, so each query sees everything committed before it
    started (SQLite's WAL lets readers run beside the one writer; PostgreSQL does so by itself)."""

    def __init__(self, location: Path | str | URL) -> None:
        self.url = database_url(location)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # The SQLite file; None for an archive on a database server.
        self.path: Path | None = Path(self.url.database) if self.is_sqlite and self.url.database else None
        # Where the archive is, as it may be shown (a server's password is left out).
        self.location = (
            str(self.path) if self.path else self.url.set(drivername="postgresql").render_as_string(hide_password=True)
        )
        self._lock = threading.RLock()
        self._thread_reader = threading.local()
        # Every thread's reader, so close() closes them all, and a finished thread's is closed when the next opens.
        self._readers: dict[threading.Thread, Connection] = {}
        self._readers_lock = threading.Lock()
        self.host = socket.gethostname()
        # The token tells apart two Archive objects of one process, and a new process that reused a dead one's pid.
        self.holder = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"cannot open the archive at {self.path}: {exc}",
                    "check that the folder exists and is writable, or choose another with --db / FONOTECA_HOME",
                ) from exc
        self._writer_engine = self._engine(reader=False)
        self._reader_engine = self._engine(reader=True)
        try:
            self._db = self._writer_engine.connect()
            migrations.upgrade(self)
        except _DATABASE_FAILURES as exc:
            self._writer_engine.dispose()
            raise self._storage_error(exc) from exc
        except BaseException:
            self._writer_engine.dispose()
            raise

    def _engine(self, *, reader: bool) -> Engine:
        """An engine without a pool: the archive keeps its connections itself (the writer, one reader per thread)."""
        if not self.is_sqlite:
            options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if reader else {}
            return create_engine(
                self.url, poolclass=NullPool, connect_args={"connect_timeout": 10, "application_name": "fonoteca"},
                **options,
            )  # fmt: skip
        engine = create_engine(
            self.url, poolclass=NullPool, connect_args={"timeout": 30, "check_same_thread": False},
            isolation_level="AUTOCOMMIT" if reader else None,
        )  # fmt: skip

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: object) -> None:
            # pysqlite's own transaction handling is off: SQLAlchemy's begin (below) decides how a transaction starts.
            dbapi_connection.isolation_level = None
            if reader:
                dbapi_connection.execute("PRAGMA query_only=ON")
                return
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
            dbapi_connection.execute("PRAGMA cache_size=-65536")  # 64 MB: bulk indexing stays in memory

        if not reader:
            # A write takes the file's write lock when it starts, not at its first write: two writers that both read
            # first would otherwise deadlock on the upgrade from a read lock.
            @event.listens_for(engine, "begin")
            def _begin(connection: Connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    # -- plumbing -----------------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
            self._db.close()
            self._reader_engine.dispose()
            self._writer_engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._lock:
            try:
                if self._db.invalidated:  # the server dropped it during an earlier write: this one gets a new one
                    self._db.close()
                    self._db = self._writer_engine.connect()
                with self._db.begin():
                    yield self._db
            except _DATABASE_FAILURES as exc:
                raise self._storage_error(exc) from exc

    def _insert(self, table: Any) -> Any:
        """INSERT for `table` in the archive's dialect: both have ON CONFLICT DO NOTHING / DO UPDATE."""
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    def _reader(self) -> Connection:
        """This thread's reading connection, opened on its first read."""
        reader: Connection | None = getattr(self._thread_reader, "connection", None)
        if reader is not None and not reader.invalidated:
            return reader
        try:
            reader = self._reader_engine.connect()
        except _DATABASE_FAILURES as exc:
            raise self._storage_error(exc) from exc
        with self._readers_lock:
            for thread in [t for t in self._readers if not t.is_alive() or t is threading.current_thread()]:
                self._readers.pop(thread).close()
            self._readers[threading.current_thread()] = reader
        self._thread_reader.connection = reader
        return reader

    def _query(self, statement: Executable | str, params: Mapping[str, Any] | None = None) -> list[Row[Any]]:
        """The rows of a read; in autocommit mode it is its own transaction, over when the rows are fetched."""
        if isinstance(statement, str):
            statement = text(statement)
        try:
            try:
                return list(self._reader().execute(statement, dict(params or {})).all())
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The server dropped this thread's connection (a restart, a failover, an idle timeout): a read changes
                # nothing, so it is asked once more on a new connection.
                return list(self._reader().execute(statement, dict(params or {})).all())
        except _DATABASE_FAILURES as exc:
            raise self._storage_error(exc) from exc

    def _change_stamp(self) -> object:
        """A value read on this thread's connection that changes whenever anything is committed to the archive (by
        any process) since it was last read here: SQLite's data_version, PostgreSQL's snapshot (its running and
        finished transactions)."""
        if self.is_sqlite:
            return self._query("PRAGMA data_version")[0][0]
        return self._query("SELECT pg_current_snapshot()::text")[0][0]

    @property
    def schema_version(self) -> int:
        return migrations.current_revision(self)

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
        existing = self._query(select(shows.c.id).where(shows.c.source == source))
        if existing:
            show_id = existing[0].id
            self.update_show(
                show_id, title=title, language=language, feed_language=feed_language, description=description,
                link=link, image=image, credentials=credentials, captions=captions,
            )  # fmt: skip
            return self.get_show(show_id), False
        with self._transaction() as db:
            slug = _unique_slug(db, slugify(title))
            show_id = db.execute(
                insert(shows).values(
                    slug=slug, title=title, source=source, source_kind=source_kind,
                    language=_given(language, None), feed_language=_given(feed_language, None),
                    description=_given(description, ""), link=_given(link, ""), image=_given(image, ""),
                    credentials=_given(credentials, None), captions=_given(captions, Captions.CREATOR),
                )
            ).inserted_primary_key[0]  # fmt: skip
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
        changed = _changed({
            "title": title, "language": language, "feed_language": feed_language, "description": description,
            "link": link, "image": image, "credentials": credentials, "captions": captions,
        })  # fmt: skip
        if changed:
            with self._transaction() as db:
                db.execute(update(shows).where(shows.c.id == show_id).values(changed))

    def mark_synced(self, show_id: int) -> None:
        """Record that the show's source was read just now."""
        with self._transaction() as db:
            db.execute(update(shows).where(shows.c.id == show_id).values(synced_at=utc_now()))

    def get_show(self, ref: int | str) -> Show:
        """A show by id, slug, source or (case-insensitive) title."""
        key = str(ref)
        rows = self._query(
            select(shows).where(
                or_(
                    shows.c.id == (int(key) if key.isdigit() and len(key) < 19 else -1),
                    shows.c.slug == key,
                    shows.c.source == key,
                    func.lower(shows.c.title) == key.lower(),
                )
            )
        )
        if not rows:
            raise NotFound(f"no show called {ref!r}", "run `fonoteca shows` to see the archive's shows")
        return Show(**rows[0]._mapping)

    def list_shows(self) -> list[Show]:
        rows = self._query(select(shows).order_by(func.lower(shows.c.title), shows.c.id))
        return [Show(**r._mapping) for r in rows]

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
        if self._query(select(episodes.c.id).where(episodes.c.id == episode_id)):
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
                self._insert(episodes).values(
                    id=episode_id, show_id=show.id, guid=guid, title=title, kind=kind, published=published,
                    duration=duration, description=description, link=link, media_url=media_url,
                    media_path=media_path, media_type=media_type, transcript_url=transcript_url,
                    transcript_type=transcript_type, status=status, error=error, source=source, language=language,
                    image=image, number=number,
                ).on_conflict_do_nothing()
            ).rowcount  # fmt: skip
            if created and status == Status.DONE:
                _finished_changed(db)
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
    ) -> Episode | None:
        """Change the episode's metadata given; what is left UNCHANGED keeps its value. Its status changes only
        through the methods that check the move (set_status, mark_downloaded, start_transcription...). Returns the
        episode as changed (None when nothing was given, or there is no such episode)."""
        # The column names are this method's own, never taken from a caller's keyword.
        changed = _changed({
            "title": title, "published": published, "description": description, "link": link,
            "media_url": media_url, "media_path": media_path, "media_type": media_type,
            "transcript_url": transcript_url, "transcript_type": transcript_type, "language": language,
            "image": image, "number": number,
        })  # fmt: skip
        if not changed:
            return None
        with self._transaction() as db:
            return _returned(db.execute(_episode_update(episode_id).values(changed).returning(*_EPISODE_ROW)))

    def _move(self, db: Connection, episode_id: str, target: Status, **values: object) -> Episode | None:
        """Set the episode's status (and `values`) inside the caller's transaction, if TRANSITIONS allows the move
        from its current one, and return it as it is then (its row stays locked until the caller commits). None when
        there is no such episode (another process deleted it); a move the table does not allow is a programming error.

        One UPDATE ... RETURNING whose condition is the table's: the row is not read before it is written. Only
        DONE moves to DONE, so a move changes what a search index must hold exactly when it ends at DONE."""
        sources = [status for status, targets in TRANSITIONS.items() if target in targets]
        moved = _episode_update(episode_id).where(episodes.c.status.in_(sources)).values(status=target, **values)
        if target == Status.DONE:
            moved = moved.values(finished_at=utc_now())
        episode = _returned(db.execute(moved.returning(*_EPISODE_ROW)))
        if episode is None:
            current = _locked_status(db, episode_id)
            if current is not None:
                allowed = ", ".join(sorted(TRANSITIONS[current]))
                raise ValueError(
                    f"episode {episode_id} cannot go from {current} to {target} (from {current}: {allowed})"
                )
        elif target == Status.DONE:
            _finished_changed(db)
        return episode

    def set_status(self, episode_id: str, status: Status, error: str | None = None) -> Episode | None:
        """Move the episode to `status` (checked against TRANSITIONS), with `error` saying why when it failed."""
        status = _member(Status, status, "episode status")
        with self._transaction() as db:
            return self._move(db, episode_id, status, error=error)

    def mark_downloaded(self, episode_id: str, media_path: str) -> Episode | None:
        with self._transaction() as db:
            return self._move(db, episode_id, Status.DOWNLOADED, media_path=media_path, error=None)

    def start_transcription(self, episode_id: str, duration: float) -> Episode | None:
        with self._transaction() as db:
            return self._move(db, episode_id, Status.TRANSCRIBING, duration=duration, error=None)

    def finish_transcription(
        self,
        episode_id: str,
        *,
        language: str | None,
        engine: str,
        model: str,
        duration: float,
        dropped: Mapping[str, int] | None = None,
    ) -> Episode | None:
        """The segments appended while transcribing are the whole transcript: the episode is done. `dropped` is what
        the quality guard dropped, by reason (of a resumed run, what it dropped after the segments it resumed from).
        Returns the finished episode."""
        with self._transaction() as db:
            return self._move(
                db, episode_id, Status.DONE, error=None, source=Source.TRANSCRIBED, language=language, engine=engine,
                model=model, duration=duration, dropped_segments=_counts_json(dropped),
            )  # fmt: skip

    def requeue_failed(self, episode_id: str) -> bool:
        """A failed episode back to 'new', forgetting its old media, e.g. when the feed fixed its enclosure.

        Returns False (and changes nothing) when the episode is not failed any more."""
        with self._transaction() as db:
            if _locked_status(db, episode_id) != Status.FAILED:
                return False
            return self._move(db, episode_id, Status.NEW, error=None, media_path=None) is not None

    # -- claims: one process per episode ---------------------------------------------------------------------------

    def claim_episode(self, episode_id: str) -> bool:
        """Take the episode for this process; False when another live process holds it.

        A claim left by a process that died (its pid is gone on this host, or it has shown no life for
        CLAIM_TIMEOUT_S) is taken over: the work it committed is resumed, not repeated."""
        now = time.time()
        with self._transaction() as db:
            # The episode's row lock serialises two processes claiming it at once (on SQLite the whole file is).
            _locked_status(db, episode_id)
            row = db.execute(select(claims).where(claims.c.episode_id == episode_id)).first()
            if row and row.holder != self.holder and not self._abandoned(row, now):
                return False
            statement = self._insert(claims).values(
                episode_id=episode_id, holder=self.holder, host=self.host, pid=os.getpid(), heartbeat=now
            )
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=[claims.c.episode_id],
                    set_={
                        "holder": statement.excluded.holder, "host": statement.excluded.host,
                        "pid": statement.excluded.pid, "heartbeat": statement.excluded.heartbeat,
                        "claimed_at": utc_now(),
                    },
                )
            )  # fmt: skip
        return True

    def release_episode(self, episode_id: str) -> None:
        with self._transaction() as db:
            db.execute(delete(claims).where(claims.c.episode_id == episode_id, claims.c.holder == self.holder))

    def claim_holder(self, episode_id: str) -> str | None:
        """Who holds the episode ("host:pid:token" of an Archive), or None when nobody does."""
        rows = self._query(select(claims.c.holder).where(claims.c.episode_id == episode_id))
        return rows[0][0] if rows else None

    def drop_claim(self, episode_id: str) -> None:
        """Drop the episode's claim, whoever holds it. Only for the job engine, which knows more than the claim can
        tell: the worker that ran the episode's job has stopped showing life (on any machine), and no other job of the
        episode runs (they share one lock). Its successor then resumes the episode at once, instead of waiting
        CLAIM_TIMEOUT_S for a claim whose process cannot be checked from another machine."""
        with self._transaction() as db:
            db.execute(delete(claims).where(claims.c.episode_id == episode_id))

    def heartbeat(self, episode_id: str) -> None:
        """Show that the claim on the episode is still being worked on (a long download commits nothing)."""
        with self._transaction() as db:
            self._beat(db, episode_id)

    def _beat(self, db: Connection, episode_id: str) -> None:
        db.execute(
            update(claims)
            .where(claims.c.episode_id == episode_id, claims.c.holder == self.holder)
            .values(heartbeat=time.time())
        )

    def _abandoned(self, claim: Row[Any], now: float) -> bool:
        if claim.heartbeat < now - CLAIM_TIMEOUT_S:
            return True
        return claim.host == self.host and not pid_alive(claim.pid)

    def _refuse_if_held_elsewhere(self, db: Connection, episode_id: str) -> None:
        row = db.execute(select(claims).where(claims.c.episode_id == episode_id)).first()
        if row and row.holder != self.holder and not self._abandoned(row, time.time()):
            raise EpisodeBusy(
                f"episode {episode_id} is being processed by another fonoteca process (pid {row.pid} on {row.host})",
                "let it finish; its transcript is the one kept",
            )

    def get_episode(self, ref: str) -> Episode:
        """An episode by id or by a unique prefix of its id."""
        ref = str(ref).strip()
        rows = self._query(_EPISODE_BY_ID, {"id": ref})
        if not rows and len(ref) >= 4:
            rows = self._query(_EPISODE_SELECT.where(episodes.c.id.startswith(ref, autoescape=True)).limit(2))
            if len(rows) > 1:
                raise NotFound(f"episode id {ref!r} is ambiguous", "type more characters of the id")
        if not rows:
            raise NotFound(f"no episode with id {ref!r}", "run `fonoteca episodes` to see the ids")
        return Episode(**rows[0]._mapping)

    def episodes_by_ids(self, ids: Iterable[str]) -> dict[str, Episode]:
        """The episodes of these exact ids (a search's hits), one query per 500; ids not in the archive are absent."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Episode] = {}
        for chunk in _chunks(wanted):
            for row in self._query(_EPISODES_BY_IDS, {"ids": chunk}):
                found[row.id] = Episode(**row._mapping)
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
        statement = _EPISODE_SELECT
        if show_id is not None:
            statement = statement.where(episodes.c.show_id == show_id)
        if status is not None:
            statement = statement.where(episodes.c.status.in_([status] if isinstance(status, str) else list(status)))
        if date_from:
            statement = statement.where(episodes.c.published >= date_from)
        if date_to:
            statement = statement.where(func.substr(episodes.c.published, 1, 10) <= date_to)
        published, added = episodes.c.published, episodes.c.added_at
        if newest_first:
            published, added = published.desc(), added.desc()
        statement = statement.order_by(episodes.c.published.is_(None), published, added, episodes.c.id)
        return [Episode(**r._mapping) for r in self._query(statement)]

    def timeline(self, show_id: int | None = None) -> list[TimelineEntry]:
        """The transcribed episodes in date order, with only what a chart over the history needs (a word's trend
        reads them all on every request: a tenth of the time of list_episodes).

        Each thread keeps the last ones it read until the archive changes (_change_stamp). The stamp is read before
        the rows, so a commit between the two only makes the next call read them again, never keeps stale rows."""
        reader = self._reader()
        version = self._change_stamp()
        cached: tuple[Connection, object, dict[int | None, list[TimelineEntry]]] | None = getattr(
            self._thread_reader, "timelines", None
        )
        if cached is None or cached[0] is not reader or cached[1] != version:
            cached = (reader, version, {})
            self._thread_reader.timelines = cached
        if show_id not in cached[2]:
            statement = (
                select(
                    episodes.c.id, episodes.c.title, episodes.c.published, episodes.c.duration, episodes.c.kind,
                    episodes.c.show_id, counted.c.words,
                )
                .join_from(episodes, counted, counted.c.episode_id == episodes.c.id, isouter=True)
                .where(episodes.c.status == Status.DONE)
                .order_by(episodes.c.published.is_(None), episodes.c.published, episodes.c.added_at, episodes.c.id)
            )  # fmt: skip
            if show_id is not None:
                statement = statement.where(episodes.c.show_id == show_id)
            rows = self._query(statement)
            cached[2][show_id] = [
                TimelineEntry(r[0], r[1], r[2], r[3], EpisodeKind(r[4]), r[5], r[6] or 0) for r in rows
            ]
        return list(cached[2][show_id])  # a copy: the caller may reorder or extend its list; the entries are frozen

    def delete_episode(self, episode_id: str) -> None:
        with self._transaction() as db:
            if db.execute(delete(episodes).where(episodes.c.id == episode_id)).rowcount:
                _finished_changed(db)

    # -- segments -----------------------------------------------------------------------------------------------

    def append_segments(self, episode_id: str, segments: Iterable[Segment], *, at: int | None = None) -> int:
        """Commit segments after those already stored (resumable transcription). Returns how many were added.

        `at` is the index the writer expects its first segment to get: if the episode has more segments than that,
        another process wrote them, and appending would duplicate the transcript, so EpisodeBusy is raised. Writing
        to an episode another live process has claimed is refused the same way. Nothing to append changes nothing."""
        segments = list(segments)
        if not segments:
            return 0
        with self._transaction() as db:
            # The episode's row is written first: that locks it until the commit, and gives back its status.
            status = db.scalar(
                _episode_update(episode_id)
                .values(transcript_rev=episodes.c.transcript_rev + 1)
                .returning(episodes.c.status)
            )
            if status is None:
                return 0
            self._refuse_if_held_elsewhere(db, episode_id)
            next_idx = db.execute(
                select(func.coalesce(func.max(segments_table.c.idx) + 1, 0)).where(
                    segments_table.c.episode_id == episode_id
                )
            ).scalar_one()
            if at is not None and at != next_idx:
                raise EpisodeBusy(
                    f"episode {episode_id} has {next_idx} segments where this process wrote {at}: another process "
                    "is transcribing it",
                    "let it finish; `fonoteca check` finds transcripts damaged by earlier versions",
                )
            added = _insert_segments(db, episode_id, segments, first_idx=next_idx)
            if status == Status.DONE:
                _finished_changed(db)
            _forget_vectors(db, episode_id)
            self._beat(db, episode_id)
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
            done = self._move(
                db, episode_id, Status.DONE, transcript_rev=episodes.c.transcript_rev + 1, error=None, source=source,
                language=language, engine=engine, model=model, dropped_segments=_counts_json(dropped),
                duration=func.coalesce(literal(duration, episodes.c.duration.type), episodes.c.duration),
            )  # fmt: skip
            if done is None:
                return 0
            db.execute(delete(segments_table).where(segments_table.c.episode_id == episode_id))
            count = _insert_segments(db, episode_id, segments, first_idx=0)
            _forget_vectors(db, episode_id)
        return count

    def segments(
        self, episode_id: str, *, words: bool = True, first: int = 0, last: int | None = None
    ) -> list[Segment]:
        """The episode's segments in order, from index `first` to `last` (inclusive; None: to the end); `words=False`
        leaves out their word timestamps (None), which a page of lines never shows and whose JSON is most of the time
        of reading a long transcript that has them."""
        statement = _SEGMENTS_WITH_WORDS if words else _SEGMENTS
        bounds = {"episode_id": episode_id, "first": first, "last": last if last is not None else 2**31 - 1}
        return [_segment(r) for r in self._query(statement, bounds)]

    def last_segment_end(self, episode_id: str) -> float:
        rows = self._query(select(func.max(segments_table.c.end)).where(segments_table.c.episode_id == episode_id))
        return float(rows[0][0] or 0.0)

    def segment_count(self, episode_id: str) -> int:
        return self._query(select(func.count()).where(segments_table.c.episode_id == episode_id))[0][0]

    def transcript_text(self, episode_id: str) -> str:
        return "\n".join(s.text.strip() for s in self.segments(episode_id))

    def damaged_transcripts(self) -> list[DamagedTranscript]:
        """Episodes with repeated segments (same start and text), or transcribed segments that go back in time by more
        than half a second: the mark of two processes having transcribed the episode at once. Text episodes and
        imported transcripts may legitimately repeat a paragraph or overlap cues, so only duplicates of timed
        segments count for imports, and overlaps only for Whisper's own transcripts."""
        # Plain SQL that both databases speak: window functions over common table expressions.
        rows = self._query(
            """
            WITH ordered AS (
                SELECT s.episode_id, s.start, s.text, e.source,
                       LAG(s."end") OVER (PARTITION BY s.episode_id ORDER BY s.idx) AS previous_end
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
            GROUP BY d.episode_id, s.title, e.title, e.published, e.id ORDER BY s.title, e.published, e.id
            """
        )
        return [DamagedTranscript(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]

    # -- statistics ---------------------------------------------------------------------------------------------

    def stats(self, show_id: int | None = None) -> Stats:
        """The seed's header: how many episodes are transcribed and how much audio time that is."""
        last_end = (
            select(func.max(segments_table.c.end)).where(segments_table.c.episode_id == episodes.c.id).scalar_subquery()
        )
        statement = (
            select(
                episodes.c.show_id,
                func.count().label("n"),
                func.coalesce(func.sum(func.coalesce(episodes.c.duration, last_end, 0)), 0).label("secs"),
            )
            .where(episodes.c.status == Status.DONE)
            .group_by(episodes.c.show_id)
        )
        if show_id is not None:
            statement = statement.where(episodes.c.show_id == show_id)
        per_show = {r.show_id: (r.n, float(r.secs)) for r in self._query(statement)}
        shows_listed = [s for s in self.list_shows() if show_id is None or s.id == show_id]
        by_show = [(s, *per_show.get(s.id, (0, 0.0))) for s in shows_listed]
        return Stats(
            episodes=sum(n for _, n, _ in by_show),
            seconds=sum(secs for _, _, secs in by_show),
            by_show=by_show,
        )

    def episodes_per_show(self, show_id: int | None = None) -> dict[int, int]:
        """{show id: how many episodes it has, whatever their status}, for every show (or the one given), in one
        query: a show without episodes is absent, so read it with `.get(show.id, 0)`."""
        statement = select(episodes.c.show_id, func.count()).group_by(episodes.c.show_id)
        if show_id is not None:
            statement = statement.where(episodes.c.show_id == show_id)
        return {r[0]: r[1] for r in self._query(statement)}

    def transcribed_since(self, seconds: float) -> float:
        """Seconds of audio of the episodes Whisper finished in the last `seconds` (the fleet's throughput)."""
        cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
        rows = self._query(
            select(func.coalesce(func.sum(episodes.c.duration), 0)).where(
                episodes.c.status == Status.DONE,
                episodes.c.source == Source.TRANSCRIBED,
                episodes.c.finished_at >= cutoff,
            )
        )
        return float(rows[0][0])

    def status_counts(self) -> dict[Status, int]:
        rows = self._query(select(episodes.c.status, func.count()).group_by(episodes.c.status))
        return {Status(r[0]): r[1] for r in rows}

    # -- word counts, and what a search index must hold ------------------------------------------------------------

    def finished_revisions(self) -> dict[str, int]:
        """{episode id: transcript revision} of every finished episode: what a search index of the archive holds
        when it is up to date (each machine's index keeps its own record of what it holds: fonoteca.search.index)."""
        rows = self._query(select(episodes.c.id, episodes.c.transcript_rev).where(episodes.c.status == Status.DONE))
        return {r[0]: r[1] for r in rows}

    def finished_version(self) -> int:
        """A number that grows whenever an episode is finished, gets another transcript while finished, or is deleted
        (by any process): a search index reads it before every search, and reads finished_revisions() only when it
        moved."""
        return int(self._query(_FINISHED_VERSION)[0][0])

    def episodes_to_count(self) -> list[tuple[str, int]]:
        """(episode_id, transcript_rev) of finished episodes whose word counts are missing or of an older revision."""
        rows = self._query(
            select(episodes.c.id, episodes.c.transcript_rev)
            .join_from(episodes, counted, counted.c.episode_id == episodes.c.id, isouter=True)
            .where(
                episodes.c.status == Status.DONE,
                or_(counted.c.transcript_rev.is_(None), counted.c.transcript_rev != episodes.c.transcript_rev),
            )
            .order_by(episodes.c.id)
        )
        return [(r[0], r[1]) for r in rows]

    def store_word_counts(self, episode_id: str, transcript_rev: int, term_counts: dict[str, int]) -> None:
        """Store the episode's word counts for trends, of this transcript revision, in one commit."""
        self.store_word_counts_many([(episode_id, transcript_rev, term_counts)])

    def store_word_counts_many(self, entries: list[tuple[str, int, dict[str, int]]]) -> None:
        """store_word_counts for a batch of episodes in one transaction. An episode whose transcript changed since
        it was counted keeps waiting in episodes_to_count (its revision is stored with its counts).

        The rows of the whole batch are inserted in key order, so the database touches each B-tree page once per
        batch instead of once per row: this is most of the time of counting a large archive."""
        if not entries:
            return
        ids = [episode_id for episode_id, _, _ in entries]
        with self._transaction() as db:
            known: set[str] = set()
            for chunk in _chunks(ids):
                known |= set(db.scalars(select(counted.c.episode_id).where(counted.c.episode_id.in_(chunk))))
            for chunk in _chunks(sorted(known)):  # only recounted episodes have old counts to remove
                db.execute(delete(term_counts_table).where(term_counts_table.c.episode_id.in_(chunk)))
            rows = sorted(
                (
                    {"term": term, "episode_id": episode_id, "count": count}
                    for episode_id, _, counts in entries
                    for term, count in counts.items()
                ),
                key=itemgetter("term"),  # by term alone: comparing whole rows costs more than it gains
            )
            if rows:
                db.execute(insert(term_counts_table), rows)
            statement = self._insert(counted)
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=[counted.c.episode_id],
                    set_={"transcript_rev": statement.excluded.transcript_rev, "words": statement.excluded.words},
                ),
                [
                    {"episode_id": episode_id, "transcript_rev": rev, "words": _word_total(counts)}
                    for episode_id, rev, counts in entries
                ],
            )

    def term_counts(self, term: str, show_id: int | None = None) -> dict[str, int]:
        """{episode_id: count} for one folded word or word pair."""
        if show_id is None:
            rows = self._query(_TERM_COUNTS, {"term": term})
        else:
            rows = self._query(_TERM_COUNTS_OF_SHOW, {"term": term, "show_id": show_id})
        return {r[0]: r[1] for r in rows}

    # -- LLM analyses -------------------------------------------------------------------------------------------

    def get_analysis(self, episode_id: str, kind: str, params: str = "") -> Analysis | None:
        rows = self._query(
            select(analyses).where(
                analyses.c.episode_id == episode_id, analyses.c.kind == kind, analyses.c.params == params
            )
        )
        return _analysis(rows[0]) if rows else None

    def list_analyses(self, episode_id: str) -> list[Analysis]:
        rows = self._query(
            select(analyses).where(analyses.c.episode_id == episode_id).order_by(analyses.c.kind, analyses.c.params)
        )
        return [_analysis(r) for r in rows]

    def save_analysis(self, analysis: Analysis) -> None:
        statement = self._insert(analyses).values(
            episode_id=analysis.episode_id, kind=analysis.kind, params=analysis.params, model=analysis.model,
            prompt_version=analysis.prompt_version, transcript_rev=analysis.transcript_rev,
            result=json.dumps(analysis.result, ensure_ascii=False),
        )  # fmt: skip
        replaced = {name: statement.excluded[name] for name in ("model", "prompt_version", "transcript_rev", "result")}
        with self._transaction() as db:
            db.execute(
                statement.on_conflict_do_update(
                    index_elements=[analyses.c.episode_id, analyses.c.kind, analyses.c.params],
                    set_={**replaced, "created_at": utc_now()},
                )
            )

    # -- conversations ------------------------------------------------------------------------------------------

    def create_conversation(
        self, conversation_id: str, show_id: int | None = None, episode_id: str | None = None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                self._insert(conversations)
                .values(id=conversation_id, show_id=show_id, episode_id=episode_id)
                .on_conflict_do_nothing()
            )

    def conversation_scope(self, conversation_id: str) -> tuple[int | None, str | None]:
        """The show and episode a conversation was started about ((None, None): the whole archive, or no such
        conversation)."""
        rows = self._query(
            select(conversations.c.show_id, conversations.c.episode_id).where(conversations.c.id == conversation_id)
        )
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def add_message(
        self, conversation_id: str, role: str, content: str, citations: list[dict[str, Any]] | None = None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                insert(messages).values(
                    conversation_id=conversation_id, role=role, content=content,
                    citations=json.dumps(citations, ensure_ascii=False) if citations else None,
                )
            )  # fmt: skip

    def messages(self, conversation_id: str) -> list[Message]:
        rows = self._query(
            select(messages.c.role, messages.c.content, messages.c.citations, messages.c.created_at)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.id)
        )
        return [
            Message(r.role, r.content, json.loads(r.citations) if r.citations else None, r.created_at) for r in rows
        ]

    # -- errors ---------------------------------------------------------------------------------------------------

    def _storage_error(self, exc: BaseException) -> StorageError:
        """What a failed statement or connection means for the user, and what to do about it."""
        detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text_ = str(detail).strip().splitlines()[0] if str(detail).strip() else type(detail).__name__
        lowered = text_.lower()
        if not self.is_sqlite and (
            (isinstance(exc, DBAPIError) and exc.connection_invalidated)
            or any(word in lowered for word in ("connection", "server closed", "could not connect", "terminating"))
        ):
            hint = (
                "check that the PostgreSQL server is running and reachable, and FONOTECA_DATABASE_URL / "
                "--database-url; nothing half-written was kept, so run the command again"
            )
        elif "disk" in lowered and ("full" in lowered or "i/o" in lowered) or "no space" in lowered:
            hint = "free some disk space (or move the archive with FONOTECA_HOME) and run the command again"
        elif any(word in lowered for word in ("readonly", "read-only", "permission", "unable to open", "not a dir")):
            hint = "make the data folder writable, or choose another with --db / FONOTECA_HOME"
        elif "locked" in lowered:
            hint = "another fonoteca process is writing; wait for it to finish and try again"
        elif self.is_sqlite:
            hint = "the archive file may be damaged; restore it from a backup or choose another with --db"
        else:
            hint = "the database refused the statement; check the server's log, and that this fonoteca is up to date"
        return StorageError(f"archive error at {self.location}: {text_}", hint)


_EPISODE_SELECT = select(episodes, shows.c.title.label("show_title")).join_from(
    episodes, shows, shows.c.id == episodes.c.show_id
)
# The reads of every page and search, built once with parameters: building a statement for each call costs more than
# running it.
_EPISODE_BY_ID = _EPISODE_SELECT.where(episodes.c.id == bindparam("id"))
_EPISODES_BY_IDS = _EPISODE_SELECT.where(episodes.c.id.in_(bindparam("ids", expanding=True)))
_SEGMENTS = (
    select(
        *(segments_table.c[name] for name in ("episode_id", "idx", "start", "end", "text", "speaker")),
        null().label("words"),
    )
    .where(
        segments_table.c.episode_id == bindparam("episode_id"),
        segments_table.c.idx.between(bindparam("first"), bindparam("last")),
    )
    .order_by(segments_table.c.idx)
)
_SEGMENTS_WITH_WORDS = _SEGMENTS.with_only_columns(
    *(segments_table.c[name] for name in ("episode_id", "idx", "start", "end", "text", "speaker", "words"))
)
_TERM_COUNTS = select(term_counts_table.c.episode_id, term_counts_table.c.count).where(
    term_counts_table.c.term == bindparam("term")
)
_TERM_COUNTS_OF_SHOW = _TERM_COUNTS.join_from(
    term_counts_table, episodes, episodes.c.id == term_counts_table.c.episode_id
).where(episodes.c.show_id == bindparam("show_id"))
_FINISHED_VERSION = select(finished.c.version)


def _episode_update(episode_id: str) -> Any:
    """UPDATE of one episode that also stamps its updated_at."""
    return update(episodes).where(episodes.c.id == episode_id).values(updated_at=utc_now())


# An episode's row as a write returns it (RETURNING takes no join: the show's title is a subquery).
_EPISODE_ROW = (
    *episodes.c,
    select(shows.c.title).where(shows.c.id == episodes.c.show_id).scalar_subquery().label("show_title"),
)


def _returned(result: Any) -> Episode | None:
    """The episode a write's RETURNING gave back, None when it changed no row."""
    row = result.first()
    return Episode(**row._mapping) if row is not None else None


def _finished_changed(db: Connection) -> None:
    """Move Archive.finished_version, inside the transaction that changed what a search index must hold."""
    db.execute(update(finished).values(version=finished.c.version + 1))


def _locked_status(db: Connection, episode_id: str) -> Status | None:
    """The episode's status, its row locked until the transaction ends (None: no such episode)."""
    status = db.scalar(select(episodes.c.status).where(episodes.c.id == episode_id).with_for_update())
    return Status(status) if status is not None else None


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """A long IN list in parts: SQLite allows only so many parameters in one statement."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _segment(row: Row[Any]) -> Segment:
    episode_id, idx, start, end, text_, speaker, stored = row  # the columns of _SEGMENTS, by position: the fastest
    words = json.loads(stored) if stored else None
    return Segment(
        start=start,
        end=end,
        text=text_,
        words=[tuple(w) for w in words] if words else None,
        speaker=speaker,
        idx=idx,
        episode_id=episode_id,
    )


def _analysis(row: Row[Any]) -> Analysis:
    return Analysis(**{**row._mapping, "result": json.loads(row.result)})


def _word_total(term_counts: dict[str, int]) -> int:
    """The words an episode has, from its counts of folded words and word pairs ("a_b"; a word never holds "_")."""
    return sum(count for term, count in term_counts.items() if "_" not in term)


def _counts_json(counts: Mapping[str, int] | None) -> str | None:
    return json.dumps(dict(sorted(counts.items()))) if counts else None


def _insert_segments(db: Connection, episode_id: str, segments: Iterable[Segment], *, first_idx: int) -> int:
    """Insert `segments` numbered from `first_idx`, in one executemany (a long imported transcript has thousands);
    returns how many."""
    rows = [
        {
            "episode_id": episode_id, "idx": idx, "start": seg.start, "end": seg.end, "text": seg.text,
            "words": _words_json(seg.words), "speaker": seg.speaker,
        }
        for idx, seg in enumerate(segments, start=first_idx)
    ]  # fmt: skip
    if rows:
        db.execute(insert(segments_table), rows)
    return len(rows)


def _forget_vectors(db: Connection, episode_id: str) -> None:
    """A changed transcript's passages are no longer its own. Left in place, they would be found by meaning, with the
    new transcript's text at their segment numbers, by every process that loaded them, until they are embedded again:
    their count changes the vectors' stamp, so those processes read the vectors again."""
    db.execute(delete(vectors_table).where(vectors_table.c.episode_id == episode_id))


def _words_json(words: list[tuple[float, float, str]] | None) -> str | None:
    if not words:
        return None
    return json.dumps([[round(s, 2), round(e, 2), w] for s, e, w in words], ensure_ascii=False)


def _unique_slug(db: Connection, base: str) -> str:
    slug, n = base, 2
    while db.execute(select(shows.c.id).where(shows.c.slug == slug)).first():
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


def _changed(columns: dict[str, object]) -> dict[str, object]:
    """The columns whose value is not UNCHANGED."""
    return {name: value for name, value in columns.items() if value is not UNCHANGED}


_Value = TypeVar("_Value")


def _given(value: _Value | Unchanged, default: _Value) -> _Value:
    return default if value is UNCHANGED else value
