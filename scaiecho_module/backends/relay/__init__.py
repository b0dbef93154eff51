"""Backend B: managed STT relays (Riva gRPC, OpenAI-compatible HTTP), one per deployment or tenant."""

from __future__ import annotations

from scaiecho_module.backends.relay.backend import RelayBackend
from scaiecho_module.backends.relay.settings import RelayDirectorySettings, RelaySettings


def build_relay(settings: RelaySettings) -> RelayBackend:
    if settings.kind == "riva":
        from scaiecho_module.backends.relay.riva import RivaClient

        return RelayBackend(settings, RivaClient(settings))
    from scaiecho_module.backends.relay.openai import OpenAIClient

    return RelayBackend(settings, OpenAIClient(settings))


class RelayDirectory:
    """Which relay serves a tenant: its own when configured, else the deployment's default."""

    def __init__(self, settings: RelayDirectorySettings) -> None:
        self.relays = {name: build_relay(relay) for name, relay in settings.relays.items()}
        self._default = settings.default
        self._tenants = dict(settings.tenants)

    def for_tenant(self, tenant_id: str | None) -> RelayBackend | None:
        name = self._tenants.get(tenant_id or "", self._default)
        return self.relays.get(name) if name else None

    async def close(self) -> None:
        for relay in self.relays.values():
            await relay.client.close()
