"""A self-hosted node: a Triton server serving ``triton_models/``, reached over gRPC.

Which of our models the server has, and whether each is ready, is read from its repository
index at every poll; the capabilities of its ready models are the node's. The node is
healthy while the server is ready and at least one of our models is. A failed request marks
it unhealthy at once (the pool retries elsewhere); the pool's poller brings it back when it
answers ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.node import (
    Capability,
    Diarization,
    Embedding,
    NodeFailedError,
    NodeKind,
    SpeakerMatch,
    SpeakerTurn,
    VoiceWindows,
)
from scaiecho_module.backends.node_health import NodeState
from scaiecho_module.backends.priority import Priority, Rank
from scaiecho_module.engines import speaker_wire
from scaiecho_module.engines.speaker_library import as_embedding, as_vectors
from scaiecho_module.engines.speaker_wire import SpeakerOp, SpeakerReply, SpeakerRequest
from scaiecho_module.engines.triton import codec
from scaiecho_module.transcript import DecodeOptions, Transcript

logger = logging.getLogger("scaiecho.nodes")

# Our models in triton_models/, by the name Triton serves them under. When a node has more
# than one STT model ready, the first listed is called: the GPU configuration.
KNOWN_MODELS: Mapping[str, Capability] = {
    "scaiecho_stt": Capability.STT,
    "scaiecho_stt_cpu": Capability.STT,
    speaker_wire.MODEL: Capability.SPEAKER,
}


def _caller_cancelled() -> bool:
    """Whether the running task is being cancelled. A gRPC call also ends in CancelledError
    when its channel is closed under it (``check`` drops a dead node's channel): that is a
    failed request, and as an escaping CancelledError it silently ended whatever loop made
    the call (the speaker reconciler stopped for good)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class TritonNode:
    """One Triton server. ``stt_model`` (``SCAIECHO_TRITON_MODEL``) replaces discovery for STT:
    that name, and only it, is called and polled for ``stt`` (an operator's copy of a model
    under another name); the other capabilities are still discovered."""

    kind = NodeKind.TRITON

    def __init__(
        self, node_id: str, url: str, stt_model: str | None = None, timeout_seconds: float = 120.0
    ) -> None:
        self.node_id = node_id
        self.url = url.removeprefix("grpc://")
        self._stt_override = stt_model
        self._known = dict(KNOWN_MODELS)
        if stt_model is not None:
            self._known = {name: c for name, c in KNOWN_MODELS.items() if c is not Capability.STT}
            self._known[stt_model] = Capability.STT
        self._timeout = timeout_seconds
        self._client: Any = None
        self._retired: list[Any] = []
        self._healthy = False
        self._in_flight = 0
        # Model name -> ready, for our models in the server's index (the override always).
        self._ready: dict[str, bool] = {} if stt_model is None else {stt_model: False}
        self._reported: str | None = None  # the engine's model name, from the last answer
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        return self._healthy

    def capabilities(self) -> frozenset[Capability]:
        return frozenset(self._known[name] for name, ready in self._ready.items() if ready)

    def known_capabilities(self) -> frozenset[Capability]:
        # An unreachable node keeps the model names last discovered, each marked not ready.
        return frozenset(self._known[name] for name in self._ready)

    def readiness(self) -> Mapping[str, bool]:
        return dict(self._ready)

    @property
    def state(self) -> NodeState:
        return NodeState(self._healthy, self.last_error, self.readiness())

    def apply(self, state: NodeState) -> None:
        """Take a state another API process saw (shared board)."""
        if state.healthy != self._healthy:
            word = "ready" if state.healthy else "not ready"
            logger.info("node %s is %s (shared state)", self.node_id, word)
        self._healthy = state.healthy
        self.last_error = state.last_error
        if state.models:
            self._ready = {name: ready for name, ready in state.models.items() if name in self._known}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def model(self) -> str:
        if self._reported is not None:
            return self._reported
        return f"triton:{self._stt_model() or 'unknown'}"

    def _stt_model(self) -> str | None:
        """The model STT requests go to: the override, else the first of ours ready, else known."""
        if self._stt_override is not None:
            return self._stt_override
        stt = [name for name in self._known if self._known[name] is Capability.STT and name in self._ready]
        return next((name for name in stt if self._ready[name]), stt[0] if stt else None)

    def _grpc(self) -> Any:
        if self._client is None:
            import tritonclient.grpc.aio as grpcclient

            self._client = grpcclient.InferenceServerClient(self.url)
        return self._client

    async def check(self) -> bool:
        """Poll readiness (server, then our models in its index); updates ``healthy``."""
        # last_error is shown to tenant admins (GET /nodes): a category only, never addresses;
        # the details go to the log.
        try:
            client = self._grpc()
            server_ready = bool(await client.is_server_ready(client_timeout=2.0))
            ready = dict.fromkeys(self._ready, False)
            if server_ready:
                ready = self._discover(await client.get_model_repository_index(client_timeout=2.0))
            healthy = server_ready and any(ready.values())
            error, detail = (None, "") if healthy else ("not_ready", "server or our models not ready")
        except Exception as exc:  # unreachable, refused, timed out: all mean "not ready"
            ready = dict.fromkeys(self._ready, False)
            healthy, error, detail = False, "unreachable", f"{type(exc).__name__}: {exc}"
            # A fresh channel next time: gRPC's reconnect backoff could otherwise keep a
            # restarted node looking dead for up to two minutes.
            with contextlib.suppress(Exception):
                await self.close()
        if healthy and ready != self._ready:
            served = ", ".join(f"{name} ({self._known[name]})" for name, up in ready.items() if up)
            logger.info("node %s serves %s", self.node_id, served)
        if healthy and not self._healthy:
            logger.info("node %s is ready", self.node_id)
        elif not healthy and (self._healthy or error != self.last_error):
            logger.warning("node %s is not ready: %s", self.node_id, detail)
        self._ready = ready
        self._healthy = healthy
        self.last_error = error
        return self._healthy

    def _discover(self, index: Any) -> dict[str, bool]:
        """Our models in a repository index, and whether each is ready (any version)."""
        ready: dict[str, bool] = {} if self._stt_override is None else {self._stt_override: False}
        for entry in index.models:
            if entry.name in self._known:
                ready[entry.name] = ready.get(entry.name, False) or entry.state == "READY"
        return ready

    async def transcribe(
        self,
        audio: AudioArray,
        language: str | None,
        priority: Priority = Priority.SYNC,
        options: DecodeOptions | None = None,
    ) -> Transcript:
        from tritonclient.grpc import InferInput, InferRequestedOutput

        model_name = self._stt_model()
        if model_name is None:
            raise NodeFailedError(f"node {self.node_id} serves no STT model")
        self._in_flight += 1
        try:
            samples = np.ascontiguousarray(audio, dtype=np.float32)
            # [1, n]: one request of the model's dynamic batch (config max_batch_size > 0).
            audio_in = InferInput(codec.AUDIO, [1, len(samples)], "FP32")
            audio_in.set_data_from_numpy(samples.reshape(1, -1))
            wire = np.frombuffer(codec.encode_options(language, options), dtype=np.uint8)
            options_in = InferInput(codec.OPTIONS, [1, len(wire)], "UINT8")
            options_in.set_data_from_numpy(wire.reshape(1, -1))
            result = await self._grpc().infer(
                model_name,
                [audio_in, options_in],
                outputs=[InferRequestedOutput(codec.RESULT)],
                client_timeout=self._timeout,
            )
            transcript, reported = codec.decode_result(result.as_numpy(codec.RESULT).tobytes())
        except asyncio.CancelledError as exc:
            if _caller_cancelled():
                raise
            raise self._failed(exc) from exc
        except Exception as exc:
            raise self._failed(exc) from exc
        finally:
            self._in_flight -= 1
        self._reported = reported or self.model
        return transcript

    def _failed(self, exc: BaseException) -> NodeFailedError:
        """Mark the node unhealthy after a failed request (the poller brings it back)."""
        self._healthy = False
        self.last_error = "request_failed"
        self._retire_channel()
        logger.warning("node %s failed a request: %s: %s", self.node_id, type(exc).__name__, exc)
        return NodeFailedError(f"node {self.node_id} failed a request")

    def _retire_channel(self) -> None:
        # A fresh channel for the next request (see check); the old one may still carry other
        # requests, so it is closed later rather than under them.
        if self._client is not None:
            self._retired.append(self._client)
            self._client = None

    # Capability ``speaker``: model ``scaiecho_speaker`` (wire format: engines/speaker_wire.py).
    # Inputs are checked here, as the in-process node checks them, so a malformed embedding is
    # a ValueError for the caller rather than a failed node.

    async def _speaker_call(self, request: SpeakerRequest) -> SpeakerReply:
        from tritonclient.grpc import InferInput, InferRequestedOutput

        if not self._ready.get(speaker_wire.MODEL):
            raise NodeFailedError(f"node {self.node_id} serves no speaker model")
        self._in_flight += 1
        try:
            inputs = []
            for name, array in request.tensors().items():
                tensor = InferInput(name, [len(array)], "UINT8" if array.dtype == np.uint8 else "FP32")
                tensor.set_data_from_numpy(array)
                inputs.append(tensor)
            # VECTORS only where the reply has rows (embed, diarize): no zero-size tensors on the wire.
            names = [speaker_wire.RESULT] + [speaker_wire.VECTORS] * request.op.returns_vectors
            outputs = [InferRequestedOutput(name) for name in names]
            result = await self._grpc().infer(
                speaker_wire.MODEL, inputs, outputs=outputs, client_timeout=self._timeout
            )
            vectors = result.as_numpy(speaker_wire.VECTORS) if request.op.returns_vectors else None
            return SpeakerReply.from_tensors(result.as_numpy(speaker_wire.RESULT), vectors)
        except asyncio.CancelledError as exc:
            if _caller_cancelled():
                raise
            raise self._failed(exc) from exc
        except Exception as exc:
            raise self._failed(exc) from exc
        finally:
            self._in_flight -= 1

    async def embed_voice(
        self, audio: AudioArray, priority: Rank = Priority.SYNC, voice: bool = True
    ) -> VoiceWindows:
        # Triton queues requests itself (in arrival order): ``priority`` orders in-process slots only.
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        if not samples.size:
            return VoiceWindows.empty()
        reply = await self._speaker_call(SpeakerRequest(SpeakerOp.EMBED, audio=samples, voice=voice))
        return reply.windows()

    async def diarize(self, audio: AudioArray, priority: Priority = Priority.SYNC) -> Diarization:
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        if not samples.size:
            return Diarization.empty()
        return (await self._speaker_call(SpeakerRequest(SpeakerOp.DIARIZE, audio=samples))).diarization()

    async def segment_speakers(
        self, audio: AudioArray, priority: Rank = Priority.SYNC
    ) -> tuple[SpeakerTurn, ...]:
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        if not samples.size:
            return ()
        return (await self._speaker_call(SpeakerRequest(SpeakerOp.SEGMENT, audio=samples))).local_turns()

    async def enroll_speaker(self, tenant_id: str, speaker_id: str, embedding: Embedding) -> None:
        if not tenant_id or not speaker_id:
            raise ValueError("tenant_id and speaker_id must not be empty")
        vector = as_embedding(embedding)
        await self._speaker_call(SpeakerRequest(SpeakerOp.ENROLL, tenant_id, speaker_id, vectors=vector))

    async def evict_speaker(self, tenant_id: str, speaker_id: str) -> bool:
        reply = await self._speaker_call(SpeakerRequest(SpeakerOp.EVICT, tenant_id, speaker_id))
        return reply.held()

    async def enrolled_speakers(self) -> frozenset[tuple[str, str]]:
        return (await self._speaker_call(SpeakerRequest(SpeakerOp.LIST))).enrolled()

    async def match_speakers(
        self, tenant_id: str, vectors: npt.NDArray[np.float32], threshold: float
    ) -> list[SpeakerMatch]:
        rows = as_vectors(vectors)
        if not len(rows):
            return []
        request = SpeakerRequest(SpeakerOp.MATCH, tenant_id, threshold=threshold, vectors=rows)
        return (await self._speaker_call(request)).matches()

    async def close(self) -> None:
        retired, self._retired = self._retired, []
        for client in retired:
            with contextlib.suppress(Exception):
                await client.close()
        if self._client is not None:
            await self._client.close()
            self._client = None
