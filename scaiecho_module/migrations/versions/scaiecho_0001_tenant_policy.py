"""scaiecho tenant policy

The root of ScaiEcho's own branch. The table is the one the legacy single tree created in its
revision 0001 (same columns, index and constraint names), so a legacy database is stamped here.

Revision ID: scaiecho_0001
Revises: 
Create Date: 2026-12-01 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import advanced_alchemy.types


revision = 'scaiecho_0001'
down_revision = None
branch_labels = ('scaiecho',)
depends_on = None


def upgrade() -> None:
    op.create_table('scaiecho_tenant_policy',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('allowed_backends', sa.String(length=2), nullable=False),
    sa.Column('default_backend', sa.String(length=1), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaiecho_tenant_policy'))
    )
    with op.batch_alter_table('scaiecho_tenant_policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scaiecho_tenant_policy_tenant_id'), ['tenant_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('scaiecho_tenant_policy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scaiecho_tenant_policy_tenant_id'))

    op.drop_table('scaiecho_tenant_policy')
