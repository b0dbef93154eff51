"""scaiecho webhooks: one delivery row per job that asked for one, and each tenant's secret

Revision ID: scaiecho_0006
Revises: scaiecho_0005 (speaker labels)
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import advanced_alchemy.types


revision = 'scaiecho_0006'
down_revision = 'scaiecho_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scaiecho_webhook_secret',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaiecho_webhook_secret')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_scaiecho_webhook_secret_tenant_id'))
    )
    op.create_table('scaiecho_webhook_delivery',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('job_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('auth', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('locked_until', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('delivered_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['scaiecho_transcription_job.id'], name=op.f('fk_scaiecho_webhook_delivery_job_id_scaiecho_transcription_job'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaiecho_webhook_delivery')),
    sa.UniqueConstraint('job_id', name=op.f('uq_scaiecho_webhook_delivery_job_id'))
    )
    with op.batch_alter_table('scaiecho_webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_scaiecho_webhook_due', ['state', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('scaiecho_webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_scaiecho_webhook_due')

    op.drop_table('scaiecho_webhook_delivery')
    op.drop_table('scaiecho_webhook_secret')
