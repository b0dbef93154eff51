"""REST: /transcribe/jobs — show, list and cancel queued transcription jobs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get
from litestar.status_codes import HTTP_200_OK

from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.schemas import JobPage
from scaiecho_module.jobs.service import JobDetail
from scaiecho_module.permissions import PERM_TRANSCRIBE
from scaiecho_module.runtime import runtime_of
from scaiecho_module.transport.views import job_view


class TranscriptionJobController(Controller):
    path = "/transcribe/jobs"
    opt = {"permission": PERM_TRANSCRIBE}

    @get()
    async def list_jobs(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        limit: int = 20,
        cursor: str | None = None,
    ) -> JobPage:
        jobs, next_cursor = await runtime_of(request.app).jobs.list(principal, limit, cursor)
        return JobPage([job_view(JobDetail(job, None)) for job in jobs], next_cursor)

    @get("/{job_id:str}")
    async def get_job(
        self, request: Request[Any, Any, Any], principal: Principal, job_id: str
    ) -> dict[str, Any]:
        return {"data": job_view(await runtime_of(request.app).jobs.get(principal, job_id))}

    @delete("/{job_id:str}", status_code=HTTP_200_OK)
    async def cancel_job(
        self, request: Request[Any, Any, Any], principal: Principal, job_id: str
    ) -> dict[str, Any]:
        job = await runtime_of(request.app).jobs.cancel(principal, job_id)
        return {"data": job_view(JobDetail(job, None))}
