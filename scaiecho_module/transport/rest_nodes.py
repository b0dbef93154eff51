"""REST: GET /nodes — Backend A's node pool as the resolver sees it (scaiecho:admin)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get

from scaiecho_module.permissions import PERM_ADMIN
from scaiecho_module.runtime import runtime_of


class NodeView(msgspec.Struct):
    node_id: str
    kind: str  # "triton" or "in-process"
    healthy: bool
    in_flight: int
    model: str
    last_error: str | None = None
    capabilities: list[str] = []  # what its ready models serve: "stt", "speaker"
    models: dict[str, bool] = {}  # each of our models on the node: ready or not


class NodesController(Controller):
    path = "/nodes"
    opt = {"permission": PERM_ADMIN}

    @get()
    async def list_nodes(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        nodes = runtime_of(request.app).node_pool.nodes
        return {
            "data": [
                NodeView(
                    node_id=node.node_id,
                    kind=node.kind.value,
                    healthy=node.healthy,
                    in_flight=node.in_flight,
                    model=node.model,
                    last_error=node.last_error,
                    capabilities=sorted(capability.value for capability in node.capabilities()),
                    models=dict(node.readiness()),
                )
                for node in nodes
            ]
        }
