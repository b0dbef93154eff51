"""Webhook pieces without a server: URL shape, the address policy, the signature, settings."""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
from pathlib import Path

import pytest

from scaiecho_module.config import WebhookSettings
from scaiecho_module.errors import ConfigurationError, ScaiEchoError
from scaiecho_module.webhooks.addresses import AddressPolicy, AddressRefusedError, check_auth, parse_url
from scaiecho_module.webhooks.signing import new_secret, signature

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "verify_webhook.py"


def _example() -> object:
    spec = importlib.util.spec_from_file_location("verify_webhook", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_urls_are_http_or_https_with_a_host_and_no_credentials() -> None:
    target = parse_url("https://hooks.example.com:8443/scaiecho?token=abc")
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 8443)
    assert parse_url("http://[2606:4700::1111]/x").host == "2606:4700::1111"
    assert parse_url("HTTP://example.com").port == 80
    for bad in (
        "ftp://example.com/",
        "file:///etc/passwd",
        "https://user:pw@example.com/",
        "https://user@example.com/",
        "https:///path",
        "https://example.com/a b",
        "https://example.com/#frag",
        "https://example.com:99999/",
        "https://example.com/" + "a" * 2048,
        "example.com/hook",
    ):
        with pytest.raises(ScaiEchoError) as refused:
            parse_url(bad)
        assert refused.value.details == {"field": "webhook_url"}, bad


def test_auth_is_bounded_and_single_line() -> None:
    assert check_auth("Bearer abc") == "Bearer abc"
    for bad in ("Bearer a\r\nX-Injected: 1", "x" * 1025):
        with pytest.raises(ScaiEchoError) as refused:
            check_auth(bad)
        assert refused.value.details == {"field": "webhook_auth"}


PRIVATE = [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
]  # fmt: skip


@pytest.mark.parametrize("address", PRIVATE)
def test_private_loopback_and_link_local_are_refused_by_default(address: str) -> None:
    assert not AddressPolicy().allows(ipaddress.ip_address(address))
    assert AddressPolicy(allow_private=True).allows(ipaddress.ip_address(address))


def test_public_allowed_and_unspecified_or_multicast_never() -> None:
    default, permissive = AddressPolicy(), AddressPolicy(allow_private=True)
    for public in ("8.8.8.8", "2606:4700::1111"):
        assert default.allows(ipaddress.ip_address(public))
    for never in ("0.0.0.0", "::", "224.0.0.1", "ff02::1"):
        assert not permissive.allows(ipaddress.ip_address(never))


def test_an_allow_list_opens_only_its_networks() -> None:
    policy = AddressPolicy.of(False, ("127.0.0.1/32", "10.1.0.0/16"))
    allowed = ("127.0.0.1", "10.1.200.3", "::ffff:127.0.0.1")
    assert all(policy.allows(ipaddress.ip_address(a)) for a in allowed)
    assert not any(policy.allows(ipaddress.ip_address(a)) for a in ("127.0.0.2", "10.2.0.1", "::1"))


def test_resolve_checks_literals_and_names() -> None:
    policy = AddressPolicy.of(False, ("127.0.0.1/32",))
    assert str(asyncio.run(policy.resolve(parse_url("http://127.0.0.1:9/")))) == "127.0.0.1"
    for refused in ("http://[::1]/", "http://10.0.0.1/", "http://no-such-host.invalid/"):
        with pytest.raises(AddressRefusedError):
            asyncio.run(policy.resolve(parse_url(refused)))


def test_the_documented_verifier_accepts_our_signature_and_nothing_else() -> None:
    verify = _example().verify  # type: ignore[attr-defined]
    secret, body = new_secret(), b'{"id":"d","type":"transcription_job.completed","data":{}}'
    assert secret.startswith("whsec_") and secret != new_secret()
    header = signature(secret, 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    assert verify(secret, header, body, now=1_700_000_100)
    assert not verify(secret, header, body, now=1_700_000_301)  # replayed too late
    assert not verify(secret, header, body + b" ", now=1_700_000_000)
    assert not verify(new_secret(), header, body, now=1_700_000_000)
    assert not verify(secret, "v1=abc", body, now=1_700_000_000)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32, 10.0.0.0/8")
    monkeypatch.setenv("SCAIECHO_WEBHOOK_MAX_ATTEMPTS", "3")
    settings = WebhookSettings.from_env()
    assert settings.allowed_networks == ("127.0.0.1/32", "10.0.0.0/8") and settings.max_attempts == 3
    assert WebhookSettings().max_attempts == 6 and not WebhookSettings().allow_private
    for name, value in (
        ("WEBHOOK_ALLOWED_NETWORKS", "not-a-network"),
        ("WEBHOOK_MAX_ATTEMPTS", "0"),
        ("WEBHOOK_ALLOW_PRIVATE", "maybe"),
        ("WEBHOOK_RETRY_BASE_SECONDS", "-1"),
    ):
        with monkeypatch.context() as patch:
            patch.setenv(f"SCAIECHO_{name}", value)
            with pytest.raises(ConfigurationError):
                WebhookSettings.from_env()


def test_the_api_docs_show_the_verifier_as_it_is() -> None:
    api = (EXAMPLE.parents[1] / "api.md").read_text()
    assert EXAMPLE.read_text() in api
