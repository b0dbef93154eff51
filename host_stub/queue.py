"""Job queues: the in-process worker of the embedded default, and saq on Redis or PostgreSQL.

Both run the same task functions, called as ``function(context, **kwargs)``; both are
idempotent by job key.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass
from typing import Any

from scaiecho_module.host_contract import TaskFunction, TaskOptions

logger = logging.getLogger("host_stub.queue")


@dataclass(slots=True)
class LocalTaskContext:
    attempt: int
    max_attempts: int

    async def heartbeat(self) -> None:
        return None  # same process: if we are running, we are alive


class InProcessQueue:
    """Runs tasks as asyncio tasks in the serving process, one at a time, with retries.

    Nothing here survives a restart: the module's job recovery re-enqueues unfinished jobs
    from the database at startup, which is what makes the embedded default durable.
    """

    def __init__(self, concurrency: int = 1) -> None:
        self.tasks: dict[str, tuple[TaskFunction, TaskOptions]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._keys: set[str] = set()
        self._running: set[asyncio.Task[None]] = set()

    def register_task(self, name: str, function: TaskFunction, options: TaskOptions) -> None:
        self.tasks[name] = (function, options)

    async def enqueue(self, name: str, job_key: str, **kwargs: Any) -> None:
        if name not in self.tasks:
            raise KeyError(f"no task registered as {name!r}")
        if job_key in self._keys:
            return
        self._keys.add(job_key)
        task = asyncio.create_task(self._run(name, job_key, kwargs), name=f"{name}:{job_key}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, name: str, job_key: str, kwargs: dict[str, Any]) -> None:
        function, options = self.tasks[name]
        attempts = options.retries + 1
        try:
            async with self._slots:
                for attempt in range(1, attempts + 1):
                    try:
                        timeout = options.timeout_seconds or None
                        await asyncio.wait_for(
                            function(LocalTaskContext(attempt, attempts), **kwargs), timeout
                        )
                        return
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        logger.exception(
                            "task %s (%s) attempt %d/%d failed", name, job_key, attempt, attempts
                        )
                        if attempt < attempts:
                            await asyncio.sleep(options.retry_delay_seconds * 2 ** (attempt - 1))
        finally:
            self._keys.discard(job_key)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)


@dataclass(slots=True)
class SaqTaskContext:
    job: Any  # saq.Job

    @property
    def attempt(self) -> int:
        return int(self.job.attempts)

    @property
    def max_attempts(self) -> int:
        return int(self.job.retries)

    async def heartbeat(self) -> None:
        await self.job.update()  # refreshes job.touched, which saq's sweeper checks


class SaqQueue:
    """saq on Redis (``redis://``) or PostgreSQL (``postgresql://``); workers are separate processes."""

    def __init__(self, url: str, name: str = "scaigrid") -> None:
        self.url = url
        self.name = name
        self.tasks: dict[str, tuple[TaskFunction, TaskOptions]] = {}
        self._queue: Any = None
        self._lock = asyncio.Lock()

    def register_task(self, name: str, function: TaskFunction, options: TaskOptions) -> None:
        self.tasks[name] = (function, options)

    async def queue(self) -> Any:
        async with self._lock:
            if self._queue is None:
                from saq import Queue

                url = self.url.replace("postgresql+asyncpg://", "postgresql://")
                queue = Queue.from_url(url, name=self.name)
                await queue.connect()
                self._queue = queue
        return self._queue

    async def enqueue(self, name: str, job_key: str, **kwargs: Any) -> None:
        from saq import Job

        _, options = self.tasks[name]
        queue = await self.queue()
        await queue.enqueue(
            Job(
                function=name,
                key=job_key,
                kwargs=kwargs,
                timeout=options.timeout_seconds,
                heartbeat=options.heartbeat_seconds,
                retries=options.retries + 1,  # saq counts attempts, not retries
                retry_delay=options.retry_delay_seconds,
                retry_backoff=True,
            )
        )

    def worker_functions(self) -> list[tuple[str, Any]]:
        def adapt(function: TaskFunction) -> Any:
            @functools.wraps(function)
            async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
                return await function(SaqTaskContext(ctx["job"]), **kwargs)

            return run

        return [(name, adapt(function)) for name, (function, _) in self.tasks.items()]

    async def close(self) -> None:
        if self._queue is not None:
            with contextlib.suppress(Exception):
                await self._queue.disconnect()
            self._queue = None
