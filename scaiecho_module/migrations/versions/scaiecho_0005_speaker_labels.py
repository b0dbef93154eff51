"""scaiecho speaker labels: a job's diarize flag, each stored segment's speaker

Revision ID: scaiecho_0005
Revises: scaiecho_0004 (job decode options)
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "scaiecho_0005"
down_revision = "scaiecho_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scaiecho_transcription_job") as batch:
        batch.add_column(sa.Column("diarize", sa.Boolean(), nullable=False, server_default="0"))
    with op.batch_alter_table("scaiecho_job_segment") as batch:
        batch.add_column(sa.Column("speaker_label", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("speaker_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scaiecho_job_segment") as batch:
        batch.drop_column("speaker_id")
        batch.drop_column("speaker_label")
    with op.batch_alter_table("scaiecho_transcription_job") as batch:
        batch.drop_column("diarize")
