"""An episode at a glance (issue 27): chapters (the publisher's and generated ones), key moments and topics, and the
`overviews` row saying which transcript revision and method the generated ones were made from.

Revision ID: 0018_27_overviews
Revises: 0017_29_feed_secret
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_27_overviews"
down_revision = "0017_29_feed_secret"
branch_labels = None
depends_on = None

_NOW = {
    "sqlite": "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
    "postgresql": """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""",
}


def _episode() -> sa.Column[str]:
    return sa.Column("episode_id", sa.Text(), sa.ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    now = sa.text(_NOW[op.get_bind().dialect.name])
    op.create_table(
        "overviews",
        sa.Column("episode_id", sa.Text(), sa.ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("transcript_rev", sa.Integer(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("made_at", sa.Text(), server_default=now, nullable=False),
    )
    op.create_table(
        "chapters",
        _episode(),
        sa.Column("source", sa.Text(), sa.CheckConstraint("source IN ('publisher', 'generated')"), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), server_default="", nullable=False),
        sa.Column("image", sa.Text(), server_default="", nullable=False),
        sa.Column("toc", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("episode_id", "source", "idx"),
    )
    op.create_table(
        "key_moments",
        _episode(),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("episode_id", "idx"),
    )
    op.create_table(
        "topics",
        _episode(),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("episode_id", "rank"),
    )


def downgrade() -> None:
    for table in ("topics", "key_moments", "chapters", "overviews"):
        op.drop_table(table)
