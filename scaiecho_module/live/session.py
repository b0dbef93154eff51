"""LiveSession: one live transcription, whatever feeds it.

decoder -> recogniser -> labeller -> events, with the meter and failover as parts of their
own. Two inputs:

- ``feed(bytes)``, with backpressure: for a source with flow control (a WebSocket over TCP).
  It returns only when the session has room again, so the transport stops reading and the
  client's sends block. Nothing is dropped.
- ``push(pcm)``, never blocking: for a source without flow control (an RTP track). A bounded
  buffer; audio beyond it is dropped, counted, reported once per overflow (``AudioDropped``)
  and never metered.

``finalize()`` (a client's ``Finalize``) queues a marker behind the audio fed so far: when
the recogniser reaches it, the utterance in progress goes out as a final.

Every end (closed, error, client gone, idle) passes through ``_end`` once: the usage is
settled, the close audited and the ``SessionEnded`` yielded exactly once, in a task of its
own that the caller's cancellation cannot interrupt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from scaiecho_module import metrics
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.audio.stream_decode import make_decoder
from scaiecho_module.backends.base import LiveRecognizer
from scaiecho_module.config import StreamSettings
from scaiecho_module.errors import INTERNAL_ERROR, ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.live.events import (
    AudioDropped,
    BackendSwitched,
    Backpressure,
    Behind,
    CaughtUp,
    LiveEvent,
    SessionEnded,
)
from scaiecho_module.live.failover import Failover
from scaiecho_module.live.labeller import Labeller
from scaiecho_module.live.meter import LiveMeter
from scaiecho_module.live.replay import ReplayBuffer
from scaiecho_module.live.request import OpenRequest
from scaiecho_module.transcript import Delta

logger = logging.getLogger("scaiecho.live")

# (event, details) -> the audit row: "failover" or "close", in the service's words.
Audit = Callable[[str, dict[str, Any]], Awaitable[None]]

# Container bytes held undecoded before ``feed`` waits: about 16 s of 32 kbit/s Opus.
_MAX_BUFFERED_BYTES = 64 * 1024
# When the audio came, block by block, for the final latency metric: 80 s of 20 ms blocks (a
# final is at most ``chunk_seconds`` long); older ones fall out and their final goes unmeasured.
_ARRIVALS = 4096


class _Flush:
    """The finalize marker in the audio queue: ordered with the audio, never metered."""


_FLUSH = _Flush()


class LiveSession:
    def __init__(
        self,
        session_id: str,
        principal: Principal,
        backend_id: str,
        request: OpenRequest,
        recognizer: LiveRecognizer,
        settings: StreamSettings,
        meter: LiveMeter,
        audit: Audit,
        failover: Failover | None = None,
        labeller: Labeller | None = None,
        on_end: Callable[[LiveSession], None] = lambda _: None,
        transport: str = "websocket",
    ) -> None:
        self.id = session_id
        self.principal = principal
        self.backend_used = backend_id
        self.request = request
        self.meter = meter
        self._recognizer = recognizer
        self._audit = audit
        self._failover = failover
        self._labels_backend = backend_id  # the labeller's speaker nodes serve this backend's sessions
        # Finals wait here for their labels, partials behind them: the labeller runs beside the
        # recogniser, one final at a time, and frames leave in the order they were recognised.
        self._labels: asyncio.Queue[tuple[Delta, AudioArray | None, float | None] | None] | None = None
        self._labelling: asyncio.Task[None] | None = None
        self._labeller = labeller
        self._on_end = on_end
        self._limit = int(settings.max_backlog_seconds * SAMPLE_RATE)
        self._replay = ReplayBuffer()  # failover and the labeller read it; bounded
        self._offset = 0  # session sample where the current recogniser's time zero lies
        self._loop = asyncio.get_running_loop()
        self._audio: asyncio.Queue[AudioArray | _Flush | None] = asyncio.Queue()
        self._out: asyncio.Queue[LiveEvent] = asyncio.Queue()
        self._backlog = 0  # samples queued but not yet recognised
        self._final_seconds = metrics.LIVE_FINAL_SECONDS.labels(transport)
        self._received = 0  # session samples queued so far
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=_ARRIVALS)  # (received, when)
        self._room = asyncio.Event()  # set whenever input may have room again
        self._told_backpressure = False
        # Behind real time: told once per episode, which ends at half the threshold.
        self._behind_limit = int(settings.behind_seconds * SAMPLE_RATE)
        self._behind = False
        self._dropped = 0
        self._dropping = False
        self._decoded: asyncio.Future[ScaiEchoError | None] = self._loop.create_future()
        self._decoder = make_decoder(request.media_type, self._deliver_from_thread, self._decoder_done,
                                     self._room_from_thread)  # fmt: skip
        self._closing = False
        self._ending: asyncio.Task[None] | None = None
        self._runner = asyncio.create_task(self._run(), name=f"live-{self.id}")
        if labeller is not None:
            self._labels = asyncio.Queue()
            self._labelling = asyncio.create_task(self._label_in_order(labeller), name=f"labels-{self.id}")
        metrics.LIVE_SESSIONS.labels(backend_id).inc()

    # -- input ---------------------------------------------------------------------------

    async def feed(self, data: bytes) -> None:
        """Media bytes with backpressure: returns once the session can take more."""
        if self._closing:
            return
        try:
            for block in self._decoder.feed(data):
                await self._admit(block)
            await self._wait_until(self._undecoded)
        except ScaiEchoError as exc:
            await self.fail(exc)

    def push(self, audio: AudioArray) -> None:
        """16 kHz mono PCM without blocking: dropped (and counted) while the buffer is full."""
        if self._closing or not len(audio):
            return
        if self._dropping and self._backlog <= self._limit // 2:
            self._dropping = False  # the overflow is over; the next one is reported again
        if self._backlog + len(audio) > self._limit:
            self._dropped += len(audio)
            if not self._dropping:
                self._dropping = True
                self._out.put_nowait(AudioDropped(round(self._dropped / SAMPLE_RATE, 3)))
            return
        self._enqueue(audio)

    def finalize(self) -> None:
        """Flush the utterance in progress as a final once the audio fed before it is recognised."""
        if not self._closing:
            self._audio.put_nowait(_FLUSH)

    async def close(self) -> None:
        """No more input: the decoder and recogniser flush; the last deltas and the end follow."""
        if self._closing:
            return
        self._closing = True
        try:
            for block in self._decoder.finish():
                await self._admit(block, closing=True)
            if self._decoder.delivers_later:
                error = await self._decoded  # the decoder thread has delivered its last audio
                if error is not None:
                    raise error
        except ScaiEchoError as exc:
            await self.fail(exc)
            return
        self._audio.put_nowait(None)

    async def fail(self, error: ScaiEchoError) -> None:
        """End the session with ``error`` (bad input, a protocol violation seen by the transport)."""
        await self._stop_runner()
        await self._end("error", error)

    async def abort(self, reason: str) -> None:
        """End early without an error (client gone, idle): what was processed is settled."""
        await self._stop_runner()
        await self._end(reason, None)

    async def _admit(self, block: AudioArray, closing: bool = False) -> None:
        if not closing:
            await self._wait_until(lambda share: self._backlog > self._limit * share)
        if self._ending is None:
            self._enqueue(block)

    def _enqueue(self, block: AudioArray) -> None:
        if len(block):
            self._received += len(block)
            self._arrivals.append((self._received, time.monotonic()))
            self._backlog += len(block)
            self._audio.put_nowait(block)
            if not self._behind and self._backlog > self._behind_limit:
                self._behind = True
                self._out.put_nowait(Behind(round(self._backlog / SAMPLE_RATE, 2)))

    def _undecoded(self, share: float) -> bool:
        return self._decoder.buffered_bytes > _MAX_BUFFERED_BYTES * share

    async def _wait_until(self, full: Callable[[float], bool]) -> None:
        """While ``full(1.0)``, wait until ``full(0.5)`` no longer holds (or the session ends).

        Resuming at half, not just under the limit, lets input run in long stretches. Two
        separate conditions: decoded samples (the decoder waits on them) and undecoded bytes
        (``feed`` waits on them); one waiting on the other's condition would deadlock.
        """
        if not full(1.0):
            return
        if not self._told_backpressure:
            self._told_backpressure = True
            self._out.put_nowait(Backpressure())
        while full(0.5) and self._ending is None:
            self._room.clear()
            await self._room.wait()

    # The container decoder's thread calls these three.

    def _deliver_from_thread(self, block: AudioArray) -> None:
        # Blocks the decoder thread until the session has room: decoding stays bounded.
        with contextlib.suppress(RuntimeError, concurrent.futures.CancelledError):  # loop gone
            asyncio.run_coroutine_threadsafe(self._admit(block), self._loop).result()

    def _decoder_done(self, error: ScaiEchoError | None) -> None:
        def resolve() -> None:
            if not self._decoded.done():
                self._decoded.set_result(error)

        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(resolve)

    def _room_from_thread(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._room.set)

    # -- output --------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[LiveEvent]:
        while True:
            item = await self._out.get()
            if isinstance(item, Delta) and item.words and not self.request.word_timestamps:
                # Asked for by the labeller only (diarize): not the client's, not sent.
                item = replace(item, words=())
            yield item
            if isinstance(item, SessionEnded):
                return

    @property
    def audio_seconds(self) -> float:
        return self.meter.seconds

    # -- processing ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while (block := await self._audio.get()) is not None:
                if isinstance(block, _Flush):
                    await self._emit(await self._flush_recognizer())
                    continue
                self._backlog -= len(block)
                self._room.set()
                if self._behind and self._backlog <= self._behind_limit // 2:
                    self._behind = False
                    self._out.put_nowait(CaughtUp())
                await self._recognise(block)
            await self._emit(await self._finish_recognizer())
            await self._end("closed", None)
        except ScaiEchoError as exc:
            await self._end("error", exc)
        except Exception:
            logger.exception("live session %s failed", self.id)
            await self._end("error", ScaiEchoError(INTERNAL_ERROR, "live transcription failed"))

    async def _recognise(self, block: AudioArray) -> None:
        await self.meter.check(len(block))  # the budget holds this block before it is processed
        behind = self._backlog > SAMPLE_RATE  # more than 1 s waiting: skip partials
        self._replay.append(block)
        if self._labeller is not None and self.backend_used == self._labels_backend:
            self._labeller.hear(block)  # it embeds speech as it comes, not all at the final's end
        try:
            deltas = self._shifted(await self._recognizer.push(block, behind))
        except ScaiEchoError as exc:
            deltas = await self._switch(exc)  # replays the retained audio, this block too
        self.meter.add(len(block))
        await self._emit(deltas)

    async def _finish_recognizer(self) -> list[Delta]:
        try:
            return self._shifted(await self._recognizer.finish())
        except ScaiEchoError as exc:
            deltas = await self._switch(exc)
            return deltas + self._shifted(await self._recognizer.finish())

    async def _flush_recognizer(self) -> list[Delta]:
        try:
            return self._shifted(await self._recognizer.flush())
        except ScaiEchoError as exc:
            deltas = await self._switch(exc)
            return deltas + self._shifted(await self._recognizer.flush())

    def _shifted(self, deltas: list[Delta]) -> list[Delta]:
        if not self._offset:
            return deltas
        return [d.shifted(self._offset / SAMPLE_RATE) for d in deltas]

    async def _emit(self, deltas: list[Delta]) -> None:
        for delta in deltas:
            if not delta.is_final and not self.request.interim_results:
                continue  # the client asked for finals only (a relay may still send partials)
            audio, arrived = None, None
            if delta.is_final:
                end = int(delta.end * SAMPLE_RATE)
                if self._labels is not None and self.backend_used == self._labels_backend:
                    audio = self._replay.between(int(delta.start * SAMPLE_RATE), end)
                self._replay.forget_until(end)  # a final never needs replaying or labelling again
                arrived = self._arrived(end)
            if self._labels is None:
                self._out.put_nowait(delta)
                self._measure(arrived)
            else:
                self._labels.put_nowait((delta, audio, arrived))

    def _arrived(self, sample: int) -> float | None:
        """When the block holding session sample ``sample`` came; earlier blocks are forgotten."""
        while self._arrivals and self._arrivals[0][0] < sample:
            self._arrivals.popleft()
        return self._arrivals[0][1] if self._arrivals else None

    def _measure(self, arrived: float | None) -> None:
        if arrived is not None:
            self._final_seconds.observe(time.monotonic() - arrived)

    async def _label_in_order(self, labeller: Labeller) -> None:
        assert self._labels is not None
        while (item := await self._labels.get()) is not None:
            delta, audio, arrived = item
            out = [delta]
            if audio is not None:
                try:
                    out = await labeller.label(delta, audio, arrived)
                except Exception as exc:  # a final is never lost to its label
                    logger.warning("live session %s: a final goes out unlabelled (%s)", self.id,
                                   type(exc).__name__)  # fmt: skip
            for labelled in out:
                self._out.put_nowait(labelled)
            self._measure(arrived)  # a split final's parts count once, as the one utterance

    async def _finish_labelling(self, reason: str) -> None:
        """Before the end frame: the finals still being labelled go out first (unless the
        client is gone: then nothing more is labelled)."""
        if self._labelling is None or self._labels is None:
            return
        if reason == "client_gone":
            self._labelling.cancel()
        else:
            self._labels.put_nowait(None)
        await asyncio.gather(self._labelling, return_exceptions=True)
        if self._labeller is not None:
            await self._labeller.close()

    async def _switch(self, error: ScaiEchoError) -> list[Delta]:
        if self._failover is None:
            raise error
        failed = self.backend_used
        switched = await self._failover.switch(error, failed, self._recognizer, self._replay)
        self.backend_used, self._recognizer, self._offset = (
            switched.backend_used, switched.recognizer, switched.offset,
        )  # fmt: skip
        self._out.put_nowait(BackendSwitched(self.backend_used, switched.replayed_seconds))
        await self._audit(
            "failover",
            {"from": failed, "to": self.backend_used, "replayed_seconds": switched.replayed_seconds},
        )
        return self._shifted(await self._recognizer.push(switched.replay, behind=True))

    # -- the end -------------------------------------------------------------------------

    async def _stop_runner(self) -> None:
        if self._runner is not asyncio.current_task() and not self._runner.done():
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    async def _end(self, reason: str, error: ScaiEchoError | None) -> None:
        if self._ending is None:
            self._ending = asyncio.ensure_future(self._settle(reason, error))
        await asyncio.shield(self._ending)

    async def _settle(self, reason: str, error: ScaiEchoError | None) -> None:
        self._closing = True
        self._room.set()  # input waiting for room returns at once
        self._decoder.abort()  # a decoder thread exits; nothing more is delivered
        if reason != "closed":  # the recogniser did not finish: release what it holds
            with contextlib.suppress(Exception):
                await self._recognizer.close()
        await self._finish_labelling(reason)  # its diarized seconds are settled with the rest
        await self.meter.settle(self.backend_used)
        metrics.LIVE_SESSIONS.labels(self.backend_used).dec()
        metrics.TRANSCRIPTIONS.labels("stream", self.backend_used, "failed" if error else "completed").inc()
        if error:
            metrics.ERRORS.labels(error.kind.code).inc()
        dropped = round(self._dropped / SAMPLE_RATE, 3)
        try:
            await self._audit(
                "close", {"reason": reason, "audio_seconds": self.meter.seconds,
                          "error": error.kind.code if error else None, "dropped_seconds": dropped,
                          "diarized_seconds": self.meter.diarized_seconds},
            )  # fmt: skip
        except Exception:
            logger.exception("live session %s: its close audit failed", self.id)
        self._on_end(self)
        self._out.put_nowait(SessionEnded(reason, self.meter.seconds, error, dropped))
