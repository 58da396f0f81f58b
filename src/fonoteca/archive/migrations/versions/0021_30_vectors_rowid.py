"""SQLite: the passage vectors in a table with rowids (PostgreSQL's tables are heaps already: nothing to do there).

`vectors` was made WITHOUT ROWID (schema.py's migration 10), where a row is its own primary key's B-tree entry. An
episode's row is its vectors (~120 KB at 230 passages), and SQLite reads a whole entry, overflow pages and all, to
compare a key in an interior page: every lookup by episode read several rows' blobs. Listing the current vectors of
15,000 hours through the `vectors_stamp` index then took 1.3 s (8,061 lookups), where a scan of the table takes 3 ms;
it was the first search by meaning of every new process (bench/search.py). SQLite's own advice is to keep WITHOUT
ROWID for rows under ~1/20 of a page. Rebuilt once here, same columns and order; the key becomes a unique index.

Revision ID: 0021_30_vectors_rowid
Revises: 0020_26_speaker_count
"""

from __future__ import annotations

from alembic import op

revision = "0021_30_vectors_rowid"
down_revision = "0020_26_speaker_count"
branch_labels = None
depends_on = None

_COLUMNS = "episode_id, model, dim, transcript_rev, count, spans, vectors, embedded_at"


def _rebuild(without_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        """
        CREATE TABLE vectors_rebuilt (
            episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            transcript_rev INTEGER NOT NULL,
            count INTEGER NOT NULL,
            spans BLOB NOT NULL,
            vectors BLOB NOT NULL,
            embedded_at REAL NOT NULL,
            PRIMARY KEY (episode_id, model)
        )"""
        + (" WITHOUT ROWID" if without_rowid else "")
    )
    op.execute(f"INSERT INTO vectors_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM vectors ORDER BY episode_id, model")
    op.execute("DROP TABLE vectors")
    op.execute("ALTER TABLE vectors_rebuilt RENAME TO vectors")
    op.execute("CREATE INDEX vectors_stamp ON vectors (model, dim, embedded_at)")


def upgrade() -> None:
    _rebuild(without_rowid=False)


def downgrade() -> None:
    _rebuild(without_rowid=True)
