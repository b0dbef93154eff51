"""Backend A: speech-to-text on the node pool's ``stt`` nodes (in-process and/or Triton).

Requests go to a healthy node with the least in-flight work. A node that fails a request is
marked unhealthy and the request is retried once on another node, so a live session whose
node dies carries on (its utterance audio is still held by the recogniser). With no healthy
node, Backend A is unavailable and the resolver may fall back to B.
"""

from __future__ import annotations

import time
from dataclasses import replace

from scaiecho_module import metrics
from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.base import BackendTranscript, LiveContext
from scaiecho_module.backends.node import Capability, Node, NodeFailedError
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.priority import Interactive, Priority
from scaiecho_module.backends.recognizer import VadRecognizer, without_prefix
from scaiecho_module.errors import BACKEND_UNAVAILABLE, ScaiEchoError
from scaiecho_module.transcript import DecodeOptions, Transcript


def live_options(context: LiveContext | None) -> DecodeOptions:
    """A live session's vocabulary hints as decode options (no word times): plain without a
    context or hints, so such decodes can still be batched on a Triton node."""
    if context is None:
        return DecodeOptions()
    return DecodeOptions(prompt=context.prompt, hotwords=context.hotwords)


class SelfHostedBackend:
    backend_id = "A"

    def __init__(
        self,
        pool: NodePool,
        partial_interval: float = 1.0,
        min_silence: float = 0.5,
        live_context: bool = False,
        speculate: bool = True,
        live_window: float | None = None,
    ) -> None:
        # The live recogniser's tuning (SCAIECHO_STREAM_*), passed in: backends read no config.
        # ``live_context`` (SCAIECHO_STREAM_CONTEXT): finals decode with left context; off, alone.
        self.pool = pool
        self._live_context = live_context
        self._partial_interval = partial_interval
        self._min_silence = min_silence
        self._speculate = speculate  # SCAIECHO_STREAM_SPECULATIVE_FINALS
        self._live_window = live_window  # SCAIECHO_STREAM_WINDOW_SECONDS (None: Whisper's 30 s)
        # This process's interactive work on the pool: a job slices short while it is near.
        self._interactive = Interactive()
        # Job slices this process has in flight, per node: a live partial may start while a
        # node has only job work on it (it outranks a slice), not just when it has none.
        self._job_calls: dict[str, int] = {}

    async def open_stream(
        self, language: str | None, chunk_seconds: float, context: LiveContext | None = None
    ) -> VadRecognizer:
        # A diarized session's finals carry word times (the labeller splits them at a change
        # of speaker), as do those of a session that asked for them; partials never need them.
        # The client's prompt and hotwords go with every decode, partial or final, so a
        # partial spells a name as its final will.
        # Live decodes are short: the encoder sees a window fitted to them, not 30 s. Not with
        # a client's prompt or hotwords: in a short window Whisper copies a prompt's style
        # less (tiny.en's 1 s partial ignored a prompt's capitals that it copied at 30 s).
        hints = live_options(context)
        if not (hints.prompt or hints.hotwords):
            hints = replace(hints, window_seconds=self._live_window)
        wanted = context is not None and (context.diarize or context.word_timestamps)
        final = replace(hints, word_timestamps=True) if wanted else hints
        # A partial decodes once, at temperature 0: Whisper's fallback re-decodes a doubtful
        # short clip up to five more times (a 0.5 s partial took 3 s), node time a final
        # behind it would wait for; a doubtful partial is only provisional anyway.
        partial = replace(hints, temperature=0.0)

        async def transcribe(audio: AudioArray, priority: Priority) -> Transcript:
            options = final if priority is Priority.LIVE_FINAL else partial
            return (await self.transcribe(audio, language, priority, options)).transcript

        async def with_context(
            audio: AudioArray, priority: Priority, prompt: str | None, left: float, right: float
        ) -> Transcript:
            # A final with left context: this session's own committed tail as the prompt, and
            # already-final audio before it whose words (found by their times) are dropped.
            # The client's own prompt comes first; the committed tail follows it.
            options = replace(hints.with_context(prompt), word_timestamps=True)
            transcript = (await self.transcribe(audio, language, priority, options)).transcript
            return without_prefix(transcript, left, wanted, prompt or "", right)

        silence = context.min_silence if context is not None and context.min_silence else self._min_silence
        return VadRecognizer(
            transcribe,
            chunk_seconds,
            self._partial_interval,
            silence,
            node_idle=self._free_for_partials,
            partials=context.partials if context is not None else True,
            context=with_context if self._live_context else None,
            speculate=self._speculate,
            on_speech=self._interactive.touch,
        )

    def available(self) -> bool:
        return self.pool.available(Capability.STT)

    def interactive_near(self) -> bool:
        return self._interactive.near()

    def _free_for_partials(self) -> bool:
        """A node with nothing but job slices in flight: a partial waits for at most the one
        slice on it (a short one while a live utterance is open), as a final does. Without
        this a running job meant no partials at all (the first one came 3.4-3.9 s late)."""
        jobs = self._job_calls
        return any(node.in_flight <= jobs.get(node.node_id, 0) for node in self.pool.serving(Capability.STT))

    async def transcribe(
        self,
        audio: AudioArray,
        language: str | None,
        priority: Priority = Priority.SYNC,
        options: DecodeOptions | None = None,
    ) -> BackendTranscript:
        interactive = priority is not Priority.JOB
        if interactive:
            self._interactive.touch()
        try:
            return await self._transcribe(audio, language, priority, options)
        finally:
            if interactive:
                self._interactive.touch()  # held from its end too: a client's next request is near

    async def _transcribe(
        self, audio: AudioArray, language: str | None, priority: Priority, options: DecodeOptions | None
    ) -> BackendTranscript:
        node = self.pool.pick(Capability.STT)
        try:
            transcript = await self._timed(node, audio, language, priority, options)
        except NodeFailedError:
            # Once, on another node: the failed one is already marked unhealthy (here and, with
            # a shared board, in every API process).
            await self.pool.failed(node)
            node = self.pool.pick(Capability.STT, exclude=frozenset({node.node_id}))
            try:
                transcript = await self._timed(node, audio, language, priority, options)
            except NodeFailedError as exc:
                await self.pool.failed(node)
                raise ScaiEchoError(
                    BACKEND_UNAVAILABLE, "self-hosted STT nodes failed", {"backend": "A"}
                ) from exc
        return BackendTranscript(transcript, self.backend_id, node.node_id, node.model)

    async def _timed(
        self,
        node: Node,
        audio: AudioArray,
        language: str | None,
        priority: Priority,
        options: DecodeOptions | None,
    ) -> Transcript:
        started = time.perf_counter()
        job = priority is Priority.JOB
        if job:
            self._job_calls[node.node_id] = self._job_calls.get(node.node_id, 0) + 1
        try:
            transcript = await node.transcribe(audio, language, priority, options)
        finally:
            if job:
                self._job_calls[node.node_id] -= 1
        metrics.NODE_REQUEST_SECONDS.labels(node.node_id).observe(time.perf_counter() - started)
        return transcript
