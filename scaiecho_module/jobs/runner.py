"""JobRunner: the queue task that transcribes one job, window by window, resumably.

Durability rules:
- Each window's segments and the new ``processed_samples`` commit in one transaction, so a
  retried attempt (worker killed, node lost) resumes after the last committed window.
- Metering uses the reference ``scaiecho:job:<id>``, which the host ledger keeps unique: a
  job is metered once however often its last step runs. Its audit event commits with the
  ``completed`` status, so a completed job is always audited, and audited once.
- Audio that cannot be decoded fails the job at once (no retry storm); transient faults
  (a backend down, a crash) are retried by the queue until the last attempt.
- The job's audio blob is deleted in every terminal state unless retention is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio.to_thread
import numpy as np
from sqlalchemy import func, select, update

from scaiecho_module import metrics
from scaiecho_module.audio.decode import iter_pcm
from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.audio.windows import CutFinder, Window, iter_windows
from scaiecho_module.backends.base import BackendSet, BackendTranscript, SttBackend
from scaiecho_module.backends.priority import Priority
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.errors import (
    AUDIO_EMPTY,
    BACKEND_UNAVAILABLE,
    BUDGET_EXHAUSTED,
    INTERNAL_ERROR,
    ScaiEchoError,
)
from scaiecho_module.host_contract import AuditEvent, BudgetExhaustedError, Host, TaskContext
from scaiecho_module.jobs.models import TERMINAL, JobSegment, JobStatus, TranscriptionJob, utcnow
from scaiecho_module.jobs.service import usage_reference
from scaiecho_module.jobs.slices import TAIL_CHARS, Slicing, transcribe_sliced
from scaiecho_module.metering import (
    AUDIO_SECONDS,
    record_audio_usage,
    record_diarized_usage,
    release_audio_hold,
)
from scaiecho_module.speakers.attribution import AnonymousVoices, SpeakerAttribution, attribute
from scaiecho_module.transcript import DecodeOptions, Segment, text_tail
from scaiecho_module.webhooks.service import WebhookService, arm

logger = logging.getLogger("scaiecho.jobs")

# Errors that retrying cannot fix: the job fails on the spot.
_PERMANENT = {"AUDIO_EMPTY", "AUDIO_UNDECODABLE", "UNSUPPORTED_MEDIA_TYPE", "BUDGET_EXHAUSTED"}
_CLAIMABLE = (JobStatus.QUEUED, JobStatus.RUNNING)
# How much of the previous window a window is diarized with (see JobRunner._window).
_CONTEXT_SAMPLES = 10 * SAMPLE_RATE


class JobCancelledError(Exception):
    pass


class JobRunner:
    def __init__(
        self,
        host: Host,
        settings: ScaiEchoSettings,
        backends: BackendSet,
        cut: CutFinder,
        attribution: SpeakerAttribution | None = None,
        webhooks: WebhookService | None = None,
    ) -> None:
        self._host = host
        self._webhooks = webhooks
        self._attribution = attribution
        self._cut = cut  # the engine's pause_cut, handed in by the wiring: services import no engine
        self._settings = settings
        self._backends = backends
        self._sessions = host.database.session_factory

    async def run(self, context: TaskContext, job_id: str) -> None:
        job = await self._claim(uuid.UUID(job_id), context.attempt)
        if job is None:
            return
        # Attempts are counted in our row, not only by the queue: a job re-enqueued by recovery
        # after the queue gave up must not start a fresh series of retries.
        final = job.attempts >= self._settings.jobs.retries + 1 or context.attempt >= context.max_attempts
        try:
            async with self._heartbeat(context):
                await self._transcribe(job)
        except JobCancelledError:
            await self._finish(job, JobStatus.CANCELLED)
        except ScaiEchoError as exc:
            if exc.kind is BUDGET_EXHAUSTED and job.processed_samples:
                await self._meter(job, job.processed_samples / SAMPLE_RATE)  # what ran is charged
            if exc.kind.code in _PERMANENT or final:
                await self._finish(job, JobStatus.FAILED, exc.kind.code, exc.message)
                return
            await self._note_error(job, exc.kind.code, exc.message)
            raise
        except Exception as exc:
            logger.exception("job %s attempt %d failed", job_id, job.attempts)
            if final:
                await self._finish(job, JobStatus.FAILED, INTERNAL_ERROR.code, "transcription failed")
                return
            await self._note_error(job, INTERNAL_ERROR.code, type(exc).__name__)
            raise

    async def _claim(self, job_id: uuid.UUID, attempt: int) -> TranscriptionJob | None:
        async with self._sessions.begin() as session:
            job = await session.scalar(select(TranscriptionJob).where(TranscriptionJob.id == job_id))
            if job is None or job.status in TERMINAL:
                return None  # cancelled while queued, or a duplicate delivery of a finished job
            if job.attempts > self._settings.jobs.retries:
                job.status = JobStatus.FAILED
            elif job.cancel_requested:
                job.status = JobStatus.CANCELLED  # finished below, outside this transaction
            else:
                # Conditional on the status we read: a cancel that lands in between wins.
                claimed = await session.execute(
                    update(TranscriptionJob)
                    .where(TranscriptionJob.id == job_id, TranscriptionJob.status.in_(_CLAIMABLE))
                    .values(
                        status=JobStatus.RUNNING,
                        started_at=job.started_at or utcnow(),
                        attempts=max(job.attempts + 1, attempt),
                    )
                    .execution_options(synchronize_session=False)
                )
                if not claimed.rowcount:  # type: ignore[attr-defined]
                    return None
                await session.refresh(job)
        if job.status == JobStatus.CANCELLED:
            await self._finish(job, JobStatus.CANCELLED)
            return None
        if job.status == JobStatus.FAILED:
            await self._finish(
                job, JobStatus.FAILED, INTERNAL_ERROR.code, f"gave up after {job.attempts} attempts"
            )
            return None
        return job

    @contextlib.asynccontextmanager
    async def _heartbeat(self, context: TaskContext) -> AsyncIterator[None]:
        # Windows take seconds, but the first one may wait on a busy engine: ping independently.
        interval = max(1.0, self._settings.jobs.heartbeat_seconds / 3)

        async def beat() -> None:
            while True:
                await context.heartbeat()
                await asyncio.sleep(interval)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _transcribe(self, job: TranscriptionJob) -> None:
        if job.blob_key is None:
            raise ScaiEchoError(INTERNAL_ERROR, "the job's audio is gone")
        if not self._backends.availability(job.tenant_id).get(job.backend_used, False):
            raise ScaiEchoError(BACKEND_UNAVAILABLE, f"backend {job.backend_used} is unavailable")
        backend = self._backends.get(job.backend_used, job.tenant_id)
        with tempfile.TemporaryFile() as audio_file:
            await self._host.blobs.get_to_file(job.blob_key, audio_file)
            audio_file.seek(0)
            windows = iter_windows(
                iter_pcm(audio_file),
                self._settings.jobs.window_seconds,
                self._cut,
                skip_samples=job.processed_samples,
            )
            seq = await self._segment_count(job.id)
            # Speaker labels on Backend A only (B ignores diarize: spec). Each window is
            # diarized on its own (memory stays flat); AnonymousVoices links its unnamed
            # clusters to the job's earlier ones, so spk_N holds across windows. Word times
            # let a segment be split at a speaker change; they are stored only when asked for.
            diarizing = bool(job.diarize) and job.backend_used == "A" and self._attribution is not None
            voices = AnonymousVoices(await self._anonymous_count(job.id)) if diarizing else None
            context: AudioArray | None = None  # the previous window's tail, for diarization
            options = DecodeOptions(bool(job.word_timestamps) or diarizing, job.prompt, job.hotwords)
            tail: str | None = None  # the text before the window: its first slice's prompt
            end_sample = job.processed_samples
            authorised = job.estimated_seconds or 0.0
            # Decode (and VAD-cut) the next window on a thread while this one is transcribed.
            upcoming = asyncio.ensure_future(anyio.to_thread.run_sync(_next_window, windows))
            try:
                while (window := await upcoming) is not None:
                    upcoming = asyncio.ensure_future(anyio.to_thread.run_sync(_next_window, windows))
                    await self._check_cancel(job.id)
                    authorised = await self._authorise(job, window.end_sample / SAMPLE_RATE, authorised)
                    allowed = max(0, round(authorised * SAMPLE_RATE) - window.start_sample)
                    exhausted = allowed < len(window.audio)
                    if exhausted:
                        # A header that understated the audio (or stated none) got the job in;
                        # the budget stops it here, at the last authorised sample.
                        window = dataclasses.replace(window, audio=window.audio[:allowed])
                    if len(window.audio):
                        result, segments = await self._window(
                            job, window, backend, options, voices, context, tail
                        )
                        tail = text_tail(result.transcript.text, TAIL_CHARS) or tail
                        seq = await self._commit_window(job, window, result, segments, seq)
                        end_sample = window.end_sample
                        if voices is not None:
                            context = window.audio[-_CONTEXT_SAMPLES:]
                    if exhausted:
                        raise ScaiEchoError(
                            BUDGET_EXHAUSTED,
                            f"the audio is longer than the tenant's budget allows; stopped after "
                            f"{end_sample / SAMPLE_RATE:.1f} s",
                        )
            finally:
                # The decoder thread reads the temp file: let it finish before the file closes.
                with contextlib.suppress(BaseException):
                    await upcoming
        if end_sample == 0:
            raise ScaiEchoError(AUDIO_EMPTY, "the file contains no audio samples")
        await self._complete(job, end_sample / SAMPLE_RATE)

    async def _window(
        self,
        job: TranscriptionJob,
        window: Window,
        backend: SttBackend,
        options: DecodeOptions,
        voices: AnonymousVoices | None,
        context: AudioArray | None,
        tail: str | None,
    ) -> tuple[BackendTranscript, list[Segment]]:
        """One window transcribed (and diarized beside it): its segments in window time.

        The window is diarized with the previous window's last seconds before it: a short
        window (the file's last) has too little speech to cluster on its own, and a window cut
        mid-turn would start with a fragment. Turns before the window are dropped."""
        attribution = self._attribution
        turns = None
        lead = 0 if context is None else len(context)
        if voices is not None and attribution is not None and attribution.available():
            audio = window.audio if context is None else np.concatenate([context, window.audio])
            turns = asyncio.ensure_future(attribution.diarize(audio, Priority.JOB))
        try:
            if job.backend_used == self._backends.self_hosted_id:
                # Slices, each taking the node's slot on its own: an inline request or a live
                # final waits for one slice, not the whole window (see jobs/slices.py). A relay
                # (B) queues nothing behind a job of ours: its window goes whole.
                jobs = self._settings.jobs
                slicing = Slicing(jobs.slice_seconds, jobs.short_slice_seconds, backend.interactive_near)
                result = await transcribe_sliced(
                    backend, window.audio, job.language_hint, options, slicing, self._cut, tail,
                    lambda: self._check_cancel(job.id),
                )  # fmt: skip
            else:
                result = await backend.transcribe(window.audio, job.language_hint, Priority.JOB, options)
            found = await turns if turns is not None else None
        except BaseException:
            if turns is not None:
                turns.cancel()
            raise
        segments = list(result.transcript.segments)
        if found is not None and attribution is not None and voices is not None:
            shift = lead / SAMPLE_RATE
            exclusive = [
                dataclasses.replace(t, start=max(t.start - shift, 0.0), end=t.end - shift)
                for t in found.exclusive
                if t.end > shift
            ]
            # Only the window's own voices are numbered (one heard in the context alone is not).
            speakers = await attribution.speakers(job.tenant_id, found, voices, exclusive)
            segments = attribute(segments, exclusive, speakers)
        if not job.word_timestamps:
            segments = [dataclasses.replace(s, words=()) for s in segments]
        return result, segments

    async def _anonymous_count(self, job_id: uuid.UUID) -> int:
        """How many ``spk_N`` the job's stored windows used: a resumed job numbers new voices
        after them (the centroids that linked them were memory only, never stored)."""
        async with self._sessions() as session:
            labels = await session.scalars(
                select(JobSegment.speaker_label).where(
                    JobSegment.job_id == job_id,
                    JobSegment.speaker_id.is_(None),
                    JobSegment.speaker_label.is_not(None),
                )
            )
            numbers = [
                int(label[4:])
                for label in labels
                if label and label.startswith("spk_") and label[4:].isdigit()
            ]
        return max(numbers, default=-1) + 1

    async def _authorise(self, job: TranscriptionJob, needed: float, authorised: float) -> float:
        """Grow the job's budget hold to ``needed`` seconds; the most it may run when refused."""
        if needed <= authorised:
            return authorised
        reference = usage_reference(job.id)
        accounting = self._host.accounting
        try:
            await accounting.hold(job.tenant_id, AUDIO_SECONDS.name, needed, reference)
            return needed
        except BudgetExhaustedError as refused:
            most = max(refused.remaining, 0.0)  # the budget left, this hold included
        if most <= authorised:
            return authorised
        try:
            await accounting.hold(job.tenant_id, AUDIO_SECONDS.name, most, reference)
        except BudgetExhaustedError:
            return authorised  # another request took it meanwhile
        return most

    async def _segment_count(self, job_id: uuid.UUID) -> int:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(JobSegment).where(JobSegment.job_id == job_id)
            )
            return int(count or 0)

    async def _check_cancel(self, job_id: uuid.UUID) -> None:
        async with self._sessions() as session:
            if await session.scalar(
                select(TranscriptionJob.cancel_requested).where(TranscriptionJob.id == job_id)
            ):
                raise JobCancelledError

    async def _commit_window(
        self,
        job: TranscriptionJob,
        window: Window,
        result: BackendTranscript,
        segments: list[Segment],
        seq: int,
    ) -> int:
        async with self._sessions.begin() as session:
            for segment in (s.shifted(window.start_seconds) for s in segments):
                # Words shift with their segment: continuous in file time across windows.
                session.add(JobSegment.of(job.id, seq, segment))
                seq += 1
            values: dict[str, object] = {
                "processed_samples": window.end_sample,
                "node_id": result.node_id,
                "model": result.model,
            }
            if result.transcript.segments and not job.language:
                job.language = result.transcript.language
                values["language"] = job.language
            await session.execute(
                update(TranscriptionJob).where(TranscriptionJob.id == job.id).values(**values)
            )
        job.processed_samples = window.end_sample
        return seq

    async def _meter(self, job: TranscriptionJob, seconds: float) -> None:
        await record_audio_usage(
            self._host.accounting, job.tenant_id, job.user_id, round(seconds, 3), usage_reference(job.id),
            mode="job", backend=job.backend_used,
        )  # fmt: skip

    async def _complete(self, job: TranscriptionJob, seconds: float) -> None:
        await self._meter(job, seconds)
        if await self._diarized(job):
            await record_diarized_usage(
                self._host.accounting, job.tenant_id, job.user_id, round(seconds, 3), usage_reference(job.id),
                mode="job",
            )  # fmt: skip
        job.duration_seconds = round(seconds, 3)
        event = AuditEvent(
            job.tenant_id, job.user_id, "scaiecho.transcribe", str(job.id),
            {"mode": "job", "backend": job.backend_used, "audio_seconds": job.duration_seconds},
        )  # fmt: skip
        await self._finish(job, JobStatus.COMPLETED, audit=event)

    async def _diarized(self, job: TranscriptionJob) -> bool:
        """Whether diarization ran on the job (some stored segment carries a speaker): its
        whole audio is then metered as diarized too."""
        if not job.diarize:
            return False
        async with self._sessions() as session:
            found = await session.scalar(
                select(JobSegment.id)
                .where(JobSegment.job_id == job.id, JobSegment.speaker_label.is_not(None))
                .limit(1)
            )
        return found is not None

    async def _note_error(self, job: TranscriptionJob, code: str, message: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(TranscriptionJob)
                .where(TranscriptionJob.id == job.id)
                .values(error_code=code, error_message=f"attempt failed, will retry: {message}")
            )

    async def _finish(
        self,
        job: TranscriptionJob,
        status: JobStatus,
        code: str | None = None,
        message: str | None = None,
        audit: AuditEvent | None = None,
    ) -> None:
        values: dict[str, object] = {
            "status": status,
            "finished_at": utcnow(),
            "error_code": code,
            "error_message": message,
        }
        if status == JobStatus.COMPLETED:
            values |= {"duration_seconds": job.duration_seconds, "metered_at": utcnow()}
        metrics.TRANSCRIPTIONS.labels("job", job.backend_used or "", str(status.value)).inc()
        if status != JobStatus.COMPLETED:
            # Settled already when it was metered; otherwise the reservation goes back.
            await release_audio_hold(self._host.accounting, usage_reference(job.id))
        async with self._sessions.begin() as session:
            await session.execute(
                update(TranscriptionJob).where(TranscriptionJob.id == job.id).values(**values)
            )
            if audit is not None:  # the final status and its audit event commit together
                await self._host.audit.record(audit, session=session)
            # And its webhook, if it asked for one: armed once, never lost.
            armed = await arm(session, job.id, status)
        if job.blob_key and not self._settings.jobs.keep_audio:
            await self._host.blobs.delete(job.blob_key)
            async with self._sessions.begin() as session:
                await session.execute(
                    update(TranscriptionJob).where(TranscriptionJob.id == job.id).values(blob_key=None)
                )
        logger.info("job %s %s%s", job.id, status, f" ({code})" if code else "")
        if armed and self._webhooks is not None:
            self._webhooks.deliver_soon(job.id)


def _next_window(windows: Iterator[Window]) -> Window | None:
    """Advance the decoder on a worker thread: decoding and VAD must not block the event loop."""
    return next(windows, None)
