"""NodeService: Backend A's node pool as an operator sees it (``GET /nodes``)."""

from __future__ import annotations

import msgspec

from scaiecho_module.backends.pool import NodePool


class NodeView(msgspec.Struct):
    node_id: str
    kind: str  # "triton" or "in-process"
    healthy: bool
    in_flight: int
    model: str
    last_error: str | None = None
    capabilities: list[str] = []  # what its ready models serve: "stt", "speaker"
    models: dict[str, bool] = {}  # each of our models on the node: ready or not


class NodeService:
    def __init__(self, pool: NodePool) -> None:
        self._pool = pool

    def views(self) -> list[NodeView]:
        """Every node, in the pool's order, as the node interface describes it (no class checks)."""
        return [
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
            for node in self._pool.nodes
        ]
