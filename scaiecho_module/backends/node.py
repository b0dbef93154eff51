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

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.node_health import NodeState
from scaiecho_module.backends.priority import Priority, Rank
from scaiecho_module.engines.diarization import Diarization
from scaiecho_module.engines.segmentation import SpeakerTurn
from scaiecho_module.engines.speaker_embedding import Embedding, VoiceWindows, WindowOptions
from scaiecho_module.engines.speaker_library import MATCH_THRESHOLD, SpeakerMatch
from scaiecho_module.transcript import DecodeOptions, Transcript

# The speaker calls' types live with the engine that makes them (the Triton model uses them
# too); re-exported here, where the node protocol names them.
__all__ = [
    "MATCH_THRESHOLD",
    "Capability",
    "Diarization",
    "Embedding",
    "Node",
    "NodeFailedError",
    "NodeKind",
    "SpeakerMatch",
    "SpeakerTurn",
    "VoiceWindows",
    "WindowOptions",
]


class Capability(StrEnum):
    STT = "stt"
    # The speaker engine: embeddings, an in-memory library per tenant, matching.
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

    def known_capabilities(self) -> frozenset[Capability]:
        """What the node's models serve when ready, ready now or not (as last discovered).

        A node offline may still hold state for a capability (a speaker's embedding): an
        erasure names it as one to evict when it returns.
        """
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
        self,
        audio: AudioArray,
        language: str | None,
        priority: Priority = Priority.SYNC,
        options: DecodeOptions | None = None,
    ) -> Transcript:
        """Capability ``stt``. Raises ``NodeFailedError`` when another node may serve it."""
        ...

    # Capability ``speaker``. A node without it raises ``NodeFailedError``. A node holds the
    # enrolled embeddings in memory, per tenant; a restart loses them (the speaker service
    # warms the node again from the stored reference recordings).

    async def embed_voice(
        self, audio: AudioArray, priority: Rank = Priority.SYNC, voice: bool = True
    ) -> VoiceWindows:
        """Speaker embeddings of the speech in ``audio`` (16 kHz mono float32): its windows,
        and with ``voice`` the embedding of all of it. A live final's labels ask with
        ``LIVE_FINAL``: they are part of that final's latency."""
        ...

    async def diarize(self, audio: AudioArray, priority: Priority = Priority.SYNC) -> Diarization:
        """Who spoke when in ``audio``: turns and one centroid per speaker (biometric: the
        caller matches them to profiles and drops them; never logged or returned). Clusters
        only: no tenant's library is involved. Served by every speaker node (pyannote loads
        on the first call)."""
        ...

    async def segment_speakers(
        self, audio: AudioArray, priority: Rank = Priority.SYNC
    ) -> tuple[SpeakerTurn, ...]:
        """Who speaks alone when in ``audio`` (at most 10 s; longer is cut to its last 10 s):
        local speakers' turns (``speaker`` 0-2, meaningful within this call only), no
        embeddings. A live final's change points; asked with ``LIVE_FINAL``."""
        ...

    async def enroll_speaker(self, tenant_id: str, speaker_id: str, embedding: Embedding) -> None:
        """Hold ``embedding`` as ``speaker_id`` of ``tenant_id``'s library (replacing any)."""
        ...

    async def evict_speaker(self, tenant_id: str, speaker_id: str) -> bool:
        """Forget the speaker's embedding; ``True`` when the node held it."""
        ...

    async def enrolled_speakers(self) -> frozenset[tuple[str, str]]:
        """Every ``(tenant_id, speaker_id)`` the node holds now."""
        ...

    async def match_speakers(
        self, tenant_id: str, vectors: npt.NDArray[np.float32], threshold: float
    ) -> list[SpeakerMatch]:
        """For each row of ``vectors``, the tenant's nearest enrolled speaker at or above
        ``threshold`` (cosine), else ``SpeakerMatch(None, best score)``. Only that tenant's
        library is searched."""
        ...

    async def close(self) -> None: ...
