"""Stream tokens and the WebRTC settings: minting, scoping, tampering, expiry, parsing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time

import pytest

from scaiecho_module.config import ScaiEchoSettings, WebRtcSettings
from scaiecho_module.errors import ConfigurationError, ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.transport import webrtc_net
from scaiecho_module.transport.stream_tokens import StreamTokens, is_stream_token
from scaiecho_module.transport.webrtc import turn_credentials

ME = Principal("tenant-1", "user-1", frozenset({"scaiecho:transcribe", "scaiecho:diarize", "scaiecho:admin"}))


def test_a_token_carries_its_tenant_user_and_the_permissions_asked_for() -> None:
    tokens = StreamTokens("secret", 300, 3600)
    token, expires, granted = tokens.mint(ME, frozenset({"scaiecho:transcribe"}), None)
    assert is_stream_token(token) and expires == pytest.approx(time.time() + 300, abs=2)
    assert granted == {"scaiecho:transcribe"}
    assert tokens.verify(token) == Principal("tenant-1", "user-1", frozenset({"scaiecho:transcribe"}))


def test_a_token_cannot_grant_more_than_its_key_or_live_too_long() -> None:
    tokens = StreamTokens("secret", 300, 3600)
    weak = Principal("t", "u", frozenset({"scaiecho:transcribe"}))
    with pytest.raises(ScaiEchoError) as raised:
        tokens.mint(weak, frozenset({"scaiecho:diarize"}), None)
    assert raised.value.details == {"field": "permissions", "permission": "scaiecho:diarize"}
    for seconds in (0, -1, 3601):
        with pytest.raises(ScaiEchoError) as raised:
            tokens.mint(weak, None, seconds)
        assert raised.value.details["field"] == "expires_in_seconds"


def test_tampered_foreign_and_expired_tokens_are_refused() -> None:
    tokens = StreamTokens("secret", 300, 3600)
    token, _, _ = tokens.mint(ME, None, 1)
    payload, mac = token.split(".")
    for bad in (
        payload + "x." + mac,
        token[:-2],
        "sst_nothing",
        StreamTokens("other", 300, 3600).mint(ME, None, 60)[0],
    ):
        with pytest.raises(ScaiEchoError) as raised:
            tokens.verify(bad)
        assert raised.value.kind.code == "UNAUTHORIZED"
    time.sleep(1.05)
    with pytest.raises(ScaiEchoError) as raised:
        tokens.verify(token)
    assert raised.value.kind.code == "TOKEN_EXPIRED"
    assert "secret" not in token


def test_webrtc_settings_parse_and_refuse_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_WEBRTC_ICE_SERVERS", '[{"urls": "stun:stun.example.com:3478"}]')
    monkeypatch.setenv("SCAIECHO_WEBRTC_UDP_PORT_MIN", "40000")
    monkeypatch.setenv("SCAIECHO_WEBRTC_UDP_PORT_MAX", "40100")
    monkeypatch.setenv("SCAIECHO_CORS_ORIGINS", "https://a.example, https://b.example")
    webrtc = ScaiEchoSettings.from_env().webrtc
    assert webrtc.ice_servers == ({"urls": "stun:stun.example.com:3478"},)
    assert (webrtc.udp_port_min, webrtc.udp_port_max) == (40000, 40100)
    assert webrtc.cors_origins == ("https://a.example", "https://b.example")
    for name, value in [("WEBRTC_ICE_SERVERS", "stun:x"), ("WEBRTC_ICE_SERVERS", '[{"url": "x"}]'),
                        ("WEBRTC_UDP_PORT_MAX", "39999"), ("STREAM_TOKEN_SECONDS", "7200")]:  # fmt: skip
        with monkeypatch.context() as patch:
            patch.setenv(f"SCAIECHO_{name}", value)
            with pytest.raises(ConfigurationError):
                ScaiEchoSettings.from_env()


def test_candidates_bind_inside_the_configured_port_range() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        low = max(20000, probe.getsockname()[1] % 40000 + 20000)
    webrtc_net.configure(
        WebRtcSettings(host_addresses=("127.0.0.1",), udp_port_min=low, udp_port_max=low + 3)
    )
    try:
        import aioice

        async def gather() -> list[int]:
            connection = aioice.Connection(ice_controlling=True, use_ipv6=False)
            await connection.gather_candidates()
            ports = [c.port for c in connection.local_candidates]
            await connection.close()
            return ports

        ports = asyncio.run(gather())
        assert ports and all(low <= port <= low + 3 for port in ports)
    finally:
        webrtc_net.configure(WebRtcSettings())  # aioice as it was


def test_turn_rest_credentials_are_minted_per_tenant_and_never_carry_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = {"urls": "turn:turn.example.com:3478", "secret": "shh", "ttl_seconds": 600}
    monkeypatch.setenv("SCAIECHO_WEBRTC_ICE_SERVERS", json.dumps([entry, {"urls": "stun:s.example.com"}]))
    servers = ScaiEchoSettings.from_env().webrtc.ice_servers
    principal = Principal("t-1", "u", frozenset())
    minted = turn_credentials(servers[0], principal, now=1_000_000.0)
    assert minted["urls"] == entry["urls"] and minted["username"] == "1000600:t-1"
    # RFC-draft TURN REST: base64(HMAC-SHA1(secret, username)), as coturn checks it.
    digest = hmac.new(b"shh", b"1000600:t-1", hashlib.sha1).digest()
    assert minted["credential"] == base64.b64encode(digest).decode()
    assert "shh" not in json.dumps(minted) and "secret" not in minted and "ttl_seconds" not in minted
    assert turn_credentials(servers[1], principal, now=0) == {"urls": "stun:s.example.com"}
    for bad in [{"secret": ""}, {"secret": "x", "username": "u"}, {"secret": "x", "ttl_seconds": 0},
                {"secret": "x", "ttl_seconds": "60"}, {"ttl_seconds": 60}]:  # fmt: skip
        with monkeypatch.context() as patch:
            patch.setenv("SCAIECHO_WEBRTC_ICE_SERVERS", json.dumps([{"urls": "turn:t", **bad}]))
            with pytest.raises(ConfigurationError):
                ScaiEchoSettings.from_env()
