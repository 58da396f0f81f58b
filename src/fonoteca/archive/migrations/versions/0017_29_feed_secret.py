"""`shows.feed_secret`: the secret path of a show's Podcasting 2.0 feed on a private archive (issue 29). Podcast apps
cannot send a token, so a private archive's feed and its transcript files live under a random path the owner can
replace (rotate) at any time; empty until the feed is first asked for.

Revision ID: 0017_29_feed_secret
Revises: 0016_28_words
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_29_feed_secret"
down_revision = "0016_28_words"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("shows", sa.Column("feed_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35): a batch copy of `shows` would cascade-delete every episode on SQLite.
    op.execute("ALTER TABLE shows DROP COLUMN feed_secret")
