"""The MCP transport's own parsing: base64 bounded before decoding, names, preferences."""

from __future__ import annotations

import base64

import pytest

from scaiecho_module.backends.resolver import BackendPreference
from scaiecho_module.config import McpSettings
from scaiecho_module.errors import PAYLOAD_TOO_LARGE, VALIDATION_ERROR, ConfigurationError, ScaiEchoError
from scaiecho_module.transport.mcp.tools import decode_audio, job_filename, parse_preference

LIMITS = McpSettings(max_audio_bytes=3000)


def test_base64_within_the_limit_decodes_to_the_bytes() -> None:
    audio = bytes(range(256)) * 11  # 2816 bytes
    assert decode_audio(base64.b64encode(audio).decode(), LIMITS) == audio


def test_line_breaks_in_the_base64_are_ignored() -> None:
    audio = b"RIFF" * 100
    wrapped = base64.encodebytes(audio).decode()  # MIME style, 76 characters a line
    assert "\n" in wrapped
    assert decode_audio(wrapped, LIMITS) == audio


def test_base64_of_the_largest_audio_decodes_even_with_mime_line_breaks() -> None:
    audio = b"\x01\x02\x03" * 1000  # exactly the 3000-byte limit
    wrapped = base64.encodebytes(audio).decode().replace("\n", "\r\n")
    assert len(wrapped) <= LIMITS.max_text_chars
    assert decode_audio(wrapped, LIMITS) == audio


def test_text_longer_than_the_limit_is_refused_without_decoding() -> None:
    # Not base64 at all: a decode attempt would say VALIDATION_ERROR, so this proves the
    # length is checked first.
    with pytest.raises(ScaiEchoError) as raised:
        decode_audio("!" * (LIMITS.max_text_chars + 1), LIMITS)
    assert raised.value.kind is PAYLOAD_TOO_LARGE
    assert raised.value.details == {"field": "audio_base64", "limit_bytes": 3000}


def test_audio_just_over_the_limit_is_refused_after_decoding() -> None:
    with pytest.raises(ScaiEchoError) as raised:
        decode_audio(base64.b64encode(b"x" * 3001).decode(), LIMITS)
    assert raised.value.kind is PAYLOAD_TOO_LARGE


@pytest.mark.parametrize("text", ["not base64!", "QUJ", "QUJDRA"])
def test_malformed_base64_is_a_validation_error(text: str) -> None:
    with pytest.raises(ScaiEchoError) as raised:
        decode_audio(text, LIMITS)
    assert raised.value.kind is VALIDATION_ERROR
    assert raised.value.details == {"field": "audio_base64"}


def test_base64_limit_is_four_thirds_of_the_audio_limit_rounded_up() -> None:
    assert McpSettings(max_audio_bytes=3).max_base64_chars == 4
    assert McpSettings(max_audio_bytes=4).max_base64_chars == 8


@pytest.mark.parametrize(
    ("filename", "media_type", "name"),
    [
        ("meeting.wav", "audio/mpeg", "meeting.wav"),
        ("  ", "audio/wav", "audio.wav"),
        (None, "audio/mpeg", "audio.mp3"),
        (None, "audio/x-unknown-thing", "audio"),
        (None, None, "audio"),
    ],
)
def test_job_filename_comes_from_the_filename_or_the_media_type(
    filename: str | None, media_type: str | None, name: str
) -> None:
    assert job_filename(filename, media_type) == name


def test_media_type_must_be_type_slash_subtype() -> None:
    with pytest.raises(ScaiEchoError) as raised:
        job_filename(None, "wav")
    assert raised.value.details == {"field": "media_type"}


def test_backend_preference_defaults_to_any_and_refuses_unknown_values() -> None:
    assert parse_preference(None) is BackendPreference.ANY
    assert parse_preference("prefer_relay") is BackendPreference.PREFER_RELAY
    with pytest.raises(ScaiEchoError) as raised:
        parse_preference("fastest")
    assert raised.value.details == {"field": "backend_preference"}


def test_allowed_hosts_and_origins_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_MCP_ALLOWED_HOSTS", " api.example.com, api.example.com:* ,")
    monkeypatch.setenv("SCAIECHO_MCP_ALLOWED_ORIGINS", "https://agent.example.com")
    settings = McpSettings.from_env()
    assert settings.allowed_hosts == ("api.example.com", "api.example.com:*")
    assert settings.allowed_origins == ("https://agent.example.com",)


def test_defaults_serve_loopback_only() -> None:
    settings = McpSettings()
    assert set(settings.allowed_hosts) == {
        "127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*",
    }  # fmt: skip
    assert all("127.0.0.1" in o or "localhost" in o or "[::1]" in o for o in settings.allowed_origins)


@pytest.mark.parametrize(("name", "value"), [("MCP_ALLOWED_HOSTS", " , "), ("MCP_MAX_AUDIO_BYTES", "0")])
def test_an_empty_host_list_or_no_audio_stops_startup(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"SCAIECHO_{name}", value)
    with pytest.raises(ConfigurationError):
        McpSettings.from_env()
