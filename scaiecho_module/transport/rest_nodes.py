"""REST: GET /nodes — Backend A's node pool as the resolver sees it (scaiecho:admin)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get

from scaiecho_module.backends.triton_node import TritonNode
from scaiecho_module.metering import PERM_ADMIN
from scaiecho_module.runtime import runtime_of


class NodeView(msgspec.Struct):
    node_id: str
    kind: str  # "triton" or "in-process"
    healthy: bool
    in_flight: int
    model: str
    last_error: str | None = None


class NodesController(Controller):
    path = "/nodes"
    opt = {"permission": PERM_ADMIN}

    @get()
    async def list_nodes(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        nodes = runtime_of(request.app).self_hosted.nodes
        return {
            "data": [
                NodeView(
                    node_id=node.node_id,
                    kind="triton" if isinstance(node, TritonNode) else "in-process",
                    healthy=node.healthy,
                    in_flight=node.in_flight,
                    model=node.model,
                    last_error=node.last_error if isinstance(node, TritonNode) else None,
                )
                for node in nodes
            ]
        }
