"""The word counts' bookkeeping is the archive's, what a search index holds is the index's own: `indexed` becomes
`counted` (which transcript revision term_counts and the word total are of). Each machine's search index records the
episodes it holds beside its files, so several machines can serve one PostgreSQL archive, each with its own index; the
one-row table `finished` counts the changes such an index must follow (an episode finished, transcribed again or
deleted), so that it knows with one tiny read before each search whether anything changed. And `episodes.finished_at`:
when an episode was last finished, for the fleet's throughput (audio hours transcribed in the last hour).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("indexed", "counted")
    finished = op.create_table(
        "finished",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(finished, [{"id": 1, "version": 0}])
    op.add_column("episodes", sa.Column("finished_at", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("episodes") as episodes:
        episodes.drop_column("finished_at")
    op.drop_table("finished")
    op.rename_table("counted", "indexed")
