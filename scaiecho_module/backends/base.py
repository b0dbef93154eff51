"""The SttBackend protocol that Backend A (self-hosted nodes) and Backend B (relay) implement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from scaiecho_module.engines.stt import AudioArray, Transcript


@dataclass(frozen=True, slots=True)
class BackendTranscript:
    transcript: Transcript
    backend_id: str
    node_id: str | None
    model: str


class SttBackend(Protocol):
    backend_id: str

    def available(self) -> bool: ...

    async def transcribe(self, audio: AudioArray, language: str | None) -> BackendTranscript: ...


class BackendSet:
    """The backends this deployment has. A missing backend is simply unavailable."""

    def __init__(self, backends: Mapping[str, SttBackend]) -> None:
        self._backends = dict(backends)

    def availability(self) -> dict[str, bool]:
        return {bid: bid in self._backends and self._backends[bid].available() for bid in ("A", "B")}

    def get(self, backend_id: str) -> SttBackend:
        return self._backends[backend_id]
