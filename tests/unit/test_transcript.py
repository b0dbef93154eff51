"""Transcript values keep every field through shifts, clamps and the Triton wire codec."""

from __future__ import annotations

import msgspec

from scaiecho_module.engines.triton import codec
from scaiecho_module.transcribe.schemas import SegmentView
from scaiecho_module.transcript import DecodeOptions, Delta, Segment, Speaker, Transcript, Word
from scaiecho_module.transport.views import segment_view

SPEAKER = Speaker("spk_0", "profile-1")


def test_shifting_a_segment_moves_its_times_and_keeps_its_speaker() -> None:
    moved = Segment(0.25, 1.5, "hello", SPEAKER).shifted(120.0)
    assert moved == Segment(120.25, 121.5, "hello", SPEAKER)


def test_shifted_times_are_rounded_to_the_millisecond() -> None:
    assert Segment(0.1, 0.2, "a").shifted(0.2) == Segment(0.3, 0.4, "a")
    assert Delta("a", True, 0.1, 0.2).shifted(0.2) == Delta("a", True, 0.3, 0.4)


def test_shifting_a_delta_keeps_its_speaker_and_finality() -> None:
    assert Delta("hi", False, 1.0, 2.0, SPEAKER).shifted(3.0) == Delta("hi", False, 4.0, 5.0, SPEAKER)


def test_a_transcript_shifts_every_segment_and_nothing_else() -> None:
    transcript = Transcript((Segment(0.0, 1.0, "a"), Segment(1.0, 2.0, "b", SPEAKER)), "en", 0.9, 2.0)
    moved = transcript.shifted(10.0)
    assert moved.segments == (Segment(10.0, 11.0, "a"), Segment(11.0, 12.0, "b", SPEAKER))
    assert (moved.language, moved.language_probability, moved.duration_seconds) == ("en", 0.9, 2.0)


def test_clipping_ends_a_segment_at_the_audio_and_keeps_the_rest() -> None:
    assert Segment(1.0, 7.25, "x", SPEAKER).clipped(7.1) == Segment(1.0, 7.1, "x", SPEAKER)
    assert Segment(1.0, 2.0, "x").clipped(7.1) == Segment(1.0, 2.0, "x")


def test_the_triton_codec_round_trips_a_transcript_with_speakers() -> None:
    transcript = Transcript((Segment(0.0, 1.5, "hi"), Segment(1.5, 2.0, "there", SPEAKER)), "de", 0.5, 2.0)
    assert codec.decode_result(codec.encode_result(transcript, "whisper-tiny.en")) == (
        transcript,
        "whisper-tiny.en",
    )


def test_the_triton_codec_names_every_field_on_the_wire() -> None:
    raw = codec.encode_result(Transcript((Segment(0.0, 1.0, "a"),), "en", 1.0, 1.0), "m")
    assert msgspec.json.decode(raw)["segments"] == [
        {"start": 0.0, "end": 1.0, "text": "a", "speaker": None, "words": []}
    ]


def test_word_times_and_decode_options_cross_the_triton_wire() -> None:
    words = (Word(0.1, 0.4, "Hello", 0.93), Word(0.45, 0.9, "there.", 0.88))
    transcript = Transcript((Segment(0.1, 0.9, "Hello there.", words=words),), "en", 1.0, 1.0)
    assert codec.decode_result(codec.encode_result(transcript, "m"))[0] == transcript
    options = DecodeOptions(word_timestamps=True, prompt="Dashwood", hotwords="Norland", temperature=0.2)
    assert codec.decode_request(codec.encode_options("en", options)) == ("en", options)
    assert codec.decode_request(b'{"language": "de"}') == ("de", DecodeOptions())


def test_shifting_a_segment_moves_its_words_and_clipping_clips_them() -> None:
    segment = Segment(1.0, 2.0, "a b", words=(Word(1.0, 1.4, "a", 0.9), Word(1.5, 2.0, "b", 0.8)))
    moved = segment.shifted(20.0)
    assert (moved.start, moved.end) == (21.0, 22.0)
    assert [(w.start, w.end) for w in moved.words] == [(21.0, 21.4), (21.5, 22.0)]
    assert segment.clipped(1.7).words[1].end == 1.7


def test_the_triton_codec_reads_positional_segments_of_an_older_model() -> None:
    raw = (
        b'{"segments": [[0.5, 1.0, "old"]], "language": "en", "language_probability": 1.0,'
        b' "duration_seconds": 1.0}'
    )
    transcript, model = codec.decode_result(raw)
    assert transcript.segments == (Segment(0.5, 1.0, "old"),)
    assert model is None


def test_the_triton_options_carry_the_language_or_none() -> None:
    assert codec.decode_options(codec.encode_options("fr")) == "fr"
    assert codec.decode_options(codec.encode_options(None)) is None
    assert codec.decode_options(b"") is None


def test_a_segment_view_omits_the_speaker_until_one_is_set() -> None:
    assert msgspec.json.encode(segment_view(Segment(0.0, 1.0, "a"))) == b'{"start":0.0,"end":1.0,"text":"a"}'
    labelled = segment_view(Segment(0.0, 1.0, "a", Speaker("spk_1")))
    assert labelled == SegmentView(0.0, 1.0, "a", speaker_label="spk_1")
    assert msgspec.json.decode(msgspec.json.encode(labelled)) == {
        "start": 0.0, "end": 1.0, "text": "a", "speaker_label": "spk_1"
    }  # fmt: skip
    named = msgspec.json.decode(msgspec.json.encode(segment_view(Segment(0, 1, "b", Speaker("Ann", "id-1")))))
    assert (named["speaker_label"], named["speaker_id"]) == ("Ann", "id-1")
