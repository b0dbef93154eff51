"""Pure request checks: language hints, media types, permissions, bearer tokens."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.connection import ASGIConnection

from scaiecho_module.audio.stream_decode import SUPPORTED_MEDIA_TYPES, check_media_type, parse_media_type
from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.host_contract import Principal
from scaiecho_module.languages import check_language_hint
from scaiecho_module.permissions import PERM_ADMIN, PERM_DIARIZE, PERM_ENROLL, PERM_TRANSCRIBE, PERMISSIONS
from scaiecho_module.transport.auth import bearer_token


def _error(call: Any, *args: Any) -> ScaiEchoError:
    with pytest.raises(ScaiEchoError) as info:
        call(*args)
    return info.value


# -- language hints -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "code"), [("en", "en"), (" EN ", "en"), ("De", "de"), ("haw", "haw"), ("yue", "yue")]
)
def test_a_whisper_language_code_is_accepted_ignoring_case_and_spaces(hint: str, code: str) -> None:
    assert check_language_hint(hint) == code


def test_no_hint_means_detect_the_language() -> None:
    assert check_language_hint(None) is None


@pytest.mark.parametrize("hint", ["", " ", "english", "en-US", "en_us", "xx", "e", "zz-top"])
def test_anything_else_is_a_validation_error_on_the_language_hint_field(hint: str) -> None:
    error = _error(check_language_hint, hint)
    assert (error.kind.code, error.kind.http_status, error.details) == (
        "VALIDATION_ERROR", 400, {"field": "language_hint"}
    )  # fmt: skip


# -- media types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "media_type",
    [*SUPPORTED_MEDIA_TYPES, "AUDIO/PCM", "audio/pcm;rate=8000", "audio/l16; rate=48000; channels=2",
     "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/webm;codecs=opus", 'audio/ogg; codecs="opus"'],
)  # fmt: skip
def test_supported_media_types_pass_with_any_parameters_and_case(media_type: str) -> None:
    check_media_type(media_type)


@pytest.mark.parametrize(
    "media_type", ["", "audio/mpeg", "video/webm", "audio/pcmx", "audio", "pcm", "audio/flac"]
)
def test_other_media_types_are_unsupported(media_type: str) -> None:
    error = _error(check_media_type, media_type)
    assert (error.kind.code, error.kind.http_status, error.kind.close_code) == (
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        4400,
    )
    assert error.details == {"field": "media_type"}


def test_wav_aliases_are_one_media_type() -> None:
    aliases = ("audio/wav", "audio/x-wav", "Audio/Wave", "audio/vnd.wave")
    assert {parse_media_type(alias).essence for alias in aliases} == {"audio/wav"}


def test_media_type_parameters_are_read_with_lowercase_names_and_unquoted_values() -> None:
    parsed = parse_media_type('audio/L16; Rate=8000 ;CHANNELS="2"')
    assert parsed.essence == "audio/l16"
    assert parsed.params == {"rate": "8000", "channels": "2"}


# -- permissions ----------------------------------------------------------------------------


def test_the_module_declares_its_four_permissions_under_its_own_prefix() -> None:
    assert set(PERMISSIONS) == {PERM_TRANSCRIBE, PERM_ENROLL, PERM_DIARIZE, PERM_ADMIN}
    assert all(name.startswith("scaiecho:") and PERMISSIONS[name] for name in PERMISSIONS)


def test_a_principal_has_exactly_the_permissions_it_was_given() -> None:
    principal = Principal("t", "u", frozenset({PERM_TRANSCRIBE}))
    assert principal.has(PERM_TRANSCRIBE)
    assert not principal.has(PERM_DIARIZE)
    assert not principal.has("scaiecho:*")
    assert not principal.has("SCAIECHO:TRANSCRIBE")
    assert not Principal("t", "u", frozenset()).has(PERM_TRANSCRIBE)


# -- bearer tokens --------------------------------------------------------------------------


def _connection(
    kind: str, authorization: str | None = None, query: str = ""
) -> ASGIConnection[Any, Any, Any, Any]:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    scope = {"type": kind, "headers": headers, "query_string": query.encode(), "path": "/", "app": None}
    return ASGIConnection(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize("header", ["Bearer sgk_abc", "bearer sgk_abc", "BEARER   sgk_abc  "])
def test_a_bearer_header_gives_its_token(header: str) -> None:
    assert bearer_token(_connection("http", header)) == "sgk_abc"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "sgk_abc", "Token sgk_abc"])
def test_a_header_with_another_scheme_or_no_value_is_no_token(header: str) -> None:
    assert bearer_token(_connection("http", header)) is None
    # ... and it is not rescued by a query token, even on a WebSocket.
    assert bearer_token(_connection("websocket", header, "token=sgk_q")) is None


def test_a_query_token_counts_only_on_websocket_upgrades() -> None:
    assert bearer_token(_connection("websocket", None, "token=sgk_q")) == "sgk_q"
    assert bearer_token(_connection("http", None, "token=sgk_q")) is None
    assert bearer_token(_connection("websocket", None, "token=")) is None
    assert bearer_token(_connection("websocket", "Bearer sgk_h", "token=sgk_q")) == "sgk_h"
