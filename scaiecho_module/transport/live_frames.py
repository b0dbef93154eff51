"""The live frame protocol, shared by the WebSocket and the WebRTC control socket.

Client -> server: ``{"type": "open", ...}`` first, then audio, then ``{"type": "close"}``;
between them ``keepalive`` and ``finalize`` (Deepgram's ``KeepAlive``, ``Finalize`` and
``CloseStream`` are accepted as spelt there).
Server -> client: ``ready``, ``delta`` (repeated), ``info``, then ``closed`` or ``error``.
Outgoing frames are msgspec structs tagged by ``type``; incoming control frames are read
by hand so that every bad value gets its own field-named ``VALIDATION_ERROR``.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from scaiecho_module.backend_preference import BackendPreference
from scaiecho_module.errors import MALFORMED_FRAME, NOT_OPEN, VALIDATION_ERROR, ScaiEchoError
from scaiecho_module.live.events import AudioDropped, BackendSwitched, Backpressure, Behind, CaughtUp, Notice
from scaiecho_module.live.request import OpenRequest
from scaiecho_module.transcript import Delta
from scaiecho_module.transport.form import HOTWORDS_MAX_CHARS, PROMPT_MAX_CHARS, bounded_hint

_OPEN_FIELDS = {
    "type", "language_hint", "media_type", "chunk_seconds", "diarize", "backend_preference",
    "interim_results", "endpointing_ms", "word_timestamps", "prompt", "hotwords",
}  # fmt: skip
ENDPOINTING_MS = (100, 5000)  # the pause that ends an utterance, bounded
# Control frame types as clients spell them -> ours. Other APIs' clients send these as-is.
_KINDS = {
    "open": "open", "close": "close", "CloseStream": "close",
    "keepalive": "keepalive", "KeepAlive": "keepalive", "finalize": "finalize", "Finalize": "finalize",
}  # fmt: skip


def frame_kind(frame: dict[str, Any]) -> str | None:
    """Our name for a control frame's ``type``; None for a type we do not know."""
    return _KINDS.get(frame["type"])


class Ready(msgspec.Struct, tag_field="type", tag="ready"):
    session_id: str
    backend_used: str
    media_type: str
    sample_rate: int = 16000


class WordFrame(msgspec.Struct):
    word: str
    start: float
    end: float
    probability: float


class DeltaFrame(msgspec.Struct, tag_field="type", tag="delta", omit_defaults=True):
    """``speaker_label``/``speaker_id`` only when the session diarizes and a label is settled
    (``speaker_id`` only for an enrolled profile): omitted, never null, otherwise. ``words``
    only on finals of a session opened with ``word_timestamps`` (the session strips them
    otherwise): omitted when empty."""

    text: str
    is_final: bool
    start: float
    end: float
    speaker_label: str | None = None
    speaker_id: str | None = None
    words: list[WordFrame] | None = None


class Info(msgspec.Struct, tag_field="type", tag="info", omit_defaults=True):
    code: str
    message: str
    backend_used: str | None = None
    dropped_seconds: float | None = None
    backlog_seconds: float | None = None


class ErrorFrame(msgspec.Struct, tag_field="type", tag="error", omit_defaults=True):
    """The REST envelope's error object, tagged: ``code``, ``message``, ``details`` nested."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class Closed(msgspec.Struct, tag_field="type", tag="closed"):
    reason: str
    session_id: str
    audio_seconds: float


ServerFrame = Ready | DeltaFrame | Info | ErrorFrame | Closed
_encoder = msgspec.json.Encoder()


def encode(frame: ServerFrame) -> str:
    return _encoder.encode(frame).decode()


def delta_frame(delta: Delta) -> DeltaFrame:
    speaker = delta.speaker
    words = [WordFrame(w.word, w.start, w.end, w.probability) for w in delta.words] or None
    label, speaker_id = (None, None) if speaker is None else (speaker.label, speaker.id)
    return DeltaFrame(delta.text, delta.is_final, delta.start, delta.end, label, speaker_id, words)


def error_frame(error: ScaiEchoError) -> ErrorFrame:
    return ErrorFrame(error.kind.code, error.message, error.details or None)


def info_frame(notice: Notice) -> Info:
    if isinstance(notice, BackendSwitched):
        return Info(
            "BACKEND_SWITCHED",
            f"the session's backend failed; it continues on backend {notice.backend_used} "
            "from its last final, nothing is lost",
            backend_used=notice.backend_used,
        )
    if isinstance(notice, AudioDropped):
        return Info(
            "AUDIO_DROPPED",
            "audio arrives faster than it is transcribed and this source cannot be paused: "
            "audio beyond the buffer is dropped and not metered",
            dropped_seconds=notice.dropped_seconds,
        )
    if isinstance(notice, Behind):
        return Info(
            "BEHIND",
            "the server is behind real time: results lag the audio by about backlog_seconds; "
            "nothing is dropped",
            backlog_seconds=notice.backlog_seconds,
        )
    if isinstance(notice, CaughtUp):
        return Info("CAUGHT_UP", "the server has caught up with the audio again")
    assert isinstance(notice, Backpressure)
    return Info(
        "BACKPRESSURE",
        "audio arrives faster than it is transcribed: reading pauses while the backlog drains; "
        "nothing is dropped",
    )


def control_frame(text: str | None) -> dict[str, Any]:
    """A client's text frame as a JSON object with a string ``type``."""
    if text is None:
        raise ScaiEchoError(NOT_OPEN, "send an open control frame before audio")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        raise ScaiEchoError(MALFORMED_FRAME, "control frames must be JSON objects") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ScaiEchoError(MALFORMED_FRAME, 'control frames must be JSON objects with a "type"')
    return frame


def _hint(frame: dict[str, Any], name: str, limit: int) -> str | None:
    """``prompt``/``hotwords``: a string (or null), bounded as the file endpoints bound it."""
    value = frame.get(name)
    if value is not None and not isinstance(value, str):
        raise ScaiEchoError(VALIDATION_ERROR, f"{name} must be a string", {"field": name})
    return bounded_hint((value or "").strip() or None, name, limit)


def open_request(frame: dict[str, Any]) -> OpenRequest:
    unknown = sorted(set(frame) - _OPEN_FIELDS)
    if unknown:
        raise ScaiEchoError(
            VALIDATION_ERROR, f"unknown open field(s): {', '.join(unknown)}", {"field": unknown[0]}
        )
    media_type = frame.get("media_type")
    if not isinstance(media_type, str) or not media_type:
        raise ScaiEchoError(
            VALIDATION_ERROR, "open needs a media_type, e.g. audio/pcm", {"field": "media_type"}
        )
    chunk = frame.get("chunk_seconds")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int | float)):
        raise ScaiEchoError(VALIDATION_ERROR, "chunk_seconds must be a number", {"field": "chunk_seconds"})
    if isinstance(chunk, int) and abs(chunk) > 10**6:
        # JSON integers are unbounded; one past float's range would raise OverflowError later.
        raise ScaiEchoError(VALIDATION_ERROR, "chunk_seconds is out of range", {"field": "chunk_seconds"})
    diarize = frame.get("diarize", False)
    if not isinstance(diarize, bool):
        raise ScaiEchoError(VALIDATION_ERROR, "diarize must be true or false", {"field": "diarize"})
    language = frame.get("language_hint")
    if language is not None and not isinstance(language, str):
        raise ScaiEchoError(VALIDATION_ERROR, "language_hint must be a string", {"field": "language_hint"})
    interim = frame.get("interim_results", True)
    if not isinstance(interim, bool):
        raise ScaiEchoError(
            VALIDATION_ERROR, "interim_results must be true or false", {"field": "interim_results"}
        )
    endpointing = frame.get("endpointing_ms")
    low, high = ENDPOINTING_MS
    if endpointing is not None and (
        isinstance(endpointing, bool) or not isinstance(endpointing, int) or not low <= endpointing <= high
    ):
        raise ScaiEchoError(
            VALIDATION_ERROR,
            f"endpointing_ms must be an integer from {low} to {high}",
            {"field": "endpointing_ms"},
        )
    word_timestamps = frame.get("word_timestamps", False)
    if not isinstance(word_timestamps, bool):
        raise ScaiEchoError(
            VALIDATION_ERROR, "word_timestamps must be true or false", {"field": "word_timestamps"}
        )
    try:
        preference = BackendPreference(frame.get("backend_preference", "any"))
    except (ValueError, TypeError):
        raise ScaiEchoError(
            VALIDATION_ERROR, "backend_preference must be prefer_self_hosted, prefer_relay or any",
            {"field": "backend_preference"},
        ) from None  # fmt: skip
    return OpenRequest(
        media_type, language, None if chunk is None else float(chunk), diarize, preference, interim,
        None if endpointing is None else endpointing / 1000, word_timestamps,
        _hint(frame, "prompt", PROMPT_MAX_CHARS), _hint(frame, "hotwords", HOTWORDS_MAX_CHARS),
    )  # fmt: skip
