"""TranscribeService: one caller's file to text, with policy, budget, metering and audit."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from dataclasses import dataclass
from typing import IO

import anyio.to_thread

from scaiecho_module import metrics
from scaiecho_module.audio.decode import decode_file
from scaiecho_module.audit import record_audit
from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.backends.base import BackendSet, BackendTranscript, with_fallback
from scaiecho_module.backends.node import Diarization
from scaiecho_module.channels import Transport
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.errors import (
    AUDIO_TOO_LONG,
    FORBIDDEN,
    PAYLOAD_TOO_LARGE,
    ScaiEchoError,
)
from scaiecho_module.host_contract import AuditEvent, Host, Principal
from scaiecho_module.jobs.schemas import TranscriptionJobView
from scaiecho_module.jobs.service import JobService
from scaiecho_module.languages import check_language_hint, supported_languages
from scaiecho_module.metering import (
    hold_audio_budget,
    record_audio_usage,
    record_diarized_usage,
    release_audio_hold,
)
from scaiecho_module.permissions import PERM_DIARIZE
from scaiecho_module.policy.service import PolicyService
from scaiecho_module.speakers.attribution import SpeakerAttribution, attribute
from scaiecho_module.transcribe.admission import InlineAdmission
from scaiecho_module.transcript import DecodeOptions
from scaiecho_module.webhooks.service import WebhookRequest

logger = logging.getLogger("scaiecho.transcribe")

# An inline hold outlives any inline request; past it, a crashed process's hold lapses.
_INLINE_HOLD_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class FileTranscription:
    request_id: str
    result: BackendTranscript


class TranscribeService:
    """Sync for short audio, a queued job for long audio (the inline threshold decides)."""

    def __init__(
        self,
        host: Host,
        settings: ScaiEchoSettings,
        backends: BackendSet,
        policies: PolicyService,
        jobs: JobService,
        languages: frozenset[str] | None = None,
        attribution: SpeakerAttribution | None = None,
    ) -> None:
        self._host = host
        self._settings = settings
        self._backends = backends
        self._policies = policies
        self._jobs = jobs
        self._attribution = attribution
        self.admission = InlineAdmission(settings.admission)
        self.languages = languages or supported_languages()

    async def accept(
        self,
        principal: Principal,
        audio_file: IO[bytes],
        size_bytes: int,
        filename: str,
        language_hint: str | None,
        preference: BackendPreference,
        options: DecodeOptions | None = None,
        *,
        diarize: bool = False,
        transport: Transport = Transport.REST,
        webhook: WebhookRequest | None = None,
    ) -> FileTranscription | TranscriptionJobView:
        # Checked before anything is read: a caller without the permission never gets a 200.
        if diarize and not principal.has(PERM_DIARIZE):
            raise ScaiEchoError(
                FORBIDDEN, f"diarize needs the {PERM_DIARIZE} permission", {"permission": PERM_DIARIZE}
            )
        # A webhook asks for a callback: the file is queued as a job whatever its size.
        if webhook is None and size_bytes <= self._settings.inline_max_bytes:
            try:
                # Queued or running, inline work counts against the caps until it answers.
                with self.admission.slot(principal.tenant_id):
                    return await self.transcribe_file(
                        principal, audio_file, size_bytes, language_hint, preference, options,
                        transport=transport, diarize=diarize,
                    )  # fmt: skip
            except ScaiEchoError as exc:
                if exc.kind is not AUDIO_TOO_LONG:
                    raise
                # Few bytes but long audio (low-bitrate Opus): queue it instead of refusing it.
                audio_file.seek(0)
        language_hint = check_language_hint(language_hint, self.languages)
        return await self._jobs.submit(
            principal,
            audio_file,
            size_bytes,
            filename,
            language_hint,
            preference,
            options,
            transport=transport,
            diarize=diarize,
            webhook=webhook,
        )

    async def transcribe_inline(
        self,
        principal: Principal,
        audio_file: IO[bytes],
        size_bytes: int,
        language_hint: str | None,
        preference: BackendPreference,
        options: DecodeOptions | None = None,
        *,
        transport: Transport = Transport.REST,
    ) -> FileTranscription:
        """Inline only (no job to fall back to), under the same admission caps as ``accept``."""
        with self.admission.slot(principal.tenant_id):
            return await self.transcribe_file(
                principal, audio_file, size_bytes, language_hint, preference, options, transport=transport
            )

    async def transcribe_file(
        self,
        principal: Principal,
        audio_file: IO[bytes],
        size_bytes: int,
        language_hint: str | None,
        preference: BackendPreference,
        options: DecodeOptions | None = None,
        *,
        transport: Transport = Transport.REST,
        diarize: bool = False,
    ) -> FileTranscription:
        if diarize and not principal.has(PERM_DIARIZE):
            raise ScaiEchoError(
                FORBIDDEN, f"diarize needs the {PERM_DIARIZE} permission", {"permission": PERM_DIARIZE}
            )
        if size_bytes > self._settings.inline_max_bytes:
            raise ScaiEchoError(
                PAYLOAD_TOO_LARGE,
                f"file is {size_bytes} bytes; the inline limit is {self._settings.inline_max_bytes} bytes",
                {"limit_bytes": self._settings.inline_max_bytes},
            )
        language_hint = check_language_hint(language_hint, self.languages)
        # Resolve first: a request that cannot run anywhere fails before any decoding work.
        policy = await self._policies.effective(principal.tenant_id)
        backend_id = self._backends.resolve(principal.tenant_id, policy, preference)
        audio = await anyio.to_thread.run_sync(decode_file, audio_file, self._settings.inline_max_seconds)
        seconds = round(len(audio) / 16_000, 3)
        request_id = str(uuid.uuid4())
        reference = f"scaiecho:transcribe:{request_id}"
        await hold_audio_budget(
            self._host.accounting, principal.tenant_id, seconds, reference, ttl_seconds=_INLINE_HOLD_SECONDS
        )
        # Diarization runs on Backend A's speaker nodes only (B ignores the flag: spec), beside
        # the transcription. Whisper is asked for word times so segments can be split at a
        # speaker change; they are dropped again unless the caller asked for them.
        attribution = self._attribution
        diarizing = diarize and backend_id == "A" and attribution is not None and attribution.available()
        asked = options or DecodeOptions()
        decode = dataclasses.replace(asked, word_timestamps=True) if diarizing else asked
        turns: asyncio.Task[Diarization | None] | None = None
        if diarizing and attribution is not None:
            turns = asyncio.ensure_future(attribution.diarize(audio))
        try:
            result = await with_fallback(
                self._backends, principal.tenant_id, policy, preference,
                lambda backend: backend.transcribe(audio, language_hint, options=decode),
            )  # fmt: skip
            found = await turns if turns is not None else None
        except BaseException:
            # Cancelled (the client left) or failed: nothing ran to completion, nothing is charged.
            if turns is not None:
                turns.cancel()
            await release_audio_hold(self._host.accounting, reference)
            raise
        backend_id = result.backend_id
        labelled = False
        if found is not None and attribution is not None and backend_id == "A":
            speakers = await attribution.speakers(principal.tenant_id, found)
            segments = attribute(result.transcript.segments, found.exclusive, speakers)
            labelled = True
        else:
            segments = list(result.transcript.segments)
        if decode.word_timestamps and not asked.word_timestamps:
            segments = [dataclasses.replace(s, words=()) for s in segments]
        if segments != list(result.transcript.segments):
            transcript = dataclasses.replace(result.transcript, segments=tuple(segments))
            result = dataclasses.replace(result, transcript=transcript)
        await record_audio_usage(
            self._host.accounting,
            principal.tenant_id,
            principal.user_id,
            seconds,
            reference,
            mode="sync",
            backend=backend_id,
        )
        if labelled:
            await record_diarized_usage(
                self._host.accounting, principal.tenant_id, principal.user_id, seconds, reference, mode="sync"
            )
        metrics.TRANSCRIPTIONS.labels("sync", backend_id, "completed").inc()
        await record_audit(
            self._host,
            AuditEvent(
                tenant_id=principal.tenant_id,
                actor_user_id=principal.user_id,
                action="scaiecho.transcribe",
                target=request_id,
                details={
                    "mode": "sync",
                    "transport": transport.value,
                    "backend": backend_id,
                    "node_id": result.node_id,
                    "audio_seconds": seconds,
                    "bytes": size_bytes,
                    "diarized": labelled,
                },
            ),
        )
        return FileTranscription(request_id, result)
