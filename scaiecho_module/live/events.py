"""What a live session yields, in order: deltas and notices while it runs, then one end.

Transport-neutral: the WebSocket (and the WebRTC control socket) encode these as frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.transcript import Delta


@dataclass(frozen=True, slots=True)
class BackendSwitched:
    """The session's backend failed and it carries on on another one (``any`` allows it)."""

    backend_used: str
    replayed_seconds: float


@dataclass(frozen=True, slots=True)
class Backpressure:
    """Input arrives faster than it is recognised: the session stops reading for a while."""


@dataclass(frozen=True, slots=True)
class Behind:
    """More audio waits unrecognised than ``SCAIECHO_STREAM_BEHIND_SECONDS``: results lag
    real time by about ``backlog_seconds`` (sent once per episode)."""

    backlog_seconds: float


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """The backlog that made the session behind is down to half the threshold again."""


@dataclass(frozen=True, slots=True)
class AudioDropped:
    """A source without flow control (an RTP track) overflowed the bounded buffer."""

    dropped_seconds: float  # the session's total so far


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The last item a session yields: why it ended and how much audio it processed."""

    reason: str
    audio_seconds: float
    error: ScaiEchoError | None = None
    dropped_seconds: float = 0.0


Notice = BackendSwitched | Backpressure | AudioDropped | Behind | CaughtUp
LiveEvent = Delta | Notice | SessionEnded
