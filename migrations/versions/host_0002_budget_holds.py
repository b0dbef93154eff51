"""budget holds

Reservations against a tenant budget for work in progress (issue 13: concurrent requests
overspent a budget that each alone would have respected).

Revision ID: host_0002
Revises: host_0001
Create Date: 2026-12-02 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import advanced_alchemy.types


revision = 'host_0002'
down_revision = 'host_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('host_budget_hold',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('unit', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('expires_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['host_tenant.id'], name=op.f('fk_host_budget_hold_tenant_id_host_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_budget_hold')),
    sa.UniqueConstraint('reference', name=op.f('uq_host_budget_hold_reference'))
    )
    with op.batch_alter_table('host_budget_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_host_budget_hold_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('host_budget_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_host_budget_hold_tenant_id'))
    op.drop_table('host_budget_hold')
