"""REST: /webhook-secret — read (made on first use) or rotate the tenant's webhook signing secret."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK

from scaiecho_module.host_contract import Principal
from scaiecho_module.permissions import PERM_ADMIN
from scaiecho_module.transport.openapi import errors
from scaiecho_module.webhooks.service import WebhookService


class WebhookSecretView(msgspec.Struct):
    secret: str
    signature_header: str = "ScaiEcho-Signature"
    algorithm: str = "HMAC-SHA256 over '<t>.<raw body>'"


class WebhookSecretEnvelope(msgspec.Struct):
    data: WebhookSecretView


class WebhookSecretController(Controller):
    path = "/webhook-secret"
    opt = {"permission": PERM_ADMIN}

    @get(responses=errors(401, 403), summary="The tenant's webhook signing secret")
    async def read_secret(
        self, principal: NamedDependency[Principal], webhooks: NamedDependency[WebhookService]
    ) -> WebhookSecretEnvelope:
        return WebhookSecretEnvelope(WebhookSecretView(await webhooks.secret(principal.tenant_id)))

    @post(status_code=HTTP_200_OK, responses=errors(401, 403), summary="Rotate the webhook signing secret")
    async def rotate_secret(
        self, principal: NamedDependency[Principal], webhooks: NamedDependency[WebhookService]
    ) -> WebhookSecretEnvelope:
        return WebhookSecretEnvelope(WebhookSecretView(await webhooks.rotate(principal)))
