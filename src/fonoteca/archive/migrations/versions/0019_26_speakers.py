"""Who said it (issue 26): a show's library of named speakers, the voices and turns the speaker step found in each
episode, which episodes it has done, and `shows.speakers` (0: the show turned the step off).

Revision ID: 0019_26_speakers
Revises: 0018_27_overviews
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_26_speakers"
down_revision = "0018_27_overviews"
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
    op.add_column("shows", sa.Column("speakers", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "show_speakers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("show_id", sa.Integer(), sa.ForeignKey("shows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("folded", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), sa.CheckConstraint("source IN ('owner', 'imported')"), nullable=False),
        sa.Column("voice_print", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Text(), server_default=now, nullable=False),
        sa.UniqueConstraint("show_id", "folded"),
    )
    op.create_table(
        "diarizations",
        sa.Column("episode_id", sa.Text(), sa.ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("speakers", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.Text(), server_default=now, nullable=False),
    )
    op.create_table(
        "episode_speakers",
        _episode(),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("voice_print", sa.LargeBinary(), nullable=True),
        sa.Column(
            "show_speaker_id", sa.Integer(), sa.ForeignKey("show_speakers.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("naming", sa.Text(), sa.CheckConstraint("naming IN ('owner', 'match')"), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("episode_id", "number"),
    )
    op.create_index("episode_speakers_show_speaker", "episode_speakers", ["show_speaker_id"])
    op.create_table(
        "speaker_turns",
        _episode(),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("episode_id", "idx"),
    )


def downgrade() -> None:
    for table in ("speaker_turns", "episode_speakers", "diarizations", "show_speakers"):
        op.drop_table(table)
    # A plain DROP COLUMN (SQLite >= 3.35): a batch copy of `shows` would cascade-delete every episode on SQLite.
    op.execute("ALTER TABLE shows DROP COLUMN speakers")
