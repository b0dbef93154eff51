"""The MCP server mounted in Litestar: one ASGI mount, the SDK's streamable HTTP app behind it.

Stateless (a fresh MCP session per request, JSON answers): every request is authenticated on
its own by the router's guard, so a session id is never a credential, and any API process can
serve any request, as with REST.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import Receive, Scope, Send
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from scaiecho_module.jobs.service import JobService
from scaiecho_module.speakers.service import SpeakerService
from scaiecho_module.transcribe.service import TranscribeService
from scaiecho_module.transport.mcp.tools import McpLimits, register_tools

MCP_PATH = "/mcp"
_INSTRUCTIONS = (
    "ScaiEcho transcribes speech to text. Call transcribe with the audio file base64-encoded; "
    "long audio comes back as a job_id: poll get_transcription_job until it is completed. "
    "list_speakers shows the tenant's enrolled speakers (needs scaiecho:enroll)."
)
# JSON-RPC framing and the other arguments around the base64 text.
_BODY_OVERHEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class McpServices:
    transcribe: TranscribeService
    jobs: JobService
    speakers: SpeakerService


class McpTransport:
    """The mount handler for the router, and the lifespan part that runs the SDK's session manager."""

    def __init__(self, settings: McpLimits) -> None:
        self._settings = settings
        self._app: ASGIApp | None = None
        self._services: McpServices | None = None

    def _running(self) -> McpServices:
        if self._services is None:
            raise RuntimeError("the MCP transport is not serving (the module's lifespan did not start it)")
        return self._services

    def handler(self) -> ASGIRouteHandler:
        transport = self

        @asgi(MCP_PATH, is_mount=True, copy_scope=True, opt={"permission": None})
        async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            # The router's guard has authenticated the caller (401 with a challenge otherwise);
            # each tool checks its own permission.
            if transport._app is None:
                raise RuntimeError("the MCP transport is not serving")
            await transport._app(scope, receive, send)  # type: ignore[arg-type]

        return mcp_endpoint

    def build_server(self) -> MCPServer:
        server = MCPServer("scaiecho", title="ScaiEcho speech-to-text", instructions=_INSTRUCTIONS)
        register_tools(
            server,
            self._settings,
            lambda: self._running().transcribe,
            lambda: self._running().jobs,
            lambda: self._running().speakers,
        )
        return server

    @asynccontextmanager
    async def serve(self, services: McpServices) -> AsyncIterator[None]:
        """Serve while the context is open. A session manager runs once, so each start builds anew."""
        server = self.build_server()
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(self._settings.allowed_hosts),
            allowed_origins=list(self._settings.allowed_origins),
        )
        app = server.streamable_http_app(
            streamable_http_path="/",
            stateless_http=True,
            json_response=True,
            transport_security=security,
            max_request_body_size=self._settings.max_text_chars + _BODY_OVERHEAD,
        )
        async with server.session_manager.run():
            self._app, self._services = app, services
            try:
                yield
            finally:
                self._app = self._services = None
