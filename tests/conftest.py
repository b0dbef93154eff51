"""The two layers: ``tests/unit`` (pure logic, no servers, seconds) and ``tests/e2e`` (served
stub host, real servers, real speech). Every e2e test carries the ``e2e`` marker, so
``pytest -m "not e2e"`` runs the fast layer alone, as ``pytest tests/unit`` does."""

from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)
