"""Backend B's relays, from ``SCAIECHO_RELAY*`` environment variables (docs/configuration.md).

    SCAIECHO_RELAYS=cloud,eu                  named relays (letters, digits, _)
    SCAIECHO_RELAY_CLOUD_KIND=riva            riva | openai
    SCAIECHO_RELAY_CLOUD_URL=grpc.nvcf.nvidia.com:443
    SCAIECHO_RELAY_CLOUD_TLS=true
    SCAIECHO_RELAY_CLOUD_API_KEY=...          or SCAIECHO_RELAY_CLOUD_API_KEY_FILE=/run/secrets/...
    SCAIECHO_RELAY_CLOUD_FUNCTION_ID=...
    SCAIECHO_RELAY_DEFAULT=cloud              the deployment's relay (default: the first listed)
    SCAIECHO_TENANT_RELAYS=<tenant id>=eu,... tenants on another relay

Credentials are held as ``Secret``: its ``repr`` and ``str`` never show the value, so a
settings object that reaches a log line or a traceback leaks nothing.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from scaiecho_module.errors import ConfigurationError

KINDS = ("riva", "openai")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class RelaySettings:
    name: str
    kind: str
    url: str
    tls: bool = False
    api_key: Secret | None = None
    function_id: str | None = None
    # Extra request metadata (Riva) or headers (OpenAI-compatible); values may be credentials.
    metadata: tuple[tuple[str, Secret], ...] = ()
    model: str | None = None
    language: str = "en-US"
    timeout_seconds: float = 30.0
    retries: int = 2
    cooldown_seconds: float = 10.0
    piece_seconds: float = 60.0
    # Riva word boosting: the score given to a request's ``hotwords`` (Riva's examples use 20;
    # negative suppresses a word). The OpenAI relay has no boosting and ignores hotwords.
    boost_score: float = 20.0

    @property
    def connect_seconds(self) -> float:
        """How long a new live session waits to reach the relay before it falls back."""
        return min(5.0, self.timeout_seconds)


@dataclass(frozen=True, slots=True)
class RelayDirectorySettings:
    relays: dict[str, RelaySettings] = field(default_factory=dict)
    default: str | None = None
    tenants: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> RelayDirectorySettings:
        names = [n.strip() for n in os.environ.get("SCAIECHO_RELAYS", "").split(",") if n.strip()]
        relays = {}
        for name in names:
            if not _NAME.match(name):
                raise ConfigurationError(f"SCAIECHO_RELAYS names are letters, digits and _, got {name!r}")
            relays[name.lower()] = _relay(name)
        if len(relays) != len(names):
            raise ConfigurationError("SCAIECHO_RELAYS has a name twice")
        default = os.environ.get("SCAIECHO_RELAY_DEFAULT", "").strip().lower() or (
            next(iter(relays)) if relays else None
        )
        if default is not None and default not in relays:
            raise ConfigurationError(f"SCAIECHO_RELAY_DEFAULT names no relay in SCAIECHO_RELAYS: {default!r}")
        tenants = {}
        for item in filter(
            None, (p.strip() for p in os.environ.get("SCAIECHO_TENANT_RELAYS", "").split(","))
        ):
            tenant, sep, relay = item.partition("=")
            relay = relay.strip().lower()
            if not sep or not tenant.strip() or relay not in relays:
                raise ConfigurationError(
                    f"SCAIECHO_TENANT_RELAYS entries are <tenant id>=<relay name>, got {item!r}"
                )
            tenants[tenant.strip()] = relay
        return cls(relays, default, tenants)


def _relay(name: str) -> RelaySettings:
    prefix = f"SCAIECHO_RELAY_{name.upper()}_"

    def get(key: str, default: str = "") -> str:
        return os.environ.get(prefix + key, default).strip()

    kind = get("KIND").lower()
    if kind not in KINDS:
        raise ConfigurationError(f"{prefix}KIND must be riva or openai, got {kind!r}")
    url = get("URL")
    if not url:
        raise ConfigurationError(f"{prefix}URL is required")
    if kind == "openai" and not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{prefix}URL of an openai relay is http(s)://host[:port][/prefix]")
    if kind == "riva" and "://" in url:
        raise ConfigurationError(f"{prefix}URL of a riva relay is host:port (TLS is {prefix}TLS)")
    key = get("API_KEY")
    if not key and get("API_KEY_FILE"):
        try:
            key = Path(get("API_KEY_FILE")).read_text().strip()
        except OSError as exc:
            raise ConfigurationError(f"{prefix}API_KEY_FILE cannot be read: {exc.strerror}") from None
    metadata = []
    for item in filter(None, (p.strip() for p in get("METADATA").split(";"))):
        header, sep, value = item.partition("=")
        if not sep or not header.strip():
            raise ConfigurationError(f"{prefix}METADATA entries are name=value separated by ';'")
        metadata.append((header.strip().lower(), Secret(value.strip())))
    try:
        settings = RelaySettings(
            name=name.lower(),
            kind=kind,
            url=url.rstrip("/"),
            tls=get("TLS", "false").lower() in {"1", "true", "yes"},
            api_key=Secret(key) if key else None,
            function_id=get("FUNCTION_ID") or None,
            metadata=tuple(metadata),
            model=get("MODEL") or ("whisper-1" if kind == "openai" else None),
            language=get("LANGUAGE", "en-US"),
            timeout_seconds=_finite(get("TIMEOUT_SECONDS", "30")),
            retries=int(get("RETRIES", "2")),
            cooldown_seconds=_finite(get("COOLDOWN_SECONDS", "10")),
            piece_seconds=_finite(get("PIECE_SECONDS", "60" if kind == "riva" else "600")),
            boost_score=_finite(get("BOOST_SCORE", "20")),
        )
    except ValueError:
        numbers = "TIMEOUT_SECONDS, RETRIES, COOLDOWN_SECONDS, PIECE_SECONDS and BOOST_SCORE"
        raise ConfigurationError(f"{prefix}{numbers} are numbers") from None
    if (
        settings.timeout_seconds <= 0
        or settings.retries < 0
        or settings.cooldown_seconds < 0
        or not 10 <= settings.piece_seconds <= 1500
    ):
        raise ConfigurationError(
            f"{prefix}TIMEOUT_SECONDS > 0, RETRIES >= 0, COOLDOWN_SECONDS >= 0, PIECE_SECONDS 10 to 1500"
        )
    return settings


def _finite(raw: str) -> float:
    """A float that is neither nan nor inf (both pass the range checks, NaN compares false)."""
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value
