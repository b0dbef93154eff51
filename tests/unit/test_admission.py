"""Admission control counts inline work per tenant and per process, and frees it however it ends."""

from __future__ import annotations

import contextlib

import pytest

from scaiecho_module.config import AdmissionLimits
from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.transcribe.admission import InlineAdmission


def test_a_tenant_past_its_share_is_429_and_the_process_past_its_cap_is_503() -> None:
    admission = InlineAdmission(AdmissionLimits(per_process=3, per_tenant=2, retry_after_seconds=9))
    with contextlib.ExitStack() as held:
        held.enter_context(admission.slot("t1"))
        held.enter_context(admission.slot("t1"))
        with pytest.raises(ScaiEchoError) as tenant:
            held.enter_context(admission.slot("t1"))
        assert (tenant.value.kind.code, tenant.value.retry_after) == ("TOO_MANY_REQUESTS", 9)
        held.enter_context(admission.slot("t2"))
        with pytest.raises(ScaiEchoError) as process:
            held.enter_context(admission.slot("t3"))
        assert (process.value.kind.http_status, process.value.details["retry_after_seconds"]) == (503, 9)
        assert admission.in_flight == 3
    assert admission.in_flight == 0


def test_a_slot_is_freed_when_its_work_fails() -> None:
    admission = InlineAdmission(AdmissionLimits(per_process=1, per_tenant=1))
    with pytest.raises(RuntimeError), admission.slot("t1"):
        raise RuntimeError("engine failed")
    with admission.slot("t1"):
        assert admission.in_flight == 1
