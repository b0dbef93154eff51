"""``scaigrid-stub worker``: a saq worker process running every module's registered tasks.

It loads the modules exactly as ``serve`` does and runs the app's lifespan (so a module loads
its engine and state), but serves no HTTP.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from host_stub.app import create_app
from host_stub.config import HostSettings
from host_stub.queue import SaqQueue

logger = logging.getLogger("host_stub.worker")


async def run_worker(settings: HostSettings) -> None:
    from saq import Worker

    app = create_app(settings)
    queue = app.state["host"].queue
    if not isinstance(queue, SaqQueue):
        raise RuntimeError("the worker needs SCAIGRID_QUEUE_URL (redis://... or postgresql://...)")
    async with app.lifespan():
        saq_queue = await queue.queue()
        _sweep_after_first_dequeue(saq_queue, settings.worker_sweep_seconds)
        worker = Worker(
            saq_queue,
            functions=queue.worker_functions(),
            concurrency=settings.worker_concurrency,
            # saq passes this interval to sweep() as its lock too: how soon a dead worker's job
            # is found (with the job's heartbeat) and retried on a live worker.
            timers={"sweep": settings.worker_sweep_seconds},  # type: ignore[arg-type]
        )
        logger.info(
            "worker started on %s with %s", queue.name, [name for name, _ in queue.worker_functions()]
        )
        await worker.start()


def _sweep_after_first_dequeue(saq_queue: Any, grace_seconds: float) -> None:
    """Skip saq's sweeps during the worker's first ``grace_seconds``.

    saq runs its first sweep the moment the worker starts, while the worker dequeues a job that
    was waiting: the sweep can read that job after it moved to the active list but before its
    status says active, "sweep" it, and abort the task the worker just began (seen with
    saq 0.26.4 on Redis: the job then stayed running, unprocessed, until the worker stopped).
    A job left by a dead worker is still found, one sweep interval later.
    """
    sweep = saq_queue.sweep
    ready_at = time.monotonic() + grace_seconds

    async def sweep_when_settled(*args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < ready_at:
            return []
        return await sweep(*args, **kwargs)

    saq_queue.sweep = sweep_when_settled
