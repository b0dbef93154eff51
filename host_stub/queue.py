"""Job queue: the in-process worker of the embedded default (saq workers come with jobs)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scaiecho_module.host_contract import TaskFunction

logger = logging.getLogger("host_stub.queue")


class InProcessQueue:
    def __init__(self) -> None:
        self.tasks: dict[str, TaskFunction] = {}
        self._running: set[asyncio.Task[Any]] = set()

    def register_task(self, name: str, function: TaskFunction) -> None:
        if name in self.tasks and self.tasks[name] is not function:
            raise ValueError(f"task {name!r} is already registered")
        self.tasks[name] = function

    async def enqueue(self, name: str, job_key: str, **kwargs: Any) -> None:
        function = self.tasks[name]
        task = asyncio.create_task(function(**kwargs), name=f"{name}:{job_key}")
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
