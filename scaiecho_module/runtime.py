"""The module's live objects for one app: built at startup, torn down at shutdown."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from scaiecho_module.backends.base import BackendSet
from scaiecho_module.backends.node import Node
from scaiecho_module.backends.node_health import HealthBoard, LocalBoard, RedisBoard
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.relay import RelayDirectory
from scaiecho_module.backends.resolver import Policy
from scaiecho_module.backends.self_hosted import SelfHostedBackend
from scaiecho_module.backends.triton_node import TritonNode
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.engines.speaker_embedding import SpeakerEmbedder
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions, pause_cut
from scaiecho_module.engines.weights import resolve_model_dir
from scaiecho_module.host_contract import Host
from scaiecho_module.jobs.runner import JobRunner
from scaiecho_module.jobs.service import JobService
from scaiecho_module.languages import supported_languages
from scaiecho_module.live.diarize import LiveDiarizer
from scaiecho_module.live.service import StreamTranscribeService
from scaiecho_module.nodes.service import NodeService
from scaiecho_module.policy.service import PolicyService
from scaiecho_module.speakers.attribution import SpeakerAttribution
from scaiecho_module.speakers.erasure import ErasureService
from scaiecho_module.speakers.fleet import SpeakerFleet
from scaiecho_module.speakers.naming import SpeakerNamer
from scaiecho_module.speakers.reconcile import Reconciler
from scaiecho_module.speakers.registry import WarmRegistry, build_registry
from scaiecho_module.speakers.service import SpeakerService
from scaiecho_module.speakers.store import SpeakerStore
from scaiecho_module.speakers.warming import Warmer
from scaiecho_module.transcribe.service import TranscribeService
from scaiecho_module.webhooks.service import WebhookService

STATE_KEY = "scaiecho"


@dataclass(slots=True)
class ModuleRuntime:
    node_pool: NodePool
    self_hosted: SelfHostedBackend
    relays: RelayDirectory
    host: Host
    settings: ScaiEchoSettings
    backends: BackendSet
    policies: PolicyService
    transcribe: TranscribeService
    jobs: JobService
    job_runner: JobRunner
    streams: StreamTranscribeService
    nodes: NodeService
    warm_registry: WarmRegistry
    warmer: Warmer
    speakers: SpeakerService
    erasures: ErasureService
    reconciler: Reconciler
    webhooks: WebhookService


def load_engine(settings: ScaiEchoSettings) -> WhisperEngine:
    """Blocking: resolve weights (joining parts on first run) and load the model once."""
    stt = settings.stt
    model_dir = resolve_model_dir(stt)
    options = WhisperOptions(
        compute_type=stt.compute_type, cpu_threads=stt.cpu_threads, beam_size=stt.beam_size
    )
    # An operator's directory is named by its last component only: clients never see server paths.
    name = stt.name if stt.model_path is None or stt.name != "path" else f"custom-{stt.model_path.name}"
    return WhisperEngine(model_dir, f"whisper-{name}", options)


def load_speaker_engine(settings: ScaiEchoSettings) -> SpeakerEmbedder | None:
    """Blocking: the in-process node's speaker engine, when it is on (``SCAIECHO_SPEAKER_ENGINE``)."""
    if not settings.speaker_engine.enabled:
        return None
    return SpeakerEmbedder(
        threads=settings.speaker_engine.cpu_threads, forwards=settings.speaker_engine.forwards
    )


def build_nodes(
    settings: ScaiEchoSettings, engine: WhisperEngine | None, speaker: SpeakerEmbedder | None = None
) -> list[Node]:
    nodes: list[Node] = [InProcessNode("in-process", engine, speaker=speaker)] if engine is not None else []
    nodes += [
        TritonNode(node_id, url, settings.nodes.triton_model, settings.nodes.timeout_seconds)
        for node_id, url in settings.nodes.triton
    ]
    return nodes


def build_board(host: Host, settings: ScaiEchoSettings) -> HealthBoard:
    """Node states shared through the host's Redis when there is one and there are remote nodes."""
    if host.redis_url is None or not settings.nodes.triton:
        return LocalBoard()
    identity = json.dumps([settings.nodes.triton_model, sorted(settings.nodes.triton)])
    return RedisBoard(host.redis_url, hashlib.sha256(identity.encode()).hexdigest()[:16])


def serving_languages(settings: ScaiEchoSettings, engine: WhisperEngine | None) -> frozenset[str]:
    """Hints are checked against the loaded model when it serves alone; Triton nodes and relays
    may hold other models, so with them any Whisper code passes (the engine itself falls back to
    detection for a code its model lacks)."""
    if engine is not None and not settings.nodes.triton and not settings.relays.relays:
        return engine.languages
    return supported_languages()


def build_runtime(
    host: Host,
    settings: ScaiEchoSettings,
    engine: WhisperEngine | None,
    speaker: SpeakerEmbedder | None = None,
) -> ModuleRuntime:
    node_pool = NodePool(build_nodes(settings, engine, speaker), build_board(host, settings))
    self_hosted = SelfHostedBackend(
        node_pool, settings.stream.partial_interval, settings.stream.min_silence, settings.stream.context,
        speculate=settings.stream.speculative_finals,
        live_window=None if settings.stream.window_seconds >= 30 else settings.stream.window_seconds,
    )  # fmt: skip
    relays = RelayDirectory(settings.relays)
    backends = BackendSet(self_hosted, relays)
    policies = PolicyService(
        host.database.session_factory,
        host.audit,
        Policy(settings.default_allowed_backends, settings.default_backend),
        backends.availability,
    )
    webhooks = WebhookService(host, settings.webhooks)
    jobs = JobService(host, settings, backends, policies, webhooks)
    registry = build_registry(host.redis_url)
    store = SpeakerStore(host.database.session_factory)
    fleet = SpeakerFleet(node_pool)
    namer = SpeakerNamer(fleet, store)
    attribution = SpeakerAttribution(fleet, namer)
    warmer = Warmer(store, host.blobs, fleet, registry, settings.speakers)
    speakers = SpeakerService(host, settings.speakers, self_hosted, warmer)
    erasures = ErasureService(host, speakers.store, warmer)
    return ModuleRuntime(
        node_pool=node_pool,
        self_hosted=self_hosted,
        relays=relays,
        host=host,
        settings=settings,
        backends=backends,
        policies=policies,
        transcribe=TranscribeService(
            host, settings, backends, policies, jobs, serving_languages(settings, engine), attribution
        ),
        jobs=jobs,
        job_runner=JobRunner(host, settings, backends, pause_cut, attribution, webhooks),
        streams=StreamTranscribeService(host, settings, backends, policies, LiveDiarizer(fleet, namer)),
        nodes=NodeService(node_pool),
        warm_registry=registry,
        warmer=warmer,
        speakers=speakers,
        erasures=erasures,
        reconciler=Reconciler(speakers.store, warmer, erasures),
        webhooks=webhooks,
    )
