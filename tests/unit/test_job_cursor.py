"""Job list cursors: only the ones the API hands out are accepted."""

from __future__ import annotations

import base64
import uuid

import pytest

from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.jobs.service import _decode_cursor


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_a_cursor_with_a_utc_time_and_a_job_id_is_accepted() -> None:
    job_id = uuid.uuid4()
    created, decoded = _decode_cursor(_cursor(f"2026-12-01T10:00:00+00:00|{job_id}"))
    assert decoded == job_id
    assert created.utcoffset() is not None


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2026-12-01T10:00:00|0ea9b9f7-29f4-41a7-ad18-ae1372beeac6"),  # no timezone
        _cursor("2026-12-01T10:00:00+00:00|not-a-uuid"),
        _cursor("no separator"),
        "%%%not base64",
        _cursor("x" * 300),
    ],
)
def test_any_other_cursor_is_a_validation_error_on_the_cursor(cursor: str) -> None:
    with pytest.raises(ScaiEchoError) as raised:
        _decode_cursor(cursor)
    assert (raised.value.kind.code, raised.value.details) == ("VALIDATION_ERROR", {"field": "cursor"})
