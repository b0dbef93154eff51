"""Host configuration from ``SCAIGRID_*`` environment variables (docs/configuration.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"SCAIGRID_PORT must be a port number, got {raw!r}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class HostSettings:
    data_dir: Path
    database_url: str
    blob_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    log_level: str = "info"

    @classmethod
    def from_env(cls) -> HostSettings:
        data_dir = Path(os.environ.get("SCAIGRID_DATA_DIR", ".scaigrid")).resolve()
        return cls(
            data_dir=data_dir,
            database_url=os.environ.get(
                "SCAIGRID_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'scaigrid.db'}"
            ),
            blob_dir=Path(os.environ.get("SCAIGRID_BLOB_DIR", str(data_dir / "blobs"))),
            host=os.environ.get("SCAIGRID_BIND_HOST", "127.0.0.1"),
            port=_port(os.environ.get("SCAIGRID_PORT", "8080")),
            redis_url=os.environ.get("SCAIGRID_REDIS_URL") or None,
            log_level=os.environ.get("SCAIGRID_LOG_LEVEL", "info").lower(),
        )
