"""The queue tasks ScaiEcho registers with the host, with options fit for long audio.

saq's defaults (10 s timeout, no heartbeat, one try) would kill or lose hour-long jobs.
"""

from __future__ import annotations

from collections.abc import Callable

from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.host_contract import TaskContext, TaskFunction, TaskOptions
from scaiecho_module.jobs.service import TASK_NAME
from scaiecho_module.runtime import ModuleRuntime


def module_tasks(
    settings: ScaiEchoSettings, runtime: Callable[[], ModuleRuntime]
) -> dict[str, tuple[TaskFunction, TaskOptions]]:
    async def transcribe_job(context: TaskContext, job_id: str) -> None:
        await runtime().job_runner.run(context, job_id)

    options = TaskOptions(
        timeout_seconds=settings.jobs.timeout_seconds,
        heartbeat_seconds=settings.jobs.heartbeat_seconds,
        retries=settings.jobs.retries,
        retry_delay_seconds=settings.jobs.retry_delay_seconds,
    )
    return {TASK_NAME: (transcribe_job, options)}
