"""REST: /transcribe/jobs — show, list and cancel queued transcription jobs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK

from scaiecho_module.host_contract import Principal
from scaiecho_module.jobs.schemas import JobPage
from scaiecho_module.jobs.service import JobService
from scaiecho_module.permissions import PERM_TRANSCRIBE


class TranscriptionJobController(Controller):
    path = "/transcribe/jobs"
    opt = {"permission": PERM_TRANSCRIBE}

    @get()
    async def list_jobs(
        self,
        principal: NamedDependency[Principal],
        jobs: NamedDependency[JobService],
        limit: int = 20,
        cursor: str | None = None,
    ) -> JobPage:
        page, next_cursor = await jobs.list(principal, limit, cursor)
        return JobPage(page, next_cursor)

    @get("/{job_id:str}")
    async def get_job(
        self, principal: NamedDependency[Principal], jobs: NamedDependency[JobService], job_id: str
    ) -> dict[str, Any]:
        return {"data": await jobs.get(principal, job_id)}

    @delete("/{job_id:str}", status_code=HTTP_200_OK)
    async def cancel_job(
        self, principal: NamedDependency[Principal], jobs: NamedDependency[JobService], job_id: str
    ) -> dict[str, Any]:
        return {"data": await jobs.cancel(principal, job_id)}
