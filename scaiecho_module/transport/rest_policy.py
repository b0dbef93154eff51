"""REST: GET/PUT /tenant-policy (scaiecho:admin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, put
from litestar.di import NamedDependency

from scaiecho_module.host_contract import Principal
from scaiecho_module.permissions import PERM_ADMIN
from scaiecho_module.policy.schemas import TenantPolicyUpdate
from scaiecho_module.policy.service import PolicyService


class TenantPolicyController(Controller):
    path = "/tenant-policy"
    opt = {"permission": PERM_ADMIN}

    @get()
    async def read_policy(
        self, principal: NamedDependency[Principal], policies: NamedDependency[PolicyService]
    ) -> dict[str, Any]:
        return {"data": await policies.view(principal.tenant_id)}

    @put()
    async def update_policy(
        self,
        principal: NamedDependency[Principal],
        policies: NamedDependency[PolicyService],
        data: TenantPolicyUpdate,
    ) -> dict[str, Any]:
        await policies.update(principal, data)
        return {"data": await policies.view(principal.tenant_id)}
