"""REST: /transcribe/jobs — show, list and cancel queued transcription jobs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get
from litestar.status_codes import HTTP_200_OK

from scaiecho_module.errors import VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.models import JobStatus
from scaiecho_module.jobs.schemas import JobPage
from scaiecho_module.jobs.service import JobDetail
from scaiecho_module.metering import PERM_TRANSCRIBE
from scaiecho_module.runtime import runtime_of
from scaiecho_module.transport.form import response_format
from scaiecho_module.transport.openapi import JobEnvelope, errors, success
from scaiecho_module.transport.views import job_response, job_view

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
        request: Request[Any, Any, Any],
        principal: Principal,
        limit: int = 20,
        cursor: str | None = None,
        status: str | None = None,
    ) -> JobPage:
        statuses = _statuses(status)
        jobs, next_cursor = await runtime_of(request.app).jobs.list(principal, limit, cursor, statuses)
        return JobPage([job_view(JobDetail(job, None)) for job in jobs], next_cursor)

    @get(
        "/{job_id:str}",
        responses={200: success(JobEnvelope, "The job"), **errors(400, 401, 403, 404, 409)},
    )
    async def get_job(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        job_id: str,
        format: str | None = None,
    ) -> Response[Any]:
        fmt = response_format(format, "format")
        return job_response(await runtime_of(request.app).jobs.get(principal, job_id), fmt)

    @delete(
        "/{job_id:str}",
        status_code=HTTP_200_OK,
        responses={200: success(JobEnvelope, "The job", formats=False), **errors(401, 403, 404, 409)},
    )
    async def cancel_job(
        self, request: Request[Any, Any, Any], principal: Principal, job_id: str
    ) -> dict[str, Any]:
        job = await runtime_of(request.app).jobs.cancel(principal, job_id)
        return {"data": job_view(JobDetail(job, None))}
