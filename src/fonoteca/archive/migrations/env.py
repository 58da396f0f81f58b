"""Alembic's entry point. fonoteca passes the archive's open connection (fonoteca.archive.migrations.upgrade); run from
the `alembic` command line (a developer writing a revision), it connects to FONOTECA_DATABASE_URL or the alembic.ini
URL instead."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from fonoteca.archive import database_url
from fonoteca.archive.migrations import ours
from fonoteca.archive.tables import metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=ours,
        # SQLite changes most of a table's definition only by copying it: Alembic's batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    location = os.environ.get("FONOTECA_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    if not location:
        raise SystemExit("set FONOTECA_DATABASE_URL (or sqlalchemy.url in alembic.ini) to the archive to compare with")
    with create_engine(database_url(location)).begin() as opened:
        _run(opened)
