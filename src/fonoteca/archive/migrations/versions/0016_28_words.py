"""Getting the words right (issue 28): a show's vocabulary (hints for Whisper), its correction rules, lines fixed by
hand with their history, and `segments.said`, the line as transcribed where a rule or an edit changed its text (so a
removed rule or a reverted edit restores it exactly). Word probabilities ride in `segments.words` as a fourth item.

Revision ID: 0016_28_words
Revises: 0015_23b_changes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_28_words"
down_revision = "0015_23b_changes"
branch_labels = None
depends_on = None


def _stamp(name: str) -> sa.Column[str]:
    from fonoteca.archive.tables import utc_now

    return sa.Column(name, sa.Text(), nullable=False, server_default=utc_now())


def upgrade() -> None:
    op.add_column("segments", sa.Column("said", sa.Text(), nullable=True))
    op.create_table(
        "vocabulary",
        sa.Column("show_id", sa.Integer(), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("folded", sa.Text(), nullable=False),
        _stamp("added_at"),
        sa.PrimaryKeyConstraint("show_id", "folded"),
    )
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("show_id", sa.Integer(), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("wrong", sa.Text(), nullable=False),
        sa.Column("folded", sa.Text(), nullable=False),
        sa.Column("right", sa.Text(), nullable=False),
        _stamp("created_at"),
        sa.UniqueConstraint("show_id", "folded"),
    )
    op.create_table(
        "line_edits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("episode_id", sa.Text(), sa.ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("editor", sa.Text(), nullable=False),
        _stamp("edited_at"),
        sa.Column("reverted_at", sa.Text(), nullable=True),
        sa.Column("reverted_by", sa.Text(), nullable=True),
    )
    op.create_index("line_edits_episode", "line_edits", ["episode_id", "idx"])


def downgrade() -> None:
    op.drop_index("line_edits_episode", "line_edits")
    op.drop_table("line_edits")
    op.drop_table("corrections")
    op.drop_table("vocabulary")
    with op.batch_alter_table("segments") as segments:
        segments.drop_column("said")
