"""The transports a caller can send a file through, as services record them."""

from enum import StrEnum


class Transport(StrEnum):
    """How a file reached a service; audited as ``details.transport`` on transcriptions and jobs."""

    REST = "rest"
    MCP = "mcp"
