"""What a client asks for when it opens a live session, whatever transport it came by."""

from __future__ import annotations

from dataclasses import dataclass

from scaiecho_module.backend_preference import BackendPreference


@dataclass(frozen=True, slots=True)
class OpenRequest:
    media_type: str
    language_hint: str | None = None
    chunk_seconds: float | None = None
    diarize: bool = False
    backend_preference: BackendPreference = BackendPreference.ANY
    interim_results: bool = True  # false: no partial deltas go out; finals are unchanged
    endpointing_seconds: float | None = None  # the pause that ends an utterance; None: default
    word_timestamps: bool = False  # finals carry their words' times (session time)
    # The client's vocabulary hints, bounded as on files: every decode (partials and finals)
    # gets them. ``prompt`` is the client's own; any context a session adds goes after it.
    prompt: str | None = None
    hotwords: str | None = None
