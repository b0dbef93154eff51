"""Module configuration, read from ``SCAIECHO_*`` environment variables (see docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from scaiecho_module.backends.relay.settings import RelayDirectorySettings
from scaiecho_module.engines.weights import SttModelSettings
from scaiecho_module.errors import ConfigurationError

_MIB = 1024 * 1024


def _flag(name: str, default: str) -> bool:
    value = _env(name, default).lower()
    if value not in {"true", "false", "1", "0"}:
        raise ConfigurationError(f"SCAIECHO_{name} must be true or false")
    return value in {"true", "1"}


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SCAIECHO_{name}", default)


def _int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"SCAIECHO_{name} must be an integer, got {raw!r}") from exc


def _float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"SCAIECHO_{name} must be a number, got {raw!r}") from exc
    # nan and inf pass every `<` range check below (NaN compares false), then break at run time.
    if not math.isfinite(value):
        raise ConfigurationError(f"SCAIECHO_{name} must be a finite number, got {raw!r}")
    return value


def _backends(name: str, default: str) -> frozenset[str]:
    raw = _env(name, default).upper().replace(",", "").replace(" ", "")
    if not raw or set(raw) - {"A", "B"}:
        raise ConfigurationError(f"SCAIECHO_{name} must be A, B or AB, got {raw!r}")
    return frozenset(raw)


@dataclass(frozen=True, slots=True)
class SpeakerEngineSettings:
    """Whether the in-process node also loads the speaker engine (CAM++ on CPU torch), and
    torch's thread count for it. Triton speaker nodes take theirs from ``config.pbtxt``."""

    enabled: bool = True
    # One thread: torch's OpenMP threads spin at every barrier, and on a busy machine (the API
    # process's own work, Whisper) a second thread made embeddings 10x slower (benchmarks.md).
    cpu_threads: int = 1
    # Forward passes of one call at once, each on its own thread (one torch thread each): the
    # cores torch's spinning threads could not use, without the spin (benchmarks.md).
    forwards: int = 2

    @classmethod
    def from_env(cls) -> SpeakerEngineSettings:
        flag = _env("SPEAKER_ENGINE", "true").lower()
        if flag not in {"true", "false", "1", "0"}:
            raise ConfigurationError("SCAIECHO_SPEAKER_ENGINE must be true or false")
        settings = cls(
            enabled=flag in {"true", "1"},
            cpu_threads=_int("SPEAKER_CPU_THREADS", 1),
            forwards=_int("SPEAKER_FORWARDS", min(os.cpu_count() or 1, 2)),
        )
        if settings.cpu_threads < 1:
            raise ConfigurationError("SCAIECHO_SPEAKER_CPU_THREADS must be >= 1")
        if not 1 <= settings.forwards <= 16:
            raise ConfigurationError("SCAIECHO_SPEAKER_FORWARDS must be between 1 and 16")
        return settings


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Queued transcription jobs (uploads above the inline threshold)."""

    max_upload_bytes: int = 2 * 1024 * _MIB
    # Long windows pack Whisper's 30 s chunks fully (fewer encoder passes); memory stays flat.
    window_seconds: float = 120.0
    # Backend A decodes a window in slices of at most this, each taking the node's slot on
    # its own: a sync request or live final waits for one slice of job work, not a window.
    slice_seconds: float = 30.0
    # ... and of at most this while live or sync work is near (a fitted encoder window too).
    short_slice_seconds: float = 10.0
    timeout_seconds: int = 6 * 3600
    heartbeat_seconds: int = 60
    retries: int = 3
    retry_delay_seconds: float = 5.0
    keep_audio: bool = False
    recovery_seconds: float = 60.0
    orphan_min_age_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Job webhooks: attempts and their backoff, and which addresses a webhook may reach.

    Private, loopback, link-local and other non-public addresses are refused unless
    ``allow_private`` is set or the address is inside one of ``allowed_networks`` (CIDRs).
    """

    max_attempts: int = 6
    # Attempt n+1 waits retry_base * 2**(n-1): 20, 40, 80, 160, 320 s (about 10 min in all).
    retry_base_seconds: float = 20.0
    timeout_seconds: float = 10.0
    poll_seconds: float = 5.0
    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> WebhookSettings:
        flag = _env("WEBHOOK_ALLOW_PRIVATE", "false").lower()
        if flag not in {"true", "false", "1", "0"}:
            raise ConfigurationError("SCAIECHO_WEBHOOK_ALLOW_PRIVATE must be true or false")
        settings = cls(
            max_attempts=_int("WEBHOOK_MAX_ATTEMPTS", 6),
            retry_base_seconds=_float("WEBHOOK_RETRY_BASE_SECONDS", 20.0),
            timeout_seconds=_float("WEBHOOK_TIMEOUT_SECONDS", 10.0),
            poll_seconds=_float("WEBHOOK_POLL_SECONDS", 5.0),
            allow_private=flag in {"true", "1"},
            allowed_networks=_list("WEBHOOK_ALLOWED_NETWORKS", ""),
        )
        if not (
            1 <= settings.max_attempts <= 50
            and settings.retry_base_seconds > 0
            and settings.timeout_seconds > 0
            and settings.poll_seconds > 0
        ):
            raise ConfigurationError("SCAIECHO_WEBHOOK_MAX_ATTEMPTS must be 1-50 and the webhook seconds > 0")
        for network in settings.allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigurationError(
                    f"SCAIECHO_WEBHOOK_ALLOWED_NETWORKS: {network!r} is not a CIDR network"
                ) from None
        return settings


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Live sessions (WebSocket, later WebRTC)."""

    chunk_seconds: float = 15.0  # longest utterance before a forced final (open frame may set it)
    partial_interval: float = 1.0
    min_silence: float = 0.5  # pause that ends an utterance
    max_backlog_seconds: float = 30.0
    # More recognised-pending audio than this and a session is behind real time: one ``info``
    # BEHIND frame per episode (the episode ends at half of it, with CAUGHT_UP).
    behind_seconds: float = 3.0
    # Backend A starts a final's decode once the speech is followed by its pad of silence,
    # while the endpointing pause is still waited out (same audio: same final, sooner).
    speculative_finals: bool = True
    idle_seconds: float = 30.0
    metering_seconds: float = 5.0  # budget checked per slice of this length; settled once at the end
    max_sessions: int = 32  # live sessions this process runs at once
    max_sessions_per_tenant: int = 8
    # Backend A decodes each final with left context (the session's committed tail as the
    # prompt, a second of earlier audio): better in noise, slower and not better on clean
    # speech with tiny.en (docs/benchmarks.md, "Live finals with context"), so off by default.
    context: bool = False
    # Backend A encodes a live decode in a window fitted to it (at least this long, and the
    # audio plus 3 s), not Whisper's 30 s: half the decode time, same or better WER
    # (docs/benchmarks.md, "A shorter encoder window for live decodes"). 30 turns it off.
    window_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class WebRtcSettings:
    """WebRTC sessions (transport/webrtc.py) and the browser's way in (tokens, CORS).

    ``ice_servers`` is the RTCConfiguration list given to both peers (STUN/TURN); empty means
    host candidates only (a LAN, loopback tests). An entry with a ``secret`` (TURN REST) gets
    a username and credential minted per client instead (transport/webrtc.py).
    ``host_addresses`` restricts which local addresses the server gathers (empty: every
    interface but loopback, aioice's default).
    """

    ice_servers: tuple[dict[str, object], ...] = ()
    host_addresses: tuple[str, ...] = ()
    udp_port_min: int = 0  # 0: any ephemeral port
    udp_port_max: int = 0
    connect_seconds: float = 15.0  # the control socket must connect and ICE complete within this
    disconnect_seconds: float = 5.0  # a peer that loses connectivity for this long has gone
    max_peers: int = 16  # WebRTC peers this process holds (UDP sockets, decoders)
    jitter_packets: int = 0  # later packets received before one is decoded (aiortc: 4, plus one)
    token_seconds: float = 300.0  # stream tokens' default lifetime
    token_max_seconds: float = 3600.0
    token_secret: str = ""  # HMAC key for stream tokens; empty: random per process
    cors_origins: tuple[str, ...] = ()


def _ice_servers(raw: str) -> tuple[dict[str, object], ...]:
    if not raw.strip():
        return ()
    try:
        servers = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError("SCAIECHO_WEBRTC_ICE_SERVERS must be a JSON list") from exc
    if not isinstance(servers, list) or not all(
        isinstance(s, dict) and isinstance(s.get("urls"), str | list) for s in servers
    ):
        raise ConfigurationError(
            'SCAIECHO_WEBRTC_ICE_SERVERS: a list of {"urls": ..., "username"?, "credential"?}'
            ' or {"urls": ..., "secret": ..., "ttl_seconds"?}'
        )
    for server in servers:
        if "secret" not in server and "ttl_seconds" not in server:
            continue
        # A TURN REST secret (coturn --use-auth-secret): credentials are minted per client.
        ttl = server.get("ttl_seconds", 86400)
        if (
            not isinstance(server.get("secret"), str)
            or not server["secret"]
            or "username" in server
            or "credential" in server
            or isinstance(ttl, bool)
            or not isinstance(ttl, int | float)
            or ttl <= 0
        ):
            raise ConfigurationError(
                "SCAIECHO_WEBRTC_ICE_SERVERS: an entry with a non-empty secret takes no username "
                "or credential, and ttl_seconds must be a positive number"
            )
    return tuple(servers)


def _webrtc() -> WebRtcSettings:
    webrtc = WebRtcSettings(
        ice_servers=_ice_servers(_env("WEBRTC_ICE_SERVERS", "")),
        host_addresses=_list("WEBRTC_HOST_ADDRESSES", ""),
        udp_port_min=_int("WEBRTC_UDP_PORT_MIN", 0),
        udp_port_max=_int("WEBRTC_UDP_PORT_MAX", 0),
        connect_seconds=_float("WEBRTC_CONNECT_SECONDS", 15.0),
        disconnect_seconds=_float("WEBRTC_DISCONNECT_SECONDS", 5.0),
        max_peers=_int("WEBRTC_MAX_PEERS", 16),
        jitter_packets=_int("WEBRTC_JITTER_PACKETS", 0),
        token_seconds=_float("STREAM_TOKEN_SECONDS", 300.0),
        token_max_seconds=_float("STREAM_TOKEN_MAX_SECONDS", 3600.0),
        token_secret=_env("STREAM_TOKEN_SECRET", ""),
        cors_origins=_list("CORS_ORIGINS", ""),
    )
    ports = (webrtc.udp_port_min, webrtc.udp_port_max)
    if ports != (0, 0) and not 1024 <= ports[0] <= ports[1] <= 65535:
        raise ConfigurationError("SCAIECHO_WEBRTC_UDP_PORT_MIN/MAX: 1024 <= min <= max <= 65535")
    if not (
        webrtc.connect_seconds > 0
        and webrtc.disconnect_seconds > 0
        and webrtc.max_peers >= 1
        and 0 < webrtc.token_seconds <= webrtc.token_max_seconds
    ):
        raise ConfigurationError(
            "SCAIECHO_WEBRTC_* timeouts and SCAIECHO_WEBRTC_MAX_PEERS must be positive, "
            "0 < SCAIECHO_STREAM_TOKEN_SECONDS <= SCAIECHO_STREAM_TOKEN_MAX_SECONDS"
        )
    if not 0 <= webrtc.jitter_packets <= 15:  # the buffer holds 16 packets
        raise ConfigurationError("SCAIECHO_WEBRTC_JITTER_PACKETS must be between 0 and 15")
    return webrtc


@dataclass(frozen=True, slots=True)
class SpeakerSettings:
    """The speaker library: recording bounds and how often nodes are reconciled."""

    max_upload_bytes: int = 25 * _MIB  # per recording
    max_recording_seconds: float = 300.0
    reconcile_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """Backend A's nodes: Triton servers by id=url, and/or the in-process node.

    ``triton_model`` names the STT model every Triton node is called with; unset, each node's
    STT model is found in its repository index.
    """

    triton: tuple[tuple[str, str], ...] = ()
    in_process: bool = True
    triton_model: str | None = None
    poll_seconds: float = 2.0
    timeout_seconds: float = 120.0


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """Inline transcriptions (queued or running) one process takes at once (transcribe/admission.py)."""

    per_process: int = 8
    per_tenant: int = 4
    retry_after_seconds: int = 5


@dataclass(frozen=True, slots=True)
class UploadSettings:
    """How a POST /transcribe body is read (the limits apply while it arrives)."""

    text_field_bytes: int = 4096
    idle_seconds: float = 30.0
    min_bytes_per_second: float = 1024.0
    grace_seconds: float = 30.0


def _admission() -> AdmissionLimits:
    limits = AdmissionLimits(
        per_process=_int("INLINE_MAX_CONCURRENT", 8),
        per_tenant=_int("INLINE_MAX_CONCURRENT_PER_TENANT", 4),
        retry_after_seconds=_int("RETRY_AFTER_SECONDS", 5),
    )
    if limits.per_process < 1 or limits.per_tenant < 1 or limits.retry_after_seconds < 1:
        raise ConfigurationError(
            "SCAIECHO_INLINE_MAX_CONCURRENT, SCAIECHO_INLINE_MAX_CONCURRENT_PER_TENANT and "
            "SCAIECHO_RETRY_AFTER_SECONDS must be >= 1"
        )
    return limits


def _upload() -> UploadSettings:
    upload = UploadSettings(
        text_field_bytes=_int("TEXT_FIELD_MAX_BYTES", 4096),
        idle_seconds=_float("UPLOAD_IDLE_SECONDS", 30.0),
        min_bytes_per_second=_float("UPLOAD_MIN_BYTES_PER_SECOND", 1024.0),
        grace_seconds=_float("UPLOAD_GRACE_SECONDS", 30.0),
    )
    if not (
        64 <= upload.text_field_bytes <= 1024 * 1024
        and upload.idle_seconds > 0
        and upload.min_bytes_per_second >= 0
        and upload.grace_seconds >= 0
    ):
        raise ConfigurationError(
            "SCAIECHO_TEXT_FIELD_MAX_BYTES must be 64 B-1 MiB, SCAIECHO_UPLOAD_IDLE_SECONDS > 0, "
            "SCAIECHO_UPLOAD_MIN_BYTES_PER_SECOND and SCAIECHO_UPLOAD_GRACE_SECONDS >= 0"
        )
    return upload


# Loopback only: the stub host as `make run` serves it. A deployment behind a public name lists it.
_MCP_HOSTS = "127.0.0.1,127.0.0.1:*,localhost,localhost:*,[::1],[::1]:*"
_MCP_ORIGINS = "http://127.0.0.1:*,http://localhost:*,http://[::1]:*"


@dataclass(frozen=True, slots=True)
class McpSettings:
    """The MCP transport: which Host/Origin headers it serves (DNS-rebinding protection), and
    the largest audio a ``transcribe`` call may carry (decoded bytes; base64 is 4/3 of it)."""

    allowed_hosts: tuple[str, ...] = tuple(_MCP_HOSTS.split(","))
    allowed_origins: tuple[str, ...] = tuple(_MCP_ORIGINS.split(","))
    max_audio_bytes: int = 16 * _MIB

    @property
    def max_base64_chars(self) -> int:
        return 4 * -(-self.max_audio_bytes // 3)

    @property
    def max_text_chars(self) -> int:
        """The longest ``audio_base64`` text taken: the base64 plus a CRLF per 76 characters
        (MIME line wrapping)."""
        return self.max_base64_chars + 2 * -(-self.max_base64_chars // 76)

    @classmethod
    def from_env(cls) -> McpSettings:
        mcp = cls(
            allowed_hosts=_list("MCP_ALLOWED_HOSTS", _MCP_HOSTS),
            allowed_origins=_list("MCP_ALLOWED_ORIGINS", _MCP_ORIGINS),
            max_audio_bytes=_int("MCP_MAX_AUDIO_BYTES", 16 * _MIB),
        )
        if not mcp.allowed_hosts or mcp.max_audio_bytes < 1:
            raise ConfigurationError(
                "SCAIECHO_MCP_ALLOWED_HOSTS must name a host and SCAIECHO_MCP_MAX_AUDIO_BYTES be > 0"
            )
        return mcp


def _list(name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in _env(name, default).split(",") if item.strip())


def _nodes(raw: str) -> tuple[tuple[str, str], ...]:
    nodes = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        node_id, sep, url = item.partition("=")
        if not sep or not node_id.strip() or not url.strip():
            raise ConfigurationError(f"SCAIECHO_NODES entries are id=grpc://host:port, got {item!r}")
        nodes.append((node_id.strip(), url.strip()))
    if len({node_id for node_id, _ in nodes}) != len(nodes):
        raise ConfigurationError("SCAIECHO_NODES has a node id twice")
    return tuple(nodes)


@dataclass(frozen=True, slots=True)
class ScaiEchoSettings:
    inline_max_bytes: int = 5 * _MIB
    inline_max_seconds: float = 1800.0
    jobs: JobSettings = JobSettings()
    stream: StreamSettings = StreamSettings()
    nodes: NodeSettings = NodeSettings()
    speakers: SpeakerSettings = SpeakerSettings()
    default_allowed_backends: frozenset[str] = frozenset({"A", "B"})
    default_backend: str = "B"
    stt: SttModelSettings = field(default_factory=SttModelSettings)
    speaker_engine: SpeakerEngineSettings = field(default_factory=SpeakerEngineSettings)
    relays: RelayDirectorySettings = field(default_factory=RelayDirectorySettings)
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)
    upload: UploadSettings = field(default_factory=UploadSettings)
    mcp: McpSettings = McpSettings()
    webrtc: WebRtcSettings = WebRtcSettings()
    webhooks: WebhookSettings = WebhookSettings()

    @classmethod
    def from_env(cls) -> ScaiEchoSettings:
        model_name = _env("STT_MODEL", "base")
        model_path = _env("STT_MODEL_PATH", "")
        if model_name not in {"base", "tiny.en", "path"}:
            raise ConfigurationError(f"SCAIECHO_STT_MODEL must be base, tiny.en or path, got {model_name!r}")
        if model_name == "path" and not model_path:
            raise ConfigurationError("SCAIECHO_STT_MODEL=path needs SCAIECHO_STT_MODEL_PATH")
        default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scaiecho" / "models"
        stt = SttModelSettings(
            name=model_name,
            model_path=Path(model_path) if model_path else None,
            cache_dir=Path(_env("MODEL_CACHE_DIR", str(default_cache))),
            compute_type=_env("STT_COMPUTE_TYPE", "int8"),
            cpu_threads=_int("STT_CPU_THREADS", min(os.cpu_count() or 2, 8)),
            beam_size=_int("STT_BEAM_SIZE", 5 if model_name != "tiny.en" else 1),
        )
        default_backend = _env("DEFAULT_BACKEND", "B").upper()
        allowed = _backends("DEFAULT_ALLOWED_BACKENDS", "AB")
        if default_backend not in allowed:
            raise ConfigurationError(
                "SCAIECHO_DEFAULT_BACKEND must be one of SCAIECHO_DEFAULT_ALLOWED_BACKENDS"
            )
        jobs = _job_settings()
        stream = StreamSettings(
            chunk_seconds=_float("STREAM_CHUNK_SECONDS", 15.0),
            partial_interval=_float("STREAM_PARTIAL_INTERVAL_SECONDS", 1.0),
            min_silence=_float("STREAM_MIN_SILENCE_SECONDS", 0.5),
            max_backlog_seconds=_float("STREAM_MAX_BACKLOG_SECONDS", 30.0),
            behind_seconds=_float("STREAM_BEHIND_SECONDS", 3.0),
            idle_seconds=_float("STREAM_IDLE_SECONDS", 30.0),
            metering_seconds=_float("STREAM_METERING_SECONDS", 5.0),
            max_sessions=_int("STREAM_MAX_SESSIONS", 32),
            max_sessions_per_tenant=_int("STREAM_MAX_SESSIONS_PER_TENANT", 8),
            context=_flag("STREAM_CONTEXT", "false"),
            speculative_finals=_flag("STREAM_SPECULATIVE_FINALS", "true"),
            window_seconds=_float("STREAM_WINDOW_SECONDS", 10.0),
        )
        if not (
            2.0 <= stream.chunk_seconds <= 30.0
            and stream.partial_interval > 0
            and stream.min_silence > 0
            and stream.max_backlog_seconds >= 1
            and stream.behind_seconds > 0
            and stream.idle_seconds > 0
            and stream.metering_seconds > 0
            and stream.max_sessions >= 1
            and stream.max_sessions_per_tenant >= 1
            and 5.0 <= stream.window_seconds <= 30.0
        ):
            raise ConfigurationError(
                "SCAIECHO_STREAM_*: chunk 2-30 s, window 5-30 s, backlog >= 1 s, and every other "
                "value must be positive"
            )
        triton = _nodes(_env("NODES", ""))
        in_process = _env("INPROCESS_NODE", "auto").lower()
        if in_process not in {"auto", "true", "false", "1", "0"}:
            raise ConfigurationError("SCAIECHO_INPROCESS_NODE must be auto, true or false")
        if in_process in {"false", "0"} and not triton:
            raise ConfigurationError(
                "SCAIECHO_INPROCESS_NODE=false needs SCAIECHO_NODES: Backend A would have no node"
            )
        for node_id, url in triton:
            if "://" in url and not url.startswith("grpc://"):
                raise ConfigurationError(
                    f"node {node_id}: use grpc://host:port (Triton's gRPC port), not {url!r}"
                )
        nodes = NodeSettings(
            triton=triton,
            in_process=in_process in {"true", "1"} or (in_process == "auto" and not triton),
            triton_model=_env("TRITON_MODEL", "").strip() or None,
            poll_seconds=_float("NODE_POLL_SECONDS", 2.0),
            timeout_seconds=_float("NODE_TIMEOUT_SECONDS", 120.0),
        )
        if nodes.poll_seconds <= 0 or nodes.timeout_seconds <= 0:
            raise ConfigurationError(
                "SCAIECHO_NODE_POLL_SECONDS and SCAIECHO_NODE_TIMEOUT_SECONDS must be > 0"
            )
        speakers = SpeakerSettings(
            max_upload_bytes=_int("SPEAKER_MAX_UPLOAD_BYTES", 25 * _MIB),
            max_recording_seconds=_float("SPEAKER_MAX_RECORDING_SECONDS", 300.0),
            reconcile_seconds=_float("SPEAKER_RECONCILE_SECONDS", 10.0),
        )
        if (
            speakers.max_upload_bytes < 1
            or speakers.max_recording_seconds <= 0
            or speakers.reconcile_seconds <= 0
        ):
            raise ConfigurationError("SCAIECHO_SPEAKER_* values must be > 0")
        return cls(
            mcp=McpSettings.from_env(),
            webhooks=WebhookSettings.from_env(),
            nodes=nodes,
            speakers=speakers,
            speaker_engine=SpeakerEngineSettings.from_env(),
            stream=stream,
            jobs=jobs,
            inline_max_bytes=_int("INLINE_MAX_BYTES", 5 * _MIB),
            inline_max_seconds=_float("INLINE_MAX_SECONDS", 1800.0),
            default_allowed_backends=allowed,
            default_backend=default_backend,
            stt=stt,
            relays=RelayDirectorySettings.from_env(),
            admission=_admission(),
            upload=_upload(),
            webrtc=_webrtc(),
        )


def _job_settings() -> JobSettings:
    """SCAIECHO_JOB_* (and the upload cap), validated."""
    jobs = JobSettings(
        max_upload_bytes=_int("MAX_UPLOAD_BYTES", 2 * 1024 * _MIB),
        window_seconds=_float("JOB_WINDOW_SECONDS", 120.0),
        slice_seconds=_float("JOB_SLICE_SECONDS", 30.0),
        short_slice_seconds=_float("JOB_SHORT_SLICE_SECONDS", 10.0),
        timeout_seconds=_int("JOB_TIMEOUT_SECONDS", 6 * 3600),
        heartbeat_seconds=_int("JOB_HEARTBEAT_SECONDS", 60),
        retries=_int("JOB_RETRIES", 3),
        retry_delay_seconds=_float("JOB_RETRY_DELAY_SECONDS", 5.0),
        keep_audio=_env("KEEP_JOB_AUDIO", "false").lower() in {"1", "true", "yes"},
        recovery_seconds=_float("JOB_RECOVERY_SECONDS", 60.0),
        orphan_min_age_seconds=_float("ORPHAN_MIN_AGE_SECONDS", 3600.0),
    )
    # Under 10 s a slice gives Whisper too little audio (5 s slices: WER 0.31, e2e); one at
    # least as long as the window is no slicing (a window shorter than 30 s stays valid).
    if jobs.window_seconds < 5 or jobs.heartbeat_seconds < 1 or not jobs.slice_seconds >= 10:
        raise ConfigurationError(
            "SCAIECHO_JOB_WINDOW_SECONDS must be >= 5, SCAIECHO_JOB_SLICE_SECONDS >= 10 and the "
            "heartbeat >= 1 s"
        )
    if not 10 <= jobs.short_slice_seconds <= jobs.slice_seconds:
        raise ConfigurationError(
            "SCAIECHO_JOB_SHORT_SLICE_SECONDS must be >= 10 and <= SCAIECHO_JOB_SLICE_SECONDS"
        )
    if (
        jobs.retries < 0
        or jobs.recovery_seconds <= 0
        or jobs.max_upload_bytes < 1
        or jobs.orphan_min_age_seconds < 1
    ):
        raise ConfigurationError(
            "SCAIECHO_JOB_RETRIES must be >= 0, SCAIECHO_JOB_RECOVERY_SECONDS and "
            "SCAIECHO_MAX_UPLOAD_BYTES > 0, SCAIECHO_ORPHAN_MIN_AGE_SECONDS >= 1"
        )
    return jobs
