"""What every node of Backend A's pool is: the in-process node and Triton servers alike.

A node declares the capabilities its ready models serve; the pool (``backends/pool.py``)
picks one node for a capability, or runs a call on all of them. Nothing outside the pool
asks which kind a node is in order to use it: ``kind`` is for showing (``GET /nodes``) and
``kind.remote`` for the pool's poller.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from scaiecho_module.backends.node_health import NodeState
from scaiecho_module.backends.priority import Priority
from scaiecho_module.engines.stt import AudioArray, Transcript


class Capability(StrEnum):
    STT = "stt"
    # Declared for the speaker engine (enrollment, diarization); no node serves it yet.
    SPEAKER = "speaker"


class NodeKind(StrEnum):
    IN_PROCESS = "in-process"
    TRITON = "triton"

    @property
    def remote(self) -> bool:
        """Outside this process: polled for readiness, its state shared between API processes."""
        return self is not NodeKind.IN_PROCESS


class NodeFailedError(Exception):
    """The node could not serve the request; another node may."""


class Node(Protocol):
    node_id: str

    @property
    def kind(self) -> NodeKind: ...

    @property
    def healthy(self) -> bool:
        """Whether the pool sends work to the node."""
        ...

    @property
    def last_error(self) -> str | None:
        """Why it is not healthy: a category shown to admins ("unreachable"), never an address."""
        ...

    @property
    def in_flight(self) -> int:
        """Requests this process has on the node now, running or waiting."""
        ...

    @property
    def model(self) -> str:
        """The STT model the node reports, as responses name it (``whisper-base``)."""
        ...

    def capabilities(self) -> frozenset[Capability]:
        """What the node's ready models serve (as of its last readiness check)."""
        ...

    def readiness(self) -> Mapping[str, bool]:
        """Each of our models the node has, and whether it is ready."""
        ...

    @property
    def state(self) -> NodeState:
        """What other API processes learn of the node (through the pool's board)."""
        ...

    def apply(self, state: NodeState) -> None:
        """Take a state another API process saw."""
        ...

    async def check(self) -> bool:
        """Refresh readiness; returns ``healthy``."""
        ...

    async def transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority = Priority.SYNC
    ) -> Transcript:
        """Capability ``stt``. Raises ``NodeFailedError`` when another node may serve it."""
        ...

    async def close(self) -> None: ...
