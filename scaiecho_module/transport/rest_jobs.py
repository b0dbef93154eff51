"""REST: /transcribe/jobs — show, list, cancel and delete queued transcription jobs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, delete, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK

from scaiecho_module.errors import VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.models import JobStatus
from scaiecho_module.jobs.schemas import JobPage
from scaiecho_module.jobs.service import JobService
from scaiecho_module.permissions import PERM_TRANSCRIBE
from scaiecho_module.transport.form import response_format
from scaiecho_module.transport.openapi import JobEnvelope, errors, success
from scaiecho_module.transport.views import job_response

_STATUSES = ", ".join(s.value for s in JobStatus)


def _statuses(raw: str | None) -> frozenset[JobStatus] | None:
    """``?status=running`` or ``?status=queued,running``."""
    if raw is None or not raw.strip():
        return None
    try:
        return frozenset(JobStatus(part.strip().lower()) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ScaiEchoError(
            VALIDATION_ERROR, f"status takes one or more of: {_STATUSES}", {"field": "status"}
        ) from None


class TranscriptionJobController(Controller):
    path = "/transcribe/jobs"
    opt = {"permission": PERM_TRANSCRIBE}

    @get(responses=errors(400, 401, 403))
    async def list_jobs(
        self,
        principal: NamedDependency[Principal],
        jobs: NamedDependency[JobService],
        limit: int = 20,
        cursor: str | None = None,
        status: str | None = None,
    ) -> JobPage:
        page, next_cursor = await jobs.list(principal, limit, cursor, _statuses(status))
        return JobPage(page, next_cursor)

    @get(
        "/{job_id:str}",
        responses={200: success(JobEnvelope, "The job"), **errors(400, 401, 403, 404, 409)},
    )
    async def get_job(
        self,
        principal: NamedDependency[Principal],
        jobs: NamedDependency[JobService],
        job_id: str,
        format: str | None = None,
    ) -> Response[Any]:
        fmt = response_format(format, "format")
        view, segments = await jobs.get_with_segments(principal, job_id)
        return job_response(view, segments, fmt)

    @delete(
        "/{job_id:str}",
        status_code=HTTP_200_OK,
        responses={200: success(JobEnvelope, "The job", formats=False), **errors(401, 403, 404, 409)},
    )
    async def cancel_job(
        self, principal: NamedDependency[Principal], jobs: NamedDependency[JobService], job_id: str
    ) -> dict[str, Any]:
        return {"data": await jobs.cancel(principal, job_id)}
