"""Transcript encodings other than the JSON envelope: text, SRT, WebVTT, OpenAI's verbose_json.

Pure functions over segments, shared by the file, job and OpenAI-compatible endpoints.
Captions keep every line within ``MAX_LINE_CHARS`` and at most ``MAX_LINES`` lines a cue (the
usual broadcast limits), so a long segment becomes several cues. With word times the cue
times are the words' own; without them a segment's time is shared out by characters.
A segment's speaker label, when it has one, is shown in the cue (``Name: `` in SRT, a
``<v Name>`` voice span in WebVTT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scaiecho_module.transcript import Segment

MAX_LINE_CHARS = 42
MAX_LINES = 2


class ResponseFormat(StrEnum):
    JSON = "json"
    TEXT = "text"
    SRT = "srt"
    VTT = "vtt"
    VERBOSE_JSON = "verbose_json"


MEDIA_TYPES = {
    ResponseFormat.TEXT: "text/plain; charset=utf-8",
    ResponseFormat.SRT: "application/x-subrip; charset=utf-8",
    ResponseFormat.VTT: "text/vtt; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    start: float | None
    end: float | None


def speaker_of(segment: Segment) -> str | None:
    return segment.speaker.label if segment.speaker is not None else None


def _tokens(segment: Segment, width: int) -> list[_Token]:
    if segment.words:
        raw = [_Token(w.word, w.start, w.end) for w in segment.words]
    else:
        raw = [_Token(word, None, None) for word in segment.text.split()]
    tokens: list[_Token] = []
    for token in raw:
        # A "word" longer than a line (a URL, a run of CJK text) is cut, never overflows.
        if len(token.text) <= width:
            tokens.append(token)
            continue
        pieces = [token.text[i : i + width] for i in range(0, len(token.text), width)]
        tokens += [_Token(piece, token.start, token.end) for piece in pieces]
    return tokens


def _wrap(tokens: list[_Token], width: int, first_width: int) -> list[list[_Token]]:
    """Greedy lines of tokens; ``first_width`` leaves room for a label on a cue's first line."""
    lines: list[list[_Token]] = []
    current: list[_Token] = []
    length = 0
    for token in tokens:
        budget = first_width if len(lines) % MAX_LINES == 0 else width
        extra = len(token.text) + (1 if current else 0)
        if current and length + extra > budget:
            lines.append(current)
            current, length = [], 0
            extra = len(token.text)
        current.append(token)
        length += extra
    if current:
        lines.append(current)
    return lines


def cues(segments: Sequence[Segment], label_width: int = 0, width: int = MAX_LINE_CHARS) -> list[Cue]:
    """Segments cut into caption cues; ``label_width`` is what a speaker label takes of line one."""
    result: list[Cue] = []
    for segment in segments:
        speaker = speaker_of(segment)
        first = max(width - (label_width + len(speaker) if speaker else 0), width // 2)
        tokens = _tokens(segment, min(width, first))
        if not tokens:
            continue
        lines = _wrap(tokens, width, first)
        groups = [lines[i : i + MAX_LINES] for i in range(0, len(lines), MAX_LINES)]
        total_chars = sum(len(t.text) for t in tokens) or 1
        done_chars = 0
        span = segment.end - segment.start
        for group in groups:
            flat = [t for line in group for t in line]
            chars = sum(len(t.text) for t in flat)
            if flat[0].start is not None and flat[-1].end is not None:
                start, end = flat[0].start, flat[-1].end
            else:  # no word times: share the segment's time out by characters
                start = segment.start + span * done_chars / total_chars
                end = segment.start + span * (done_chars + chars) / total_chars
            done_chars += chars
            start = max(start, result[-1].end if result else 0.0)
            lines_text = tuple(" ".join(t.text for t in line) for line in group)
            result.append(Cue(round(start, 3), round(max(end, start), 3), lines_text, speaker))
    return result


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(segments: Sequence[Segment]) -> str:
    blocks = []
    for index, cue in enumerate(cues(segments, label_width=len(": ")), start=1):
        lines = list(cue.lines)
        if cue.speaker:
            lines[0] = f"{cue.speaker}: {lines[0]}"
        timing = f"{_clock(cue.start, ',')} --> {_clock(cue.end, ',')}"
        blocks.append(f"{index}\n{timing}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: Sequence[Segment]) -> str:
    blocks = ["WEBVTT\n"]
    for index, cue in enumerate(cues(segments), start=1):
        body = "\n".join(_vtt_escape(line) for line in cue.lines)
        if cue.speaker:
            # A voice span's annotation ends at '>': keep the name free of markup characters.
            name = "".join(c for c in cue.speaker if c not in "<>&\n\r").strip() or "speaker"
            body = f"<v {name}>{body}</v>"
        timing = f"{_clock(cue.start, '.')} --> {_clock(cue.end, '.')}"
        blocks.append(f"{index}\n{timing}\n{body}\n")
    return "\n".join(blocks)


def to_text(text: str) -> str:
    return f"{text}\n" if text else ""


def verbose_json(text: str, segments: Sequence[Segment], language: str, duration: float) -> dict[str, Any]:
    """OpenAI's ``verbose_json`` shape; ``words`` (flat, file time) when word times were made."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": language,
        "duration": round(duration, 3),
        "text": text,
        "segments": [],
    }
    words: list[dict[str, Any]] = []
    for index, segment in enumerate(segments):
        item: dict[str, Any] = {"id": index, "start": segment.start, "end": segment.end, "text": segment.text}
        if speaker := speaker_of(segment):
            item["speaker"] = speaker
        body["segments"].append(item)
        words += [
            {"word": w.word, "start": w.start, "end": w.end, "probability": w.probability}
            for w in segment.words
        ]
    if words:
        body["words"] = words
    return body


def render_text(fmt: ResponseFormat, text: str, segments: Sequence[Segment]) -> str:
    """The body of a text, SRT or WebVTT answer."""
    if fmt is ResponseFormat.SRT:
        return to_srt(segments)
    if fmt is ResponseFormat.VTT:
        return to_vtt(segments)
    return to_text(text)
