"""Every transcription is metered in audio seconds against the budget, and audited."""

from __future__ import annotations

import pytest

from host_stub.models import AuditRecord, UsageEvent
from tests.e2e.conftest import Caller
from tests.support import recordings
from tests.support.db import audit_rows, usage_rows

pytestmark = pytest.mark.both_databases


def _usage(caller: Caller) -> list[UsageEvent]:
    return usage_rows(caller.server.database_url, caller.tenant_id)


def _audit(caller: Caller) -> list[AuditRecord]:
    return audit_rows(caller.server.database_url, caller.tenant_id)


def test_transcription_is_metered_in_audio_seconds(caller: Caller) -> None:
    data = caller.transcribe(recordings.librivox("0870").wav).json()["data"]
    [event] = _usage(caller)
    assert event.unit == "scaiecho.audio_seconds"
    assert event.module_id == "scaiecho"
    assert event.quantity == pytest.approx(7.1, abs=0.01)
    assert str(event.user_id) == caller.user_id
    assert event.reference == f"scaiecho:transcribe:{data['id']}"


def test_transcription_is_audited_without_its_text(caller: Caller) -> None:
    data = caller.transcribe(recordings.librivox("0870").wav).json()["data"]
    [record] = _audit(caller)
    assert record.action == "scaiecho.transcribe"
    assert record.actor_user_id == caller.user_id
    assert record.target == data["id"]
    assert record.details["backend"] == "A"
    assert record.details["transport"] == "rest"
    assert record.details["audio_seconds"] == pytest.approx(7.1, abs=0.01)
    assert "dashwood" not in str(record.details).lower()


def test_policy_update_is_audited(caller: Caller) -> None:
    with caller.client() as client:
        client.put("/tenant-policy", json={"allowed_backends": ["A"], "default_backend": "A"})
    [record] = _audit(caller)
    assert record.action == "scaiecho.tenant_policy.update"
    assert record.details == {"allowed_backends": "A", "default_backend": "A"}


def test_exhausted_budget_is_402_and_runs_nothing(caller: Caller) -> None:
    caller.set_budget(5.0)  # less than the 7.1 s clip
    resp = caller.transcribe(recordings.librivox("0870").wav)
    assert resp.status_code == 402
    assert resp.json()["error"]["code"] == "BUDGET_EXHAUSTED"
    assert _usage(caller) == []
    assert _audit(caller) == []


def test_budget_is_spent_down_then_refused(caller: Caller) -> None:
    caller.set_budget(10.0)
    assert caller.transcribe(recordings.librivox("0870").wav).status_code == 200  # 7.1 s
    resp = caller.transcribe(recordings.librivox("0870").wav)  # 7.1 s more than the 2.9 left
    assert resp.status_code == 402
    assert [e.quantity for e in _usage(caller)] == [pytest.approx(7.1, abs=0.01)]
    caller.set_budget(None)
    assert caller.transcribe(recordings.librivox("0870").wav).status_code == 200
