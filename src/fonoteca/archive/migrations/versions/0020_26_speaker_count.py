"""How many people speak in a show's episodes, when the owner knows (`shows.speaker_count`, `fonoteca speakers count
SHOW N`): the speaker step of its later episodes clusters their voices into that many. NULL: found by the voices.

Revision ID: 0020_26_speaker_count
Revises: 0019_26_speakers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_26_speaker_count"
down_revision = "0019_26_speakers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shows", sa.Column("speaker_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35): a batch copy of `shows` would cascade-delete every episode on SQLite.
    op.execute("ALTER TABLE shows DROP COLUMN speaker_count")
