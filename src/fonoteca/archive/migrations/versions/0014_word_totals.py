"""The word totals of episodes counted before schema 6 (when `counted` was `indexed` and had no `words`), summed from
their stored word counts: the same number counting stores, without reading a transcript again. Until this revision the
search index filled them when a process first synced it; every count stored since has its total.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The two tables as this revision reads them (fonoteca.archive.tables may change after it).
counted = sa.table("counted", sa.column("episode_id", sa.Text()), sa.column("words", sa.Integer()))
term_counts = sa.table(
    "term_counts", sa.column("term", sa.Text()), sa.column("episode_id", sa.Text()), sa.column("count", sa.Integer())
)


def upgrade() -> None:
    # A pair is stored as "a_b" and a word never holds "_" (fonoteca.text.words): the words are the rest.
    said = (
        sa.select(sa.func.coalesce(sa.func.sum(term_counts.c.count), 0))
        .where(
            term_counts.c.episode_id == counted.c.episode_id,
            ~term_counts.c.term.contains("_", autoescape=True),
        )
        .scalar_subquery()
    )
    op.execute(sa.update(counted).where(counted.c.words.is_(None)).values(words=said))


def downgrade() -> None:
    """Nothing to undo: the totals are what counting would have stored."""
