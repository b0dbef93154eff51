"""Caption encodings, parsed back with the SRT and WebVTT libraries clients use."""

from __future__ import annotations

import html
import io
import itertools

import srt
import webvtt

from scaiecho_module.transcript import Segment, Speaker, Word
from scaiecho_module.transport.formats import MAX_LINE_CHARS, to_srt, to_vtt, verbose_json

LONG = (
    "And Mr. John Dashwood had then leisure to consider how much there might be prudently in his "
    "power to do for them, and the more he thought of it the less he liked the idea at all"
)


def Labelled(start: float, end: float, text: str, speaker: str) -> Segment:
    """A segment as diarization delivers it: with a speaker label."""
    return Segment(start, end, text, Speaker(speaker))


def _words(text: str, start: float, step: float) -> tuple[Word, ...]:
    return tuple(
        Word(round(start + i * step, 3), round(start + (i + 1) * step, 3), w, 0.9)
        for i, w in enumerate(text.split())
    )


def test_srt_parses_and_keeps_every_word_in_order() -> None:
    segments = [Segment(0.5, 9.0, LONG), Segment(9.5, 11.0, "Short one.")]
    subs = list(srt.parse(to_srt(segments)))
    assert " ".join(s.content.replace("\n", " ") for s in subs) == f"{LONG} Short one."
    assert [s.index for s in subs] == list(range(1, len(subs) + 1))
    assert subs[0].start.total_seconds() == 0.5
    assert subs[-1].end.total_seconds() == 11.0


def test_caption_lines_respect_the_maximum_length_and_two_lines_a_cue() -> None:
    subs = list(srt.parse(to_srt([Segment(0.0, 12.0, LONG)])))
    assert len(subs) > 1, "a long segment becomes several cues"
    for sub in subs:
        lines = sub.content.split("\n")
        assert len(lines) <= 2
        assert all(len(line) <= MAX_LINE_CHARS for line in lines), lines
    captions = webvtt.from_buffer(io.StringIO(to_vtt([Segment(0.0, 12.0, LONG)])))
    assert all(len(line) <= MAX_LINE_CHARS for c in captions for line in c.lines)


def test_cue_times_are_monotonic_and_inside_the_segment() -> None:
    subs = list(srt.parse(to_srt([Segment(2.0, 14.0, LONG)])))
    times = [(s.start.total_seconds(), s.end.total_seconds()) for s in subs]
    assert all(2.0 <= a <= b <= 14.0 for a, b in times)
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(times))


def test_word_times_set_the_cue_boundaries() -> None:
    segment = Segment(1.0, 1.0 + 0.4 * len(LONG.split()), LONG, words=_words(LONG, 1.0, 0.4))
    subs = list(srt.parse(to_srt([segment])))
    word_starts = {w.start for w in segment.words}
    assert all(s.start.total_seconds() in word_starts for s in subs)


def test_speaker_labels_appear_in_srt_and_as_webvtt_voices() -> None:
    segments = [
        Labelled(0.0, 3.0, "Hello there.", speaker="Alice"),
        Labelled(3.0, 5.0, "Hi.", speaker="spk_1"),
    ]
    subs = list(srt.parse(to_srt(segments)))
    assert [s.content for s in subs] == ["Alice: Hello there.", "spk_1: Hi."]
    captions = webvtt.from_buffer(io.StringIO(to_vtt(segments)))
    assert [c.voice for c in captions] == ["Alice", "spk_1"]
    assert [c.text for c in captions] == ["Hello there.", "Hi."]


def test_labelled_long_lines_still_fit_with_the_label() -> None:
    subs = list(srt.parse(to_srt([Labelled(0.0, 12.0, LONG, speaker="Alexandra")])))
    assert all(len(line) <= MAX_LINE_CHARS for s in subs for line in s.content.split("\n"))


def test_markup_in_text_is_escaped_in_webvtt() -> None:
    captions = webvtt.from_buffer(io.StringIO(to_vtt([Segment(0.0, 2.0, "a <b> & c")])))
    # The library leaves character references as written; a player shows them decoded.
    assert captions[0].text == "a &lt;b&gt; &amp; c"
    assert html.unescape(captions[0].text) == "a <b> & c"


def test_an_overlong_token_is_cut_rather_than_overflowing_a_line() -> None:
    url = "https://example.test/" + "x" * 80
    subs = list(srt.parse(to_srt([Segment(0.0, 4.0, url)])))
    assert "".join(s.content.replace("\n", "") for s in subs) == url
    assert all(len(line) <= MAX_LINE_CHARS for s in subs for line in s.content.split("\n"))


def test_no_speech_gives_a_valid_empty_document() -> None:
    assert list(srt.parse(to_srt([]))) == []
    assert list(webvtt.from_buffer(io.StringIO(to_vtt([])))) == []


def test_verbose_json_has_openais_shape_with_flat_words() -> None:
    segment = Segment(0.0, 1.2, "two words", words=_words("two words", 0.0, 0.6))
    body = verbose_json("two words", [segment], "en", 1.2)
    assert body["task"] == "transcribe" and body["duration"] == 1.2 and body["text"] == "two words"
    assert body["segments"] == [{"id": 0, "start": 0.0, "end": 1.2, "text": "two words"}]
    assert [w["word"] for w in body["words"]] == ["two", "words"]
    assert "words" not in verbose_json("x", [Segment(0.0, 1.0, "x")], "en", 1.0)
