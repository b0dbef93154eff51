"""The two layers: ``tests/unit`` (pure logic, no servers, seconds) and ``tests/e2e`` (served
stub host, real servers, real speech). Every e2e test carries the ``e2e`` marker, so
``pytest -m "not e2e"`` runs the fast layer alone, as ``pytest tests/unit`` does.

The session's served stub host runs on SQLite and on PostgreSQL (``database_url``). Only test
modules marked ``both_databases`` (what the database decides: access control, audit in the
transaction, metering, immutability triggers, migrations, budgets) run on both; the rest
(transcription quality, formats, streaming, bad input) run on SQLite alone: their PostgreSQL
copies transcribed the same audio twice and tested nothing the database decides."""

from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"


def _postgresql_copy(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return (
        callspec is not None
        and callspec.params.get("database_url") == "postgresql"
        and item.get_closest_marker("both_databases") is None
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)
    dropped = [item for item in items if _postgresql_copy(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not _postgresql_copy(item)]
