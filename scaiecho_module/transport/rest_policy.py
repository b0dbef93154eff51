"""REST: GET/PUT /tenant-policy (scaiecho:admin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put

from scaiecho_module.host_contract import Principal
from scaiecho_module.permissions import PERM_ADMIN
from scaiecho_module.policy.schemas import TenantPolicyUpdate, TenantPolicyView
from scaiecho_module.runtime import ModuleRuntime, runtime_of


async def _view(runtime: ModuleRuntime, tenant_id: str) -> TenantPolicyView:
    row = await runtime.policies.stored(tenant_id)
    available = runtime.backends.availability(tenant_id)
    if row is None:
        default = runtime.policies.default
        return TenantPolicyView(
            tenant_id=tenant_id,
            allowed_backends=sorted(default.allowed_backends),
            default_backend=default.default_backend,
            source="default",
            backends_available=available,
        )
    return TenantPolicyView(
        tenant_id=tenant_id,
        allowed_backends=list(row.allowed_backends),
        default_backend=row.default_backend,
        source="tenant",
        backends_available=available,
        updated_at=row.updated_at,
    )


class TenantPolicyController(Controller):
    path = "/tenant-policy"
    opt = {"permission": PERM_ADMIN}

    @get()
    async def read_policy(self, request: Request[Any, Any, Any], principal: Principal) -> dict[str, Any]:
        return {"data": await _view(runtime_of(request.app), principal.tenant_id)}

    @put()
    async def update_policy(
        self, request: Request[Any, Any, Any], principal: Principal, data: TenantPolicyUpdate
    ) -> dict[str, Any]:
        runtime = runtime_of(request.app)
        await runtime.policies.update(principal, data)
        return {"data": await _view(runtime, principal.tenant_id)}
