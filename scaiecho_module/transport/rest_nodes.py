"""REST: GET /nodes — Backend A's node pool as the resolver sees it (scaiecho:admin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency

from scaiecho_module.nodes.service import NodeService
from scaiecho_module.permissions import PERM_ADMIN
from scaiecho_module.transport.openapi import errors


class NodesController(Controller):
    path = "/nodes"
    opt = {"permission": PERM_ADMIN}

    @get(responses=errors(401, 403))
    async def list_nodes(self, nodes: NamedDependency[NodeService]) -> dict[str, Any]:
        return {"data": nodes.views()}
