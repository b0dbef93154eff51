"""Consent records and erasure audits are immutable in the database itself (triggers).

Not by convention in our code: any connection, any statement. An UPDATE, a DELETE (and on
PostgreSQL a TRUNCATE) on either table fails, on SQLite and PostgreSQL alike; the profile
table stays writable (erasure tombstones it).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from scaiecho_module import migrations
from tests.support.servers import create_database

pytestmark = pytest.mark.both_databases


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'immutable.db'}"
    else:
        url = create_database(request.getfixturevalue("pg_url"), f"imm_{uuid.uuid4().hex[:8]}")
    migrations.upgrade(url)
    return url


def _rows(url: str) -> tuple[str, str]:
    """One profile with a consent record and an erasure audit, inserted with plain SQL."""
    speaker, consent, erasure = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    pg = url.startswith("postgresql")

    def uid(value: uuid.UUID) -> str:
        return f"'{value}'" if pg else f"X'{value.hex}'"

    now = "CURRENT_TIMESTAMP"
    profile_columns = (
        "id, tenant_id, user_id, display_name, status, reference_bytes, consent_bytes, preflight, "
        "created_at, updated_at"
    )
    consent_columns = (
        "id, tenant_id, speaker_id, recorded_by_user_id, user_full_name, stated_purpose, consent_text, "
        "text_match, recorded_at"
    )
    erasure_columns = (
        "id, tenant_id, speaker_id, actor_user_id, blob_bytes_deleted, evicted_node_ids, "
        "node_errors, erased_at"
    )
    statements = [
        f"INSERT INTO scaiecho_speaker_profile ({profile_columns}) "
        f"VALUES ({uid(speaker)}, 't', 'u', 'A', 'pending', 0, 0, '{{}}', {now}, {now})",
        f"INSERT INTO scaiecho_speaker_consent ({consent_columns}) "
        f"VALUES ({uid(consent)}, 't', {uid(speaker)}, 'u', 'A', 'p', 'I consent', 1.0, {now})",
        f"INSERT INTO scaiecho_speaker_erasure ({erasure_columns}) "
        f"VALUES ({uid(erasure)}, 't', {uid(speaker)}, 'u', 10, '[]', '{{}}', {now})",
    ]
    _execute(url, statements)
    return uid(consent), uid(erasure)


def _execute(url: str, statements: list[str]) -> None:
    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def _count(url: str, table: str) -> int:
    async def run() -> int:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("table", "change"),
    [
        ("scaiecho_speaker_consent", "UPDATE {table} SET consent_text = 'forged' WHERE id = {id}"),
        ("scaiecho_speaker_consent", "UPDATE {table} SET text_match = 0"),
        ("scaiecho_speaker_consent", "DELETE FROM {table} WHERE id = {id}"),
        ("scaiecho_speaker_consent", "DELETE FROM {table}"),
        ("scaiecho_speaker_erasure", "UPDATE {table} SET blob_bytes_deleted = 0 WHERE id = {id}"),
        ("scaiecho_speaker_erasure", "DELETE FROM {table} WHERE id = {id}"),
        ("scaiecho_speaker_erasure", "DELETE FROM {table}"),
    ],
)
def test_consent_and_erasure_rows_refuse_update_and_delete(
    database_url: str, table: str, change: str
) -> None:
    consent_id, erasure_id = _rows(database_url)
    row_id = consent_id if table.endswith("consent") else erasure_id
    with pytest.raises(DBAPIError, match="immutable"):
        _execute(database_url, [change.format(table=table, id=row_id)])
    assert _count(database_url, table) == 1


def test_truncate_of_an_immutable_table_fails_on_postgresql(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no TRUNCATE; DELETE without WHERE is refused above")
    _rows(database_url)
    for table in ("scaiecho_speaker_consent", "scaiecho_speaker_erasure"):
        with pytest.raises(DBAPIError, match="immutable"):
            _execute(database_url, [f"TRUNCATE {table} CASCADE"])
        assert _count(database_url, table) == 1


def test_profile_rows_stay_writable_for_the_tombstone(database_url: str) -> None:
    _rows(database_url)
    _execute(database_url, ["UPDATE scaiecho_speaker_profile SET erased_at = CURRENT_TIMESTAMP"])
    assert _count(database_url, "scaiecho_speaker_profile") == 1
