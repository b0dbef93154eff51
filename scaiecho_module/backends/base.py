"""The SttBackend protocol that Backend A (self-hosted nodes) and Backend B (relay) implement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from scaiecho_module.backends.priority import Priority
from scaiecho_module.engines.stt import AudioArray, Transcript
from scaiecho_module.streaming.recognizer import Delta


@dataclass(frozen=True, slots=True)
class BackendTranscript:
    transcript: Transcript
    backend_id: str
    node_id: str | None
    model: str


class LiveRecognizer(Protocol):
    """One live session's recogniser: audio in (16 kHz mono float32), deltas out."""

    async def push(self, audio: AudioArray, behind: bool = False) -> list[Delta]: ...

    async def finish(self) -> list[Delta]: ...

    async def close(self) -> None:
        """Release what the recogniser holds (background inference) when the session ends early."""
        ...


class SttBackend(Protocol):
    backend_id: str

    def available(self) -> bool: ...

    def open_stream(self, language: str | None, chunk_seconds: float) -> LiveRecognizer: ...

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC
    ) -> BackendTranscript: ...


class BackendSet:
    """The backends this deployment has. A missing backend is simply unavailable."""

    def __init__(self, backends: Mapping[str, SttBackend]) -> None:
        self._backends = dict(backends)

    def availability(self) -> dict[str, bool]:
        return {bid: bid in self._backends and self._backends[bid].available() for bid in ("A", "B")}

    def get(self, backend_id: str) -> SttBackend:
        return self._backends[backend_id]
