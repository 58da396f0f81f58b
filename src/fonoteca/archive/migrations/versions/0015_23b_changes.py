"""The archive's change counter and when each transcript last changed, for the web server's caches and its sitemap.

`changes` is one row that every write a reader can see moves (fonoteca.archive.database.Database.transaction), with
the time it last moved: the web server's ETag and Last-Modified, so that a page can be answered `304 Not Modified`
until the archive really changes. `episodes.transcript_at` is when the episode's segments last changed: the sitemap's
`lastmod`; episodes transcribed before this revision take the time they were last finished.

Revision ID: 0015_23b_changes
Revises: 0014
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0015_23b_changes"
down_revision = "0014"
branch_labels = None
depends_on = None

episodes = sa.table(
    "episodes", sa.column("transcript_at", sa.Text()), sa.column("finished_at", sa.Text()),
    sa.column("updated_at", sa.Text()), sa.column("status", sa.Text()),
)  # fmt: skip


def upgrade() -> None:
    changes = op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counter", sa.Integer(), server_default="0", nullable=False),
        sa.Column("changed_at", sa.Double(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(changes, [{"id": 1, "counter": 1, "changed_at": time.time()}])
    op.add_column("episodes", sa.Column("transcript_at", sa.Text(), nullable=True))
    op.execute(
        sa.update(episodes)
        .where(episodes.c.status == "done")
        .values(transcript_at=sa.func.coalesce(episodes.c.finished_at, episodes.c.updated_at))
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch's copy of `episodes` would, with foreign keys on, delete
    # every row that refers to the dropped original (segments, word counts, vectors).
    op.drop_column("episodes", "transcript_at")
    op.drop_table("changes")
