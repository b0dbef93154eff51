"""The MCP transport: ScaiEcho's tools for agents, over streamable HTTP at /v1/modules/scaiecho/mcp."""

from scaiecho_module.transport.mcp.app import McpServices, McpTransport

__all__ = ["McpServices", "McpTransport"]
