"""Uploads record the YouTube API quota they cost, and when it was spent.

``quota_units`` (videos.insert 1600, thumbnails.set 50, playlistItems.insert 50, commentThreads.insert 50)
is added to as each call is accepted; ``quota_at`` is the time of the last of them, so the units used
on one of YouTube's quota days (midnight to midnight, Pacific time) can be summed. Uploads made before
this revision count 0 units: their calls were recorded only in each track's upload.json.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite copies the table where it cannot alter it; PostgreSQL gets plain ALTER TABLE
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("quota_units", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("quota_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(batch.f("ix_uploads_quota_at"), ["quota_at"])


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_index(batch.f("ix_uploads_quota_at"))
        batch.drop_column("quota_at")
        batch.drop_column("quota_units")
