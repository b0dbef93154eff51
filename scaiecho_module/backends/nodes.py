"""Backend A's nodes. A node runs the STT engine; the pool picks one per request."""

from __future__ import annotations

from typing import Protocol

import anyio.to_thread

from scaiecho_module.backends.priority import Priority, PrioritySlots
from scaiecho_module.engines.stt import AudioArray, SttEngine, Transcript


class SttNode(Protocol):
    node_id: str
    last_error: str | None  # a category shown to admins ("unreachable"), never an address

    @property
    def healthy(self) -> bool: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def model(self) -> str: ...

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC
    ) -> Transcript: ...


class InProcessNode:
    """The embedded default: the engine loaded in this process, run on a worker thread.

    One request at a time reaches the engine (it already uses every configured CPU thread);
    the others wait, most latency-sensitive first, without blocking the event loop.
    """

    def __init__(self, node_id: str, engine: SttEngine, concurrency: int = 1) -> None:
        self.node_id = node_id
        self._engine = engine
        self._slots = PrioritySlots(concurrency)
        self._in_flight = 0
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        return True

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def model(self) -> str:
        return self._engine.model_name

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC
    ) -> Transcript:
        self._in_flight += 1
        try:
            async with self._slots.acquire(priority):
                return await anyio.to_thread.run_sync(self._engine.transcribe, audio, language)
        finally:
            self._in_flight -= 1
