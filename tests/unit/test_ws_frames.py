"""Live WebSocket protocol: client control frames and the open frame, parsed to stable error codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.errors import ScaiEchoError
from scaiecho_module.live.request import OpenRequest
from scaiecho_module.transcript import Delta, Word
from scaiecho_module.transport.live_frames import delta_frame, encode, frame_kind
from scaiecho_module.transport.ws_stream import _control, _open_request


def _text(payload: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": payload, "bytes": None}


def _code(call: Any, *args: Any) -> tuple[str, int, dict[str, Any]]:
    with pytest.raises(ScaiEchoError) as info:
        call(*args)
    return info.value.kind.code, info.value.kind.close_code, info.value.details


# -- control frames -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame", [{"type": "open", "media_type": "audio/pcm"}, {"type": "close"}, {"type": "x"}]
)
def test_a_json_object_with_a_string_type_is_a_control_frame(frame: dict[str, Any]) -> None:
    assert _control(_text(json.dumps(frame))) == frame


def test_binary_audio_where_a_control_frame_is_due_is_not_open() -> None:
    event = {"type": "websocket.receive", "text": None, "bytes": b"\x00\x01"}
    assert _code(_control, event) == ("NOT_OPEN", 4400, {})


@pytest.mark.parametrize(
    "payload",
    ["", "not json", "{", "[]", '["open"]', "null", "42", '"open"', "{}", '{"type": 1}',
     '{"type": null}', '{"type": ["open"]}', '{"media_type": "audio/pcm"}'],
)  # fmt: skip
def test_a_text_frame_that_is_not_an_object_with_a_string_type_is_malformed(payload: str) -> None:
    assert _code(_control, _text(payload)) == ("MALFORMED_FRAME", 4400, {})


# -- the open frame -----------------------------------------------------------------------


def test_a_minimal_open_frame_takes_the_defaults() -> None:
    assert _open_request({"type": "open", "media_type": "audio/pcm"}) == OpenRequest(
        "audio/pcm", None, None, False, BackendPreference.ANY
    )


def test_a_full_open_frame_is_read_field_by_field() -> None:
    frame = {
        "type": "open", "media_type": "audio/webm", "language_hint": "de", "chunk_seconds": 7,
        "diarize": True, "backend_preference": "prefer_relay",
    }  # fmt: skip
    request = _open_request(frame)
    assert request == OpenRequest("audio/webm", "de", 7.0, True, BackendPreference.PREFER_RELAY)
    assert isinstance(request.chunk_seconds, float)


@pytest.mark.parametrize("value", [True, False])
def test_word_timestamps_is_read_and_absent_means_false(value: bool) -> None:
    frame = {"type": "open", "media_type": "audio/pcm", "word_timestamps": value}
    assert _open_request(frame).word_timestamps is value
    assert _open_request({"type": "open", "media_type": "audio/pcm"}).word_timestamps is False


def test_a_final_with_words_sends_them_and_one_without_omits_the_key() -> None:
    word = Word(1.0, 1.4, "Hello", 0.91)
    sent = json.loads(encode(delta_frame(Delta("Hello", True, 0.9, 1.5, words=(word,)))))
    assert sent["words"] == [{"word": "Hello", "start": 1.0, "end": 1.4, "probability": 0.91}]
    assert "words" not in json.loads(encode(delta_frame(Delta("Hello", True, 0.9, 1.5))))


def test_null_language_and_chunk_mean_absent() -> None:
    request = _open_request(
        {"type": "open", "media_type": "audio/pcm", "language_hint": None, "chunk_seconds": None}
    )
    assert (request.language_hint, request.chunk_seconds) == (None, None)


@pytest.mark.parametrize("preference", list(BackendPreference))
def test_every_backend_preference_is_accepted(preference: BackendPreference) -> None:
    frame = {"type": "open", "media_type": "audio/pcm", "backend_preference": preference.value}
    assert _open_request(frame).backend_preference is preference


def test_unknown_fields_are_refused_naming_the_first_in_alphabetical_order() -> None:
    frame = {"type": "open", "media_type": "audio/pcm", "zeta": 1, "sample_rate": 16000, "beta": 0}
    assert _code(_open_request, frame) == ("VALIDATION_ERROR", 4400, {"field": "beta"})


def test_unknown_fields_are_checked_before_the_media_type() -> None:
    assert _code(_open_request, {"type": "open", "extra": 1})[2] == {"field": "extra"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("media_type", None), ("media_type", ""), ("media_type", 16), ("media_type", ["audio/pcm"]),
        ("chunk_seconds", "15"), ("chunk_seconds", True), ("chunk_seconds", False), ("chunk_seconds", [15]),
        ("diarize", "true"), ("diarize", 1), ("diarize", None),
        ("language_hint", 1), ("language_hint", ["en"]), ("language_hint", True),
        ("backend_preference", "PREFER_RELAY"), ("backend_preference", "relay"),
        ("backend_preference", None), ("backend_preference", ["any"]), ("backend_preference", 1),
        ("interim_results", "false"), ("interim_results", 0), ("interim_results", None),
        ("endpointing_ms", 99), ("endpointing_ms", 5001), ("endpointing_ms", -1), ("endpointing_ms", 300.5),
        ("endpointing_ms", "300"), ("endpointing_ms", True), ("endpointing_ms", 10**400),
        ("word_timestamps", "true"), ("word_timestamps", 1), ("word_timestamps", None),
        ("prompt", 1), ("prompt", ["a"]), ("prompt", True), ("prompt", "x" * 1001), ("prompt", "a\x00b"),
        ("hotwords", 2), ("hotwords", {"a": 1}), ("hotwords", "y" * 501), ("hotwords", "a\x1bb"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_shape_is_a_validation_error_naming_its_field(field: str, value: Any) -> None:
    frame = {"type": "open", "media_type": "audio/pcm", field: value}
    assert _code(_open_request, frame) == ("VALIDATION_ERROR", 4400, {"field": field})


def test_a_missing_media_type_is_a_validation_error() -> None:
    assert _code(_open_request, {"type": "open"}) == ("VALIDATION_ERROR", 4400, {"field": "media_type"})


def test_an_integer_chunk_seconds_too_large_for_a_float_is_a_validation_error() -> None:
    frame = json.loads('{"type": "open", "media_type": "audio/pcm", "chunk_seconds": 1' + "0" * 400 + "}")
    assert _code(_open_request, frame) == ("VALIDATION_ERROR", 4400, {"field": "chunk_seconds"})


def test_a_control_frame_nested_too_deeply_to_parse_is_malformed() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert _code(_control, {"text": deep})[:2] == ("MALFORMED_FRAME", 4400)


# -- live controls: other APIs' spellings, interim_results, endpointing_ms ----------------


@pytest.mark.parametrize(
    ("spelt", "kind"),
    [("open", "open"), ("close", "close"), ("CloseStream", "close"), ("KeepAlive", "keepalive"),
     ("keepalive", "keepalive"), ("Finalize", "finalize"), ("finalize", "finalize"),
     ("FINALIZE", None), ("Keepalive", None), ("flush", None), ("x", None)],
)  # fmt: skip
def test_control_frame_types_are_read_as_clients_spell_them(spelt: str, kind: str | None) -> None:
    assert frame_kind({"type": spelt}) == kind


def test_interim_results_and_endpointing_reach_the_request() -> None:
    frame = {"type": "open", "media_type": "audio/pcm", "interim_results": False, "endpointing_ms": 300}
    request = _open_request(frame)
    assert (request.interim_results, request.endpointing_seconds) == (False, 0.3)
    default = _open_request({"type": "open", "media_type": "audio/pcm"})
    assert (default.interim_results, default.endpointing_seconds) == (True, None)


@pytest.mark.parametrize("ms", [100, 5000])
def test_endpointing_bounds_are_inclusive(ms: int) -> None:
    assert (
        _open_request({"type": "open", "media_type": "audio/pcm", "endpointing_ms": ms}).endpointing_seconds
        == ms / 1000
    )


def test_prompt_and_hotwords_are_read_stripped_with_the_file_paths_bounds() -> None:
    frame = {"type": "open", "media_type": "audio/pcm", "prompt": " Dashwood.\n" + "x" * 989,
             "hotwords": "\tNorland Park, " + "y" * 485}  # fmt: skip
    request = _open_request(frame)
    assert request.prompt == "Dashwood.\n" + "x" * 989  # 1000 characters: the bound itself
    assert request.hotwords == "Norland Park, " + "y" * 485  # 499 characters
    blank = _open_request({"type": "open", "media_type": "audio/pcm", "prompt": "  ", "hotwords": None})
    assert (blank.prompt, blank.hotwords) == (None, None)
