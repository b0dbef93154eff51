"""Backend B: one managed STT relay behind the SttBackend protocol.

The protocol clients (``riva.py``, ``openai.py``) only speak to the remote API; this class
owns what every relay shares:

- audio longer than the relay's ``piece_seconds`` is sent in pieces cut at pauses (remote
  APIs cap a request's size), and the pieces' segments are put back on one timeline;
- transient failures (``RelayError.transient``) are retried with backoff, at most
  ``retries`` times; everything else fails at once;
- a relay that fails (after its retries) or rejects our credentials is *unavailable* for
  ``cooldown_seconds``, so the resolver sends ``any`` requests to Backend A meanwhile;
- what reaches the caller is ``BACKEND_UNAVAILABLE`` with no remote detail: messages from
  the remote side can carry addresses or echo credentials, so they go to the log only, and
  only as a category.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from scaiecho_module import metrics
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.base import BackendTranscript, LiveContext
from scaiecho_module.backends.priority import Priority
from scaiecho_module.backends.relay.settings import RelaySettings
from scaiecho_module.engines.stt import pause_cut
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError
from scaiecho_module.transcript import DecodeOptions, Delta, Segment, Transcript

logger = logging.getLogger("scaiecho.relay")


class RelayError(Exception):
    """A relay call failed. ``category`` is safe to log; the message is not shown to callers."""

    def __init__(self, category: str, transient: bool, disables: bool = True) -> None:
        super().__init__(category)
        self.category = category
        self.transient = transient
        self.disables = disables  # counts against the relay's availability


@dataclass(frozen=True, slots=True)
class RelayResult:
    segments: tuple[Segment, ...]
    language: str


class RelayStream(Protocol):
    """One live session on a relay: audio in, deltas out (times from the session's start)."""

    async def push(self, audio: AudioArray, behind: bool = False) -> list[Delta]: ...

    async def finish(self) -> list[Delta]: ...

    async def flush(self) -> list[Delta]: ...

    async def close(self) -> None: ...


class RelayClient(Protocol):
    model: str

    async def recognize(
        self, audio: AudioArray, language: str | None, boost: tuple[str, ...] = ()
    ) -> RelayResult:
        """``boost``: phrases to favour (Riva word boosting); a relay without boosting ignores it."""
        ...

    async def open_stream(
        self,
        language: str | None,
        chunk_seconds: float,
        relay: RelayBackend,
        min_silence: float | None = None,
        boost: tuple[str, ...] = (),
    ) -> RelayStream:
        """Start a live session; ``RelayError`` if the relay cannot be reached right now.
        ``min_silence``: the session's endpointing, where the relay's protocol lets us set it;
        ``boost``: the session's hotwords as phrases, as for ``recognize``."""
        ...

    async def close(self) -> None: ...


def unavailable() -> ScaiEchoError:
    return ScaiEchoError(BACKEND_UNAVAILABLE, "the managed STT relay is unavailable", {"backend": "B"})


class RelayBackend:
    backend_id = "B"

    def __init__(self, settings: RelaySettings, client: RelayClient) -> None:
        self.settings = settings
        self.client = client
        self._down_until = 0.0

    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def interactive_near(self) -> bool:
        """A relay queues nothing of ours behind a job: its jobs are not sliced for it."""
        return False

    def failed(self, error: RelayError) -> None:
        """Log a failure (its category only) and take the relay out of rotation if it counts."""
        logger.warning("relay %s failed: %s", self.settings.name, error.category)
        metrics.RELAY_FAILURES.labels(self.settings.name, error.category.split(" ")[0]).inc()
        if error.disables:
            self._down_until = time.monotonic() + self.settings.cooldown_seconds

    async def open_stream(
        self, language: str | None, chunk_seconds: float, context: LiveContext | None = None
    ) -> RelayStream:
        # Checked before the session starts, so an unreachable relay can still fall back to A.
        try:
            silence = context.min_silence if context is not None else None
            # As on files, only hotwords reach a relay (boosting); the prompt is Backend A's.
            boost = boost_phrases(context.hotwords if context is not None else None)
            return await self.client.open_stream(language, chunk_seconds, self, silence, boost)
        except RelayError as exc:
            self.failed(exc)
            raise unavailable() from None

    async def transcribe(
        self,
        audio: AudioArray,
        language: str | None,
        priority: Priority = Priority.SYNC,
        options: DecodeOptions | None = None,
    ) -> BackendTranscript:
        # Of the decode options only hotwords reach a relay (Riva word boosting, validated and
        # bounded as for Whisper by the transports); word times and prompt are Backend A's.
        boost = boost_phrases(options.hotwords if options is not None else None)
        segments: list[Segment] = []
        detected = language or ""
        for offset, piece in _pieces(audio, int(self.settings.piece_seconds * SAMPLE_RATE)):
            result = await self.call(piece, language, boost)
            segments += [s.shifted(offset / SAMPLE_RATE) for s in result.segments]
            detected = detected or result.language
        transcript = Transcript(tuple(segments), detected, 1.0 if language else 0.0, len(audio) / SAMPLE_RATE)
        return BackendTranscript(transcript, self.backend_id, None, self.client.model)

    async def call(self, audio: AudioArray, language: str | None, boost: tuple[str, ...] = ()) -> RelayResult:
        """One recognition with retries; ``BACKEND_UNAVAILABLE`` when it cannot be had."""
        for attempt in range(self.settings.retries + 1):
            started = time.perf_counter()
            try:
                result = await self.client.recognize(audio, language, boost)
            except RelayError as exc:
                if not exc.transient or attempt == self.settings.retries:
                    self.failed(exc)
                    raise unavailable() from None
                logger.info("relay %s: %s, retrying", self.settings.name, exc.category)
                await asyncio.sleep(0.25 * 4**attempt)
            else:
                elapsed = time.perf_counter() - started
                metrics.RELAY_REQUEST_SECONDS.labels(self.settings.name).observe(elapsed)
                return result
        raise AssertionError("unreachable")


def boost_phrases(hotwords: str | None) -> tuple[str, ...]:
    """Whisper's free-text hotwords as Riva's boosted phrases: split at commas and line breaks
    ("Dashwood, Norland Park" boosts two phrases), blanks and repeats dropped."""
    phrases = (p.strip() for p in (hotwords or "").replace("\n", ",").split(","))
    return tuple(dict.fromkeys(p for p in phrases if p))


def _pieces(audio: AudioArray, limit: int) -> list[tuple[int, AudioArray]]:
    pieces, start = [], 0
    while len(audio) - start > limit:
        # End each piece at a pause in its last third, so no word is cut between two requests.
        window = audio[start : start + limit]
        cut = pause_cut(window, limit * 2 // 3)
        pieces.append((start, window[:cut]))
        start += cut
    pieces.append((start, audio[start:]))
    return pieces
