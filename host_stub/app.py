"""The stub host's Litestar app: loads every module found in the ``scaigrid.modules`` group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.exceptions import HTTPException
from litestar.plugins import InitPlugin

from host_stub.access_log import access_log_middleware
from host_stub.config import HostSettings
from host_stub.host import StubHost
from host_stub.protocol import header_limit_middleware
from host_stub.schema_ui import assets_router, openapi_config

logger = logging.getLogger("host_stub")
MODULE_GROUP = "scaigrid.modules"


def discover_modules(host: StubHost) -> list[InitPlugin]:
    plugins: list[InitPlugin] = []
    for entry in entry_points(group=MODULE_GROUP):
        factory = entry.load()
        plugins.append(factory(host))
        logger.info("loaded module %s from %s", entry.name, entry.value)
    return plugins


def _host_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "VALIDATION_ERROR"}
    code = codes.get(exc.status_code, f"HTTP_{exc.status_code}")
    error: dict[str, Any] = {"code": code, "message": str(exc.detail)}
    # A module's middleware may have given the request an id (scaiecho does under its prefix).
    if request_id := (request.scope.get("state") or {}).get("request_id"):
        error["request_id"] = str(request_id)
    # exc.headers carries the router's Allow on a 405.
    return Response({"error": error}, status_code=exc.status_code, headers=exc.headers)


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def start_metrics(settings: HostSettings) -> Any:
    """Prometheus metrics (the host's, every module's, the process's) on their own port.

    Not on the API port: the listener has no authentication, so it binds to loopback unless
    the operator says otherwise (SCAIGRID_METRICS_BIND_HOST) and keeps scrapes off the API.
    """
    if settings.metrics_port is None:
        return None
    from prometheus_client import start_http_server

    server, _ = start_http_server(settings.metrics_port, settings.metrics_bind_host)
    return server


async def sweep_partials_forever(host: StubHost, settings: HostSettings) -> None:
    """At startup and then periodically: uploads a killed process left half-written."""
    while True:
        try:
            removed = await host.blobs.sweep_partials(settings.blob_part_max_age_seconds)
            if removed:
                logger.info("removed %d stale partial upload(s) from the blob store", removed)
        except Exception:
            logger.exception("sweeping partial uploads failed; retrying later")
        await asyncio.sleep(settings.blob_sweep_seconds)


def create_app(settings: HostSettings | None = None) -> Litestar:
    settings = settings or HostSettings.from_env()
    settings.blob_dir.mkdir(parents=True, exist_ok=True)
    host = StubHost.from_settings(settings)

    @asynccontextmanager
    async def host_lifespan(_: Litestar) -> AsyncIterator[None]:
        metrics = start_metrics(settings)
        sweeper = asyncio.create_task(sweep_partials_forever(host, settings))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if metrics is not None:
                metrics.shutdown()
            await host.close()

    app = Litestar(
        route_handlers=[healthz, assets_router()],
        openapi_config=openapi_config(),
        plugins=discover_modules(host),
        lifespan=[host_lifespan],
        middleware=[access_log_middleware, header_limit_middleware],
        exception_handlers={HTTPException: _host_error},
        # The host configures logging itself (with secret redaction on every handler); Litestar's
        # default config would install handlers of its own that bypass it.
        logging_config=None,
        debug=False,
    )
    app.state["host"] = host
    return app
