"""What a transcription is, whoever produced it: segments, a transcript, live deltas.

Bottom layer: imports nothing of the module. Every producer (the engine, a Triton node, a
relay, the live recogniser) builds these, and every consumer extends them with
``dataclasses.replace`` or :meth:`shifted`, never by rebuilding them field by field, so a
field added here (``speaker`` today) reaches every view instead of being dropped on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Self


class _Timed:
    """``shifted`` for the values that carry ``start`` and ``end`` (segments and deltas)."""

    __slots__ = ()
    start: float
    end: float

    def shifted(self, seconds: float) -> Self:
        """The same value, ``seconds`` later (a window's, a piece's or a session's offset)."""
        timed: Any = self  # a dataclass, as every subclass is
        return replace(timed, start=round(self.start + seconds, 3), end=round(self.end + seconds, 3))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who spoke: ``label`` as a client sees it (``spk_0`` or an enrolled name), ``id`` the
    enrolled speaker profile's id when the voice matched one."""

    label: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Word(_Timed):
    """One recognised word, with Whisper's own confidence in it (0 to 1)."""

    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True, slots=True)
class Segment(_Timed):
    start: float
    end: float
    text: str
    speaker: Speaker | None = None
    # Filled only when word timestamps were asked for (``DecodeOptions.word_timestamps``).
    words: tuple[Word, ...] = ()

    def shifted(self, seconds: float) -> Segment:
        """The segment and its words ``seconds`` later: word times move with their segment."""
        moved = replace(self, start=round(self.start + seconds, 3), end=round(self.end + seconds, 3))
        return replace(moved, words=tuple(w.shifted(seconds) for w in self.words))

    def clipped(self, duration: float) -> Segment:
        """The same segment, ending no later than the audio does (Whisper rounds past it)."""
        limit = round(duration, 3)
        words = tuple(replace(w, start=min(w.start, limit), end=min(w.end, limit)) for w in self.words)
        return replace(self, end=min(self.end, limit), words=words)


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """What a caller may ask of one decode beyond the language: word times and vocabulary hints.

    ``prompt`` becomes Whisper's initial prompt (earlier context, spelling of names);
    ``hotwords`` are phrases Whisper is nudged towards. Both are bounded by the transports.
    ``temperature`` None keeps faster-whisper's fallback schedule. ``window_seconds`` is the
    shortest encoder window for this decode (None: Whisper's own 30 s); the engine widens it
    to the audio's length plus a margin. It trades nothing a caller sees for the encoder's
    cost (live decodes), so it does not make a request less plain: a dynamic batch may
    decode it at the full window. Nor does ``temperature`` 0 (live partials): the batched
    decode runs at temperature 0 only.
    """

    word_timestamps: bool = False
    prompt: str | None = None
    hotwords: str | None = None
    temperature: float | None = None
    window_seconds: float | None = None

    @property
    def plain(self) -> bool:
        temperature = None if self.temperature == 0.0 else self.temperature
        return replace(self, window_seconds=None, temperature=temperature) == DecodeOptions()

    def with_context(self, earlier: str | None) -> DecodeOptions:
        """These options prompted with ``earlier`` text (a job's previous slice, a live
        session's committed finals) after the caller's own prompt (names, spelling)."""
        parts = [part for part in (self.prompt, earlier) if part]
        return replace(self, prompt=" ".join(parts) if parts else None)


def text_tail(text: str, chars: int) -> str:
    """The last ``chars`` of ``text``, starting at a word boundary (a decode's prompt)."""
    text = text.strip()
    if len(text) <= chars:
        return text
    cut = text[-chars:]
    space = cut.find(" ")
    return cut[space + 1 :] if space >= 0 else cut


@dataclass(frozen=True, slots=True)
class Transcript:
    segments: tuple[Segment, ...]
    language: str
    language_probability: float
    duration_seconds: float

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text).strip()

    def shifted(self, seconds: float) -> Transcript:
        return replace(self, segments=tuple(s.shifted(seconds) for s in self.segments))


@dataclass(frozen=True, slots=True)
class Delta(_Timed):
    """One live caption: a partial (may still change) or a final (never revised)."""

    text: str
    is_final: bool
    start: float
    end: float
    speaker: Speaker | None = None
    # A final's words with their times, when the session diarizes (the labeller splits a
    # final at a change of speaker between words); never sent to clients as such.
    words: tuple[Word, ...] = ()

    def shifted(self, seconds: float) -> Delta:
        """The delta and its words ``seconds`` later."""
        moved = replace(self, start=round(self.start + seconds, 3), end=round(self.end + seconds, 3))
        return replace(moved, words=tuple(w.shifted(seconds) for w in self.words))
