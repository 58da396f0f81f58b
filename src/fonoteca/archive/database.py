"""The archive's database: its engines, the one writing connection behind a lock, a reading connection per thread, and
what a failed statement means for the user. The stores of fonoteca.archive run their statements through it.

Writes go through one connection behind a lock, each in its own transaction (`transaction`). Reads never wait for that
lock: every thread reads through its own connection in autocommit mode (`query`), so each query sees everything
committed before it started (SQLite's WAL lets readers run beside the one writer; PostgreSQL does so by itself).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, bindparam, create_engine, event, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Executable

from fonoteca.archive import migrations
from fonoteca.archive.tables import changes as changes_table
from fonoteca.errors import StorageError

__all__ = ["Database", "database_url", "in_chunks"]

# What a database says when it cannot do its part (a full disk, a lock, a server gone, a damaged SQLite file): a
# StorageError with what to do. Other errors (a constraint, a statement it rejects) are fonoteca's own mistakes and
# surface as they are.
_DATABASE_FAILURES = (OperationalError, InterfaceError)
_CHANGES = select(changes_table.c.counter, changes_table.c.changed_at)
_MOVE_CHANGES = update(changes_table).values(counter=changes_table.c.counter + 1, changed_at=bindparam("now"))
# SQLite's codes for a file that is not a database, or one whose pages are damaged (sqlite3 raises them as its plain
# DatabaseError, the class it shares with fonoteca's own mistakes).
_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


def _is_failure(exc: DBAPIError) -> bool:
    return isinstance(exc, _DATABASE_FAILURES) or _is_damaged(exc)


def _is_damaged(exc: BaseException) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlite_errorname", "")
    return isinstance(code, str) and code.startswith(_DAMAGED)


def database_url(location: Path | str | URL) -> URL:
    """The SQLAlchemy URL of an archive given as a file path (SQLite) or a database URL. `postgresql://` and
    `postgres://` URLs are read with psycopg 3; `sqlite:///path` is the same as the bare path."""
    if isinstance(location, URL):
        location = location.render_as_string(hide_password=False)
    if isinstance(location, str) and "://" in location:
        try:
            url = make_url(location)
            url.port  # noqa: B018 - a port that is not a number is found now, not by the driver
        except (ArgumentError, ValueError) as exc:
            shown = location.partition("://")[0] + "://…" if "@" in location else location  # no password shown
            raise StorageError(
                f"{shown!r} is not a database URL",
                "use postgresql://user:password@host:port/db (an IPv6 host in brackets: [::1]) or a file path",
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


class Database:
    """One archive's database, safe to share between threads (the web server), brought to the newest schema when
    opened (fonoteca.archive.migrations)."""

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
        # Each thread's reader, and what the stores keep per reader (Database.per_thread).
        self.per_thread = threading.local()
        # Every thread's reader, so close() closes them all, and a finished thread's is closed when the next opens.
        self._readers: dict[threading.Thread, Connection] = {}
        self._readers_lock = threading.Lock()
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"cannot open the archive at {self.path}: {exc}",
                    "check that the folder exists and is writable, or choose another with --db / FONOTECA_HOME",
                ) from exc
        self._writer_engine = self._engine(reader=False)
        self.reader_engine = self._engine(reader=True)
        try:
            self._writer = self._writer_engine.connect()
            migrations.upgrade(self)
        except DBAPIError as exc:
            self._writer_engine.dispose()
            if not _is_failure(exc):
                raise
            raise self.storage_error(exc) from exc
        except BaseException:
            self._writer_engine.dispose()
            raise

    def _engine(self, *, reader: bool) -> Engine:
        """An engine without a pool: the database keeps its connections itself (the writer, one reader per thread)."""
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
            _write_ahead_log(dbapi_connection)
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

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
            self._writer.close()
            self.reader_engine.dispose()
            self._writer_engine.dispose()

    # -- writing ------------------------------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[Connection]:
        """The writing connection, held by this thread until the block ends, outside any transaction: for work that
        runs its own (the schema's upgrade). Everything else writes through `transaction`."""
        with self._lock:
            if self._writer.invalidated:  # the server dropped it during an earlier write: this one gets a new one
                self._writer.close()
                self._writer = self._writer_engine.connect()
            yield self._writer

    @contextmanager
    def transaction(self, *, seen: bool = True) -> Iterator[Connection]:
        """One write, committed when the block ends (rolled back if it raises). A write a reader can see (`seen`: all
        but a process's bookkeeping, such as its claims' heartbeats) also moves the archive's change counter, last,
        just before the commit: the counter's row stays locked for the shortest time on PostgreSQL."""
        try:
            with self.writer() as connection, connection.begin():
                yield connection
                if seen:
                    connection.execute(_MOVE_CHANGES, {"now": time.time()})
        except DBAPIError as exc:
            if not _is_failure(exc):
                raise
            raise self.storage_error(exc) from exc

    def insert(self, table: Table) -> Any:
        """INSERT for `table` in this database's dialect: both have ON CONFLICT DO NOTHING / DO UPDATE."""
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    # -- reading ------------------------------------------------------------------------------------------------

    def reader(self) -> Connection:
        """This thread's reading connection, opened on its first read."""
        reader: Connection | None = getattr(self.per_thread, "connection", None)
        if reader is not None and not reader.invalidated:
            return reader
        try:
            reader = self.reader_engine.connect()
        except DBAPIError as exc:
            if not _is_failure(exc):
                raise
            raise self.storage_error(exc) from exc
        with self._readers_lock:
            for thread in [t for t in self._readers if not t.is_alive() or t is threading.current_thread()]:
                self._readers.pop(thread).close()
            self._readers[threading.current_thread()] = reader
        self.per_thread.connection = reader
        return reader

    def query(self, statement: Executable | str, params: Mapping[str, Any] | None = None) -> list[Row[Any]]:
        """The rows of a read; in autocommit mode it is its own transaction, over when the rows are fetched."""
        if isinstance(statement, str):
            statement = text(statement)
        try:
            try:
                return list(self.reader().execute(statement, dict(params or {})).all())
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The server dropped this thread's connection (a restart, a failover, an idle timeout): a read changes
                # nothing, so it is asked once more on a new connection.
                return list(self.reader().execute(statement, dict(params or {})).all())
        except DBAPIError as exc:
            if not _is_failure(exc):
                raise
            raise self.storage_error(exc) from exc

    def changes(self) -> tuple[int, float]:
        """(the change counter, when it last moved in seconds since the epoch): it moves with every write a reader
        can see, by any process on any machine (`transaction`)."""
        counter, changed_at = self.query(_CHANGES)[0]
        return int(counter), float(changed_at)

    def change_stamp(self) -> object:
        """A value read on this thread's connection that changes whenever anything is committed to the database (by
        any process) since it was last read here: SQLite's data_version, PostgreSQL's snapshot (its running and
        finished transactions)."""
        if self.is_sqlite:
            return self.query("PRAGMA data_version")[0][0]
        return self.query("SELECT pg_current_snapshot()::text")[0][0]

    # -- errors -------------------------------------------------------------------------------------------------

    def storage_error(self, exc: BaseException) -> StorageError:
        """What a failed statement or connection means for the user, and what to do about it."""
        detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text_ = str(detail).strip().splitlines()[0] if str(detail).strip() else type(detail).__name__
        lowered = text_.lower()
        if not self.is_sqlite and any(
            words in lowered for words in ("resolve host", "translate host name", "name or service not known")
        ):
            hint = "no such database server: check the host name in FONOTECA_DATABASE_URL / --database-url"
        elif not self.is_sqlite and (
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
        elif _is_damaged(exc):
            return StorageError(
                f"the archive file {self.location} is damaged ({text_})",
                "restore it from a backup, or choose another archive with --db / FONOTECA_HOME",
            )
        elif self.is_sqlite:
            hint = "run the command again; if it fails the same way, report it with the output of `fonoteca check`"
        else:
            hint = "the database refused the statement; check the server's log, and that this fonoteca is up to date"
        return StorageError(f"archive error at {self.location}: {text_}", hint)


def in_chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """A long IN list in parts: SQLite allows only so many parameters in one statement."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _write_ahead_log(dbapi_connection: Any) -> None:
    """Put the file in WAL mode. Switching a new file takes an exclusive lock that SQLite does not wait for (its busy
    handler is not called for it), so two processes creating one archive at once retry here for as long as any other
    write would wait (the connection's 30 s timeout)."""
    gives_up = time.monotonic() + 30
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > gives_up:
                raise
            time.sleep(0.02)
