"""host tables

The root of the stub host's own branch: its tables, the ones the legacy single tree created in
its revision 0001 (same columns, indexes and constraint names) less the module's
scaiecho_tenant_policy, which now lives in the module's branch. A legacy database is stamped here.

Revision ID: host_0001
Revises: 
Create Date: 2026-12-01 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import advanced_alchemy.types


revision = 'host_0001'
down_revision = None
branch_labels = ('host',)
depends_on = None


def upgrade() -> None:
    op.create_table('host_audit_event',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('actor_user_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_audit_event'))
    )
    with op.batch_alter_table('host_audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_host_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_host_audit_event_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('host_tenant',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_tenant')),
    sa.UniqueConstraint('slug', name=op.f('uq_host_tenant_slug'))
    )
    op.create_table('host_tenant_budget',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('unit', sa.String(length=100), nullable=False),
    sa.Column('limit', sa.Float(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['host_tenant.id'], name=op.f('fk_host_tenant_budget_tenant_id_host_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_tenant_budget')),
    sa.UniqueConstraint('tenant_id', 'unit', name=op.f('uq_host_tenant_budget_tenant_id'))
    )
    with op.batch_alter_table('host_tenant_budget', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_host_tenant_budget_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('host_usage_event',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('module_id', sa.String(length=64), nullable=False),
    sa.Column('unit', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['host_tenant.id'], name=op.f('fk_host_usage_event_tenant_id_host_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_usage_event')),
    sa.UniqueConstraint('reference', name=op.f('uq_host_usage_event_reference'))
    )
    with op.batch_alter_table('host_usage_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_host_usage_event_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('host_user',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['host_tenant.id'], name=op.f('fk_host_user_tenant_id_host_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_user')),
    sa.UniqueConstraint('tenant_id', 'email', name=op.f('uq_host_user_tenant_id'))
    )
    with op.batch_alter_table('host_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_host_user_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('host_api_key',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('revoked_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['host_user.id'], name=op.f('fk_host_api_key_user_id_host_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_host_api_key_key_hash'))
    )
    with op.batch_alter_table('host_api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_host_api_key_user_id'), ['user_id'], unique=False)

    op.create_table('host_permission_grant',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('permission', sa.String(length=100), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['host_user.id'], name=op.f('fk_host_permission_grant_user_id_host_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_permission_grant')),
    sa.UniqueConstraint('user_id', 'permission', name=op.f('uq_host_permission_grant_user_id'))
    )
    with op.batch_alter_table('host_permission_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_host_permission_grant_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('host_permission_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_host_permission_grant_user_id'))

    op.drop_table('host_permission_grant')
    with op.batch_alter_table('host_api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_host_api_key_user_id'))

    op.drop_table('host_api_key')
    with op.batch_alter_table('host_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_host_user_tenant_id'))

    op.drop_table('host_user')
    with op.batch_alter_table('host_usage_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_host_usage_event_tenant_id'))

    op.drop_table('host_usage_event')
    with op.batch_alter_table('host_tenant_budget', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_host_tenant_budget_tenant_id'))

    op.drop_table('host_tenant_budget')
    op.drop_table('host_tenant')
    with op.batch_alter_table('host_audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_host_audit_event_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_host_audit_event_action'))

    op.drop_table('host_audit_event')
