"""The Triton STT wire JSON: options and word times survive the trip; plain requests stay plain."""

from __future__ import annotations

import json

from scaiecho_module.engines.stt import DecodeOptions, Segment, Transcript, Word
from scaiecho_module.engines.triton_wire import decode_options, decode_segments, encode_options, encode_result


def test_plain_options_keep_the_old_wire_form() -> None:
    assert json.loads(encode_options("en", None)) == {"language": "en"}
    assert json.loads(encode_options(None, DecodeOptions())) == {"language": None}
    assert decode_options(b'{"language": "de"}') == ("de", DecodeOptions())


def test_decode_options_round_trip() -> None:
    options = DecodeOptions(word_timestamps=True, prompt="Dashwood", hotwords="Norland", temperature=0.2)
    assert decode_options(encode_options("en", options).encode()) == ("en", options)


def test_segments_with_and_without_words_round_trip() -> None:
    words = (Word(0.1, 0.4, "Hello", 0.93), Word(0.45, 0.9, "there.", 0.88))
    transcript = Transcript(
        (Segment(0.1, 0.9, "Hello there.", words), Segment(1.0, 2.0, "Plain.")), "en", 1.0, 2.0
    )
    payload = json.loads(encode_result(transcript, "whisper-tiny.en"))
    assert len(payload["segments"][1]) == 3  # no words: the three-element form older clients read
    assert decode_segments(payload) == transcript.segments


def test_shifting_a_segment_moves_its_words() -> None:
    segment = Segment(1.0, 2.0, "a b", (Word(1.0, 1.4, "a", 0.9), Word(1.5, 2.0, "b", 0.8)))
    moved = segment.shifted(20.0)
    assert (moved.start, moved.end) == (21.0, 22.0)
    assert [(w.start, w.end) for w in moved.words] == [(21.0, 21.4), (21.5, 22.0)]
    assert segment.clamped(1.7).words[1].end == 1.7
