"""scaiecho job decode options (word times, prompt, hotwords), per-segment word times, tombstones

Revision ID: scaiecho_0004
Revises: scaiecho_0003 (speakers)
Create Date: 2026-12-02 00:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import advanced_alchemy.types

revision = "scaiecho_0004"
down_revision = "scaiecho_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scaiecho_transcription_job") as batch:
        batch.add_column(sa.Column("word_timestamps", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("prompt", sa.Text(), nullable=True))
        batch.add_column(sa.Column("hotwords", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("deleted_at", advanced_alchemy.types.DateTimeUTC(timezone=True), nullable=True)
        )
    with op.batch_alter_table("scaiecho_job_segment") as batch:
        batch.add_column(sa.Column("words", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scaiecho_job_segment") as batch:
        batch.drop_column("words")
    with op.batch_alter_table("scaiecho_transcription_job") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("hotwords")
        batch.drop_column("prompt")
        batch.drop_column("word_timestamps")
