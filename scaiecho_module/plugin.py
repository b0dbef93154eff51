"""The entry point: ``scaigrid.modules = scaiecho -> scaiecho_module.plugin:create_module``.

A host calls ``create_module(host)`` and adds the returned plugin to its Litestar app. On app
init the plugin declares permissions, metering units and task functions to the host, mounts
the routes under /v1/modules/scaiecho and adds a lifespan that loads the engine once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPlugin

from scaiecho_module import API_PREFIX, MODULE_ID, metrics
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.host_contract import Host
from scaiecho_module.metering import METERING_UNITS
from scaiecho_module.permissions import PERMISSIONS
from scaiecho_module.runtime import (
    STATE_KEY,
    ModuleRuntime,
    build_runtime,
    load_engine,
    load_speaker_engine,
)
from scaiecho_module.tasks import module_tasks
from scaiecho_module.transport.auth import Authenticator, guard, provide_principal
from scaiecho_module.transport.cors import cors_hook
from scaiecho_module.transport.errors import EXCEPTION_HANDLERS
from scaiecho_module.transport.live_page import live_page
from scaiecho_module.transport.mcp import McpServices, McpTransport
from scaiecho_module.transport.openapi import COMPONENTS, SECURITY
from scaiecho_module.transport.request_id import add_request_id_header, assign_on_exception
from scaiecho_module.transport.rest_jobs import TranscriptionJobController
from scaiecho_module.transport.rest_nodes import NodesController
from scaiecho_module.transport.rest_openai import OpenAITranscriptionController
from scaiecho_module.transport.rest_policy import TenantPolicyController
from scaiecho_module.transport.rest_speakers import SpeakerController
from scaiecho_module.transport.rest_transcribe import FORM_OVERHEAD, TranscribeController
from scaiecho_module.transport.rest_webhooks import WebhookSecretController
from scaiecho_module.transport.rest_webrtc import (
    StreamTokenController,
    WebRtcSessionController,
    webrtc_control,
    webrtc_ice_servers,
)
from scaiecho_module.transport.stream_tokens import StreamTokens
from scaiecho_module.transport.upload_form import UploadLimits
from scaiecho_module.transport.webrtc import WebRtcSessions
from scaiecho_module.transport.ws_stream import stream_transcribe

logger = logging.getLogger("scaiecho")


class ScaiEchoPlugin(InitPlugin):
    def __init__(self, host: Host, settings: ScaiEchoSettings | None = None) -> None:
        self.host = host
        self.settings = settings or ScaiEchoSettings.from_env()
        self._runtime: ModuleRuntime | None = None
        self.mcp = McpTransport(self.settings.mcp)
        webrtc = self.settings.webrtc
        tokens = StreamTokens(webrtc.token_secret, webrtc.token_seconds, webrtc.token_max_seconds)
        self._auth = Authenticator(host.identity, tokens, webrtc.cors_origins)
        self._webrtc: WebRtcSessions | None = None
        self._upload_limits = upload_limits(self.settings)

    def runtime(self) -> ModuleRuntime:
        if self._runtime is None:
            raise RuntimeError("the scaiecho module has not started (its lifespan did not run)")
        return self._runtime

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        self.host.identity.register_permissions(MODULE_ID, PERMISSIONS)
        for unit in METERING_UNITS:
            self.host.accounting.register_unit(MODULE_ID, unit)
        for name, (function, options) in module_tasks(self.settings, self.runtime).items():
            self.host.queue.register_task(name, function, options)
        app_config.route_handlers.append(self.router())
        # App-level hooks, so the host's own 404/405 under the prefix carry the id as well.
        app_config.after_exception.append(assign_on_exception)
        app_config.before_send.append(add_request_id_header)
        if self.settings.webrtc.cors_origins:
            app_config.before_send.append(cors_hook(self.settings.webrtc.cors_origins))
        if app_config.openapi_config is not None:  # the host documents its API: add our key scheme
            config = app_config.openapi_config
            existing = config.components if isinstance(config.components, list) else [config.components]
            config.components = [*existing, COMPONENTS]
        app_config.lifespan.append(self.lifespan)
        return app_config

    def router(self) -> Router:
        return Router(
            path=API_PREFIX,
            route_handlers=[
                TranscribeController,
                TranscriptionJobController,
                TenantPolicyController,
                NodesController,
                OpenAITranscriptionController,
                SpeakerController,
                WebhookSecretController,
                stream_transcribe,
                StreamTokenController,
                WebRtcSessionController,
                webrtc_control,
                webrtc_ice_servers,
                live_page,
                self.mcp.handler(),
            ],
            guards=[guard(self._auth)],
            security=SECURITY,
            dependencies=self.dependencies(),
            exception_handlers=EXCEPTION_HANDLERS,
            request_max_body_size=max(self.settings.inline_max_bytes, self.settings.jobs.max_upload_bytes)
            + FORM_OVERHEAD,
            include_in_schema=True,
        )

    def dependencies(self) -> dict[str, Provide]:
        """What handlers are given by name: the caller, and the services of the running module.

        The services exist once the lifespan has built the runtime; each provider reads it
        per request, so a handler never looks anything up in the app's state itself.
        """
        return {
            "principal": Provide(provide_principal),
            "auth": Provide(lambda: self._auth, use_cache=True, sync_to_thread=False),
            "transcriptions": Provide(lambda: self.runtime().transcribe, sync_to_thread=False),
            "jobs": Provide(lambda: self.runtime().jobs, sync_to_thread=False),
            "policies": Provide(lambda: self.runtime().policies, sync_to_thread=False),
            "nodes": Provide(lambda: self.runtime().nodes, sync_to_thread=False),
            "streams": Provide(lambda: self.runtime().streams, sync_to_thread=False),
            # A lambda, not the bound method: Litestar deep-copies providers, and a method would
            # copy the plugin (and the host, with modules inside) along with it.
            "webrtc": Provide(lambda: self.webrtc_sessions(), sync_to_thread=False),  # noqa: PLW0108
            "speakers": Provide(lambda: self.runtime().speakers, sync_to_thread=False),
            "erasures": Provide(lambda: self.runtime().erasures, sync_to_thread=False),
            "webhooks": Provide(lambda: self.runtime().webhooks, sync_to_thread=False),
            "live_idle_seconds": Provide(lambda: self.settings.stream.idle_seconds, sync_to_thread=False),
            "upload_limits": Provide(lambda: self._upload_limits, use_cache=True, sync_to_thread=False),
        }

    def webrtc_sessions(self) -> WebRtcSessions:
        if self._webrtc is None:
            self._webrtc = WebRtcSessions(self.runtime().streams, self.settings.webrtc)
        return self._webrtc

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        engine = speaker = None
        if self.settings.nodes.in_process:
            engine = await anyio.to_thread.run_sync(load_engine, self.settings)
            logger.info("scaiecho: loaded %s", engine.model_name)
            speaker = await anyio.to_thread.run_sync(load_speaker_engine, self.settings)
            if speaker is not None:
                logger.info("scaiecho: loaded the speaker engine (%s)", speaker.model_name)
        runtime = self._runtime = app.state[STATE_KEY] = build_runtime(
            self.host, self.settings, engine, speaker
        )
        await runtime.node_pool.start(self.settings.nodes.poll_seconds)
        unregister_metrics = metrics.register_pool(lambda: runtime.node_pool.nodes)
        loops = [
            asyncio.create_task(self._recover_forever(runtime)),
            asyncio.create_task(self._reconcile_speakers_forever(runtime)),
            asyncio.create_task(self._deliver_webhooks_forever(runtime)),
        ]
        try:
            async with self.mcp.serve(McpServices(runtime.transcribe, runtime.jobs, runtime.speakers)):
                yield
        finally:
            if self._webrtc is not None:
                await self._webrtc.close_all()
                self._webrtc = None
            unregister_metrics()
            for loop in loops:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            await runtime.webhooks.close()
            await runtime.node_pool.close()
            await runtime.warm_registry.close()
            await runtime.relays.close()
            self._runtime = None
            del app.state[STATE_KEY]

    async def _recover_forever(self, runtime: ModuleRuntime) -> None:
        """At startup and then periodically: enqueue unfinished jobs (safe: enqueue is idempotent)
        and delete job audio that no job row names."""
        while True:
            try:
                count = await runtime.jobs.recover()
                if count:
                    logger.info("scaiecho: %d unfinished job(s) handed to the queue", count)
                orphans = await runtime.jobs.sweep_orphans(self.settings.jobs.orphan_min_age_seconds)
                if orphans:
                    logger.info("scaiecho: deleted %d job audio blob(s) no job names", orphans)
            except Exception:
                logger.exception("scaiecho: job recovery or the orphan sweep failed; retrying later")
            await asyncio.sleep(self.settings.jobs.recovery_seconds)

    async def _deliver_webhooks_forever(self, runtime: ModuleRuntime) -> None:
        """Send due webhooks: retries, and first attempts whose process died (every API and
        worker process sweeps; a delivery's lease keeps one sender at a time)."""
        while True:
            try:
                await runtime.webhooks.deliver_due()
            except Exception:
                logger.exception("scaiecho: the webhook sweep failed; retrying later")
            await asyncio.sleep(self.settings.webhooks.poll_seconds)

    async def _reconcile_speakers_forever(self, runtime: ModuleRuntime) -> None:
        """Keep speaker nodes holding exactly the live library (restarts, joins, erasures)."""
        while True:
            try:
                await runtime.reconciler.run_once()
            except Exception:
                logger.exception("scaiecho: reconciling speaker nodes failed; retrying later")
            await asyncio.sleep(self.settings.speakers.reconcile_seconds)


def upload_limits(settings: ScaiEchoSettings) -> UploadLimits:
    """How POST /transcribe reads its body (transport/upload_form.py), from the settings."""
    upload = settings.upload
    return UploadLimits(
        body_bytes=max(settings.inline_max_bytes, settings.jobs.max_upload_bytes) + FORM_OVERHEAD,
        text_bytes=upload.text_field_bytes,
        idle_seconds=upload.idle_seconds,
        min_bytes_per_second=upload.min_bytes_per_second,
        grace_seconds=upload.grace_seconds,
    )


def create_module(host: Host) -> ScaiEchoPlugin:
    return ScaiEchoPlugin(host)
