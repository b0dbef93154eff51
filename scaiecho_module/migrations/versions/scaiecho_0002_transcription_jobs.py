"""scaiecho transcription jobs

The same tables as the legacy single tree's revision 0002, so a legacy database is stamped here.

Revision ID: scaiecho_0002
Revises: scaiecho_0001
Create Date: 2026-11-22 02:37:58.807406
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import advanced_alchemy.types


revision = 'scaiecho_0002'
down_revision = 'scaiecho_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scaiecho_transcription_job',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('blob_key', sa.String(length=400), nullable=True),
    sa.Column('language_hint', sa.String(length=8), nullable=True),
    sa.Column('backend_used', sa.String(length=1), nullable=False),
    sa.Column('node_id', sa.String(length=100), nullable=True),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('estimated_seconds', sa.Float(), nullable=True),
    sa.Column('duration_seconds', sa.Float(), nullable=True),
    sa.Column('processed_samples', sa.BigInteger(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('started_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('finished_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('metered_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaiecho_transcription_job'))
    )
    with op.batch_alter_table('scaiecho_transcription_job', schema=None) as batch_op:
        batch_op.create_index('ix_scaiecho_job_owner_created', ['tenant_id', 'user_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_scaiecho_transcription_job_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_scaiecho_transcription_job_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('scaiecho_job_segment',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('job_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('start', sa.Float(), nullable=False),
    sa.Column('end', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['scaiecho_transcription_job.id'], name=op.f('fk_scaiecho_job_segment_job_id_scaiecho_transcription_job'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaiecho_job_segment'))
    )
    with op.batch_alter_table('scaiecho_job_segment', schema=None) as batch_op:
        batch_op.create_index('ix_scaiecho_job_segment_order', ['job_id', 'seq'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('scaiecho_job_segment', schema=None) as batch_op:
        batch_op.drop_index('ix_scaiecho_job_segment_order')

    op.drop_table('scaiecho_job_segment')
    with op.batch_alter_table('scaiecho_transcription_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scaiecho_transcription_job_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_scaiecho_transcription_job_status'))
        batch_op.drop_index('ix_scaiecho_job_owner_created')

    op.drop_table('scaiecho_transcription_job')
