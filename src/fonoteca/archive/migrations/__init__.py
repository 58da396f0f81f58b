"""The archive's schema changes: SQLite's shipped migrations (fonoteca.archive.schema), then Alembic revisions.

Every archive is brought to the newest schema when it is opened. A SQLite archive first runs the shipped migrations it
lacks (PRAGMA user_version counts them), and is then stamped with the Alembic baseline revision "0012", the schema
those migrations make; a new PostgreSQL archive gets its tables from the baseline. Both then follow the revisions after
it in `versions/` (written with `alembic revision`, see alembic.ini at the repository's root). Revision ids are the
schema's number, so `Archive.schema_version` reads the same on both databases.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, text

from fonoteca.archive.schema import MIGRATIONS
from fonoteca.errors import FonotecaError

if TYPE_CHECKING:
    from fonoteca.archive.database import Database

BASELINE = f"{len(MIGRATIONS):04d}"
# Two processes opening a new PostgreSQL archive at once: one creates the tables, the other waits for it (an
# advisory lock, held until the upgrade's transaction ends). The number only has to be fonoteca's own.
_UPGRADE_LOCK = 0x666F6E6F


def upgrade(database: Database) -> None:
    """Bring the archive to the newest schema, in transactions that leave it unchanged when one fails."""
    if database.is_sqlite:
        with database.writer() as db:
            _upgrade_sqlite(database, db)
    head = _scripts().get_current_head()
    # Looked at without a lock first: opening an up-to-date archive must not wait for another process's write.
    if MigrationContext.configure(database.reader()).get_current_revision() == head:
        return
    with database.writer() as db, db.begin():
        if not database.is_sqlite:
            db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        current = MigrationContext.configure(db).get_current_revision()
        if current == head:
            return
        if current is not None and current not in _known():
            raise _newer(database, current)
        config = _config(db)
        if current is None and database.is_sqlite:
            command.stamp(config, BASELINE)
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise FonotecaError(f"cannot upgrade the archive at {database.location}: {exc}", "report this") from exc


def head() -> int:
    """The newest schema number this fonoteca knows."""
    return schema_number(_scripts().get_current_head())


def current_revision(database: Database) -> int:
    """The archive's schema number (the Alembic revision it is at)."""
    revision = MigrationContext.configure(database.reader()).get_current_revision()
    return schema_number(revision) if revision else 0


def schema_number(revision: str) -> int:
    """A revision id's schema number: "0014" and "0015_23b_changes" (several engineers' revisions, each named after
    its issue) are 14 and 15."""
    return int(revision.partition("_")[0])


def ours(_object: object, name: str | None, type_: str, _reflected: bool, _compare_to: object) -> bool:
    """What Alembic's autogenerate compares: fonoteca's own tables. procrastinate (the job engine) keeps its tables in
    the same PostgreSQL database, and a revision must never drop them."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def _upgrade_sqlite(database: Database, db: Connection) -> None:
    """Run the shipped SQLite migrations the archive lacks, each in its own transaction, on its writing connection.

    The archive's version is read again inside each migration's transaction, which holds the file's write lock: two
    processes creating a new archive at once run each migration once, the second finding it done."""
    # Pragmas that must run outside a transaction go to the driver's connection: SQLAlchemy would begin one first.
    raw = db.connection.dbapi_connection
    version = raw.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise _newer(database, version)
    if version == len(MIGRATIONS):
        return
    # A migration that rebuilds a table drops the old one: with foreign keys on, that would delete every row that
    # refers to it. They are checked by hand before each migration commits instead.
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        while True:
            with db.begin():
                version = db.exec_driver_sql("PRAGMA user_version").scalar_one()
                if version >= len(MIGRATIONS):
                    return
                number = version + 1
                for statement in _split_sql(MIGRATIONS[version]):
                    db.exec_driver_sql(statement)
                if broken := db.exec_driver_sql("PRAGMA foreign_key_check").fetchall():
                    raise FonotecaError(
                        f"upgrading the archive at {database.location} to schema {number} would break {len(broken)} "
                        f"references (first: {tuple(broken[0])}); nothing was changed",
                        "report this with a copy of the archive",
                    )
                db.exec_driver_sql(f"PRAGMA user_version = {number}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _newer(database: Database, version: object) -> FonotecaError:
    return FonotecaError(
        f"the archive at {database.location} was written by a newer fonoteca (schema {version})",
        "upgrade fonoteca to open it",
    )


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return ScriptDirectory.from_config(config)


@cache
def _known() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def _split_sql(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
