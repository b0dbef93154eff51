"""``scaigrid-stub worker``: a saq worker process running every module's registered tasks.

It loads the modules exactly as ``serve`` does and runs the app's lifespan (so a module loads
its engine and state), but serves no HTTP.
"""

from __future__ import annotations

import logging

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
