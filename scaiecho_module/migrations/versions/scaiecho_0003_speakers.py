"""scaiecho speaker library: profiles, consent records, erasure audits

Consent records and erasure audits are evidence: triggers make the database refuse any
UPDATE or DELETE on them, on SQLite and PostgreSQL alike, whoever connects.

Revision ID: scaiecho_0003
Revises: scaiecho_0002
Create Date: 2026-12-01 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import advanced_alchemy.types


revision = 'scaiecho_0003'
down_revision = 'scaiecho_0002'
branch_labels = None
depends_on = None

IMMUTABLE = ('scaiecho_speaker_consent', 'scaiecho_speaker_erasure')
_PG_FUNCTION = 'scaiecho_refuse_change'


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('scaiecho_speaker_profile',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('language_primary', sa.String(length=16), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_code', sa.String(length=64), nullable=True),
    sa.Column('reference_blob_key', sa.String(length=400), nullable=True),
    sa.Column('consent_blob_key', sa.String(length=400), nullable=True),
    sa.Column('reference_bytes', sa.BigInteger(), nullable=False),
    sa.Column('consent_bytes', sa.BigInteger(), nullable=False),
    sa.Column('preflight', sa.JSON(), nullable=False),
    sa.Column('erased_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('erased_by_user_id', sa.String(length=64), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    *_timestamps(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaiecho_speaker_profile'))
    )
    with op.batch_alter_table('scaiecho_speaker_profile', schema=None) as batch_op:
        batch_op.create_index('ix_scaiecho_speaker_tenant_created', ['tenant_id', 'created_at'], unique=False)
        batch_op.create_index(
            'uq_scaiecho_speaker_live_name', ['tenant_id', 'display_name'], unique=True,
            sqlite_where=sa.text('erased_at IS NULL'), postgresql_where=sa.text('erased_at IS NULL'),
        )

    op.create_table('scaiecho_speaker_consent',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('speaker_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('recorded_by_user_id', sa.String(length=64), nullable=False),
    sa.Column('user_full_name', sa.String(length=200), nullable=False),
    sa.Column('stated_purpose', sa.Text(), nullable=False),
    sa.Column('consent_text', sa.Text(), nullable=False),
    sa.Column('text_match', sa.Float(), nullable=False),
    sa.Column('recorded_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['speaker_id'], ['scaiecho_speaker_profile.id'], name=op.f('fk_scaiecho_speaker_consent_speaker_id_scaiecho_speaker_profile')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaiecho_speaker_consent'))
    )
    with op.batch_alter_table('scaiecho_speaker_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scaiecho_speaker_consent_speaker_id'), ['speaker_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scaiecho_speaker_consent_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('scaiecho_speaker_erasure',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('speaker_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('actor_user_id', sa.String(length=64), nullable=False),
    sa.Column('blob_bytes_deleted', sa.BigInteger(), nullable=False),
    sa.Column('evicted_node_ids', sa.JSON(), nullable=False),
    sa.Column('node_errors', sa.JSON(), nullable=False),
    sa.Column('erased_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['speaker_id'], ['scaiecho_speaker_profile.id'], name=op.f('fk_scaiecho_speaker_erasure_speaker_id_scaiecho_speaker_profile')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scaiecho_speaker_erasure'))
    )
    with op.batch_alter_table('scaiecho_speaker_erasure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scaiecho_speaker_erasure_speaker_id'), ['speaker_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scaiecho_speaker_erasure_tenant_id'), ['tenant_id'], unique=False)

    _create_triggers()


def _create_triggers() -> None:
    if op.get_context().dialect.name == 'postgresql':
        op.execute(
            f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% on % is refused: the row is immutable', TG_OP, TG_TABLE_NAME "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        for table in IMMUTABLE:
            # Row-level for UPDATE/DELETE, statement-level for TRUNCATE (which skips row triggers).
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()"
            )
        return
    for table in IMMUTABLE:
        for action in ('UPDATE', 'DELETE'):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{action} on {table} is refused: the row is immutable'); END"
            )


def _drop_triggers() -> None:
    if op.get_context().dialect.name == 'postgresql':
        for table in IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()")
        return
    for table in IMMUTABLE:
        for action in ('update', 'delete'):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def downgrade() -> None:
    # Dropping the tables is the operator's deliberate act; the triggers go first so it can.
    _drop_triggers()
    for table in ('scaiecho_speaker_erasure', 'scaiecho_speaker_consent'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_tenant_id'))
            batch_op.drop_index(batch_op.f(f'ix_{table}_speaker_id'))
        op.drop_table(table)
    with op.batch_alter_table('scaiecho_speaker_profile', schema=None) as batch_op:
        batch_op.drop_index('uq_scaiecho_speaker_live_name')
        batch_op.drop_index('ix_scaiecho_speaker_tenant_created')
    op.drop_table('scaiecho_speaker_profile')
