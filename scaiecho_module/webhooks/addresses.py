"""Where a webhook may go: the URL's shape, and the addresses its host resolves to.

Checked twice: at submission (a refused URL is a VALIDATION_ERROR on ``webhook_url``), and at
every send, where the request then goes to the very address that passed, so a DNS answer
that changes in between (rebinding) cannot point a delivery at an internal service.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from scaiecho_module.errors import VALIDATION_ERROR, ScaiEchoError

MAX_URL_LENGTH = 2048
MAX_AUTH_LENGTH = 1024
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefusedError(Exception):
    """The host resolves to an address webhooks may not reach, or does not resolve."""


def invalid(field: str, message: str) -> ScaiEchoError:
    return ScaiEchoError(VALIDATION_ERROR, message, {"field": field})


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    scheme: str
    host: str  # without brackets for an IPv6 literal
    port: int


def parse_url(raw: str) -> WebhookTarget:
    """An absolute http(s) URL with a host, no credentials, at most MAX_URL_LENGTH long."""
    if len(raw) > MAX_URL_LENGTH:
        raise invalid("webhook_url", f"webhook_url is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in raw):
        raise invalid("webhook_url", "webhook_url must not contain spaces or control characters")
    try:
        parts: SplitResult = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise invalid("webhook_url", "webhook_url is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise invalid("webhook_url", "webhook_url must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise invalid("webhook_url", "webhook_url must not carry credentials; use webhook_auth")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise invalid("webhook_url", "webhook_url has no host")
    if parts.fragment:
        raise invalid("webhook_url", "webhook_url must not have a #fragment")
    return WebhookTarget(raw, scheme, host, port or (443 if scheme == "https" else 80))


def check_auth(raw: str) -> str:
    if len(raw) > MAX_AUTH_LENGTH:
        raise invalid("webhook_auth", f"webhook_auth is longer than {MAX_AUTH_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise invalid("webhook_auth", "webhook_auth must not contain control characters")
    return raw


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Public addresses only, unless the operator allows private ones or names networks."""

    allow_private: bool = False
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def of(cls, allow_private: bool, networks: tuple[str, ...]) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if any(address in network for network in self.networks):
            return True
        if address.is_unspecified or address.is_multicast:
            return False  # never a receiver, whatever the operator allows
        if self.allow_private:
            return True
        return address.is_global

    async def resolve(self, target: WebhookTarget) -> IPAddress:
        """The address to connect to; every address the host resolves to must be allowed (one
        bad record among good ones is refused too: a client may pick any of them)."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(target.host)
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    target.host, target.port, type=socket.SOCK_STREAM
                )
            except (OSError, UnicodeError):
                raise AddressRefusedError("the host does not resolve") from None
            found = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not found:
            raise AddressRefusedError("the host does not resolve")
        refused = [a for a in found if not self.allows(a)]
        if refused:
            raise AddressRefusedError(f"{refused[0]} is a private or reserved address")
        return found[0]
