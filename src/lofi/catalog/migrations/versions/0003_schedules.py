"""The server's recurring runs (the daily set): when each is due next and what its last run made.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        # times are lofi.catalog.models.UTCDateTime; a migration names the plain type so it never changes
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_jobs", sa.JSON(), nullable=False),
        sa.Column("last_note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_schedules")),
    )


def downgrade() -> None:
    op.drop_table("schedules")
