"""Host configuration from ``SCAIGRID_*`` environment variables (docs/configuration.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _port(raw: str, name: str = "SCAIGRID_PORT") -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name} must be a port number, got {raw!r}")
    return int(raw)


def _positive(name: str, default: str) -> int:
    raw = os.environ.get(name, default)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
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
    queue_url: str | None = None
    worker_concurrency: int = 1
    worker_sweep_seconds: int = 30
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    metrics_port: int | None = None
    metrics_bind_host: str = "127.0.0.1"
    header_timeout_seconds: int = 10
    blob_part_max_age_seconds: int = 3600
    blob_sweep_seconds: int = 600
    ws_ping_seconds: int = 20

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
            queue_url=os.environ.get("SCAIGRID_QUEUE_URL") or None,
            worker_concurrency=_positive("SCAIGRID_WORKER_CONCURRENCY", "1"),
            worker_sweep_seconds=_positive("SCAIGRID_WORKER_SWEEP_SECONDS", "30"),
            s3_bucket=os.environ.get("SCAIGRID_S3_BUCKET") or None,
            s3_endpoint_url=os.environ.get("SCAIGRID_S3_ENDPOINT_URL") or None,
            s3_region=os.environ.get("SCAIGRID_S3_REGION", "us-east-1"),
            s3_access_key_id=os.environ.get("SCAIGRID_S3_ACCESS_KEY_ID") or None,
            s3_secret_access_key=os.environ.get("SCAIGRID_S3_SECRET_ACCESS_KEY") or None,
            metrics_port=_port(os.environ["SCAIGRID_METRICS_PORT"], "SCAIGRID_METRICS_PORT")
            if os.environ.get("SCAIGRID_METRICS_PORT")
            else None,
            metrics_bind_host=os.environ.get("SCAIGRID_METRICS_BIND_HOST", "127.0.0.1"),
            header_timeout_seconds=_positive("SCAIGRID_HEADER_TIMEOUT_SECONDS", "10"),
            blob_part_max_age_seconds=_positive("SCAIGRID_BLOB_PART_MAX_AGE_SECONDS", "3600"),
            blob_sweep_seconds=_positive("SCAIGRID_BLOB_SWEEP_SECONDS", "600"),
            ws_ping_seconds=_positive("SCAIGRID_WS_PING_SECONDS", "20"),
        )
