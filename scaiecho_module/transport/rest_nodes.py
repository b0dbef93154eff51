"""REST: GET /nodes — Backend A's node pool as the resolver sees it (scaiecho:admin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency

from scaiecho_module.nodes.service import NodeService
from scaiecho_module.permissions import PERM_ADMIN


class NodesController(Controller):
    path = "/nodes"
    opt = {"permission": PERM_ADMIN}

    @get()
    async def list_nodes(self, nodes: NamedDependency[NodeService]) -> dict[str, Any]:
        return {"data": nodes.views()}
