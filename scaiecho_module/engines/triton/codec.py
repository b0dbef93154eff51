"""The wire format of our STT model on Triton: written by the model, read by the node client.

One file for both ends, with named fields, so that the model (``engines/triton_model.py``,
inside Triton) and the client (``backends/triton_node.py``, in the API process) cannot
disagree on which value is which. Tensors carry no strings (the backend stub works with
numpy 2 that way): the options and the result are UTF-8 JSON in ``UINT8`` tensors.

- input  ``AUDIO``   FP32  [1, -1]  16 kHz mono samples
- input  ``OPTIONS`` UINT8 [1, -1]  ``{"language": "en" | null}``, plus ``word_timestamps``,
  ``prompt``, ``hotwords`` and ``temperature`` when the caller asked for them (absent fields
  are the defaults, so older clients and models still understand each other)
- output ``RESULT``  UINT8 [1, -1]  a ``Transcript`` by its field names, plus ``model``:
  ``{"segments": [{"start", "end", "text", "speaker"}], "language", "language_probability",
  "duration_seconds", "model"}``

The result is the ``Transcript`` dataclass itself, encoded by msgspec: a field added to
``Segment`` (as ``speaker`` was) travels with no change here. Segments written by a model of
an older release, positional ``[start, end, text]``, are still read.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from scaiecho_module.transcript import DecodeOptions, Segment, Transcript

AUDIO = "AUDIO"
OPTIONS = "OPTIONS"
RESULT = "RESULT"


@dataclass(frozen=True, slots=True)
class Options:
    language: str | None = None
    word_timestamps: bool = False
    prompt: str | None = None
    hotwords: str | None = None
    temperature: float | None = None
    window_seconds: float | None = None  # absent in an older client's request: the full window


@dataclass(frozen=True, slots=True)
class Result:
    segments: tuple[Segment | tuple[float, float, str], ...]
    language: str
    language_probability: float
    duration_seconds: float
    model: str | None = None


def encode_options(language: str | None, decode: DecodeOptions | None = None) -> bytes:
    decode = decode or DecodeOptions()
    d = decode
    options = Options(language, d.word_timestamps, d.prompt, d.hotwords, d.temperature, d.window_seconds)
    return msgspec.json.encode(options)


def decode_options(raw: bytes) -> str | None:
    return decode_request(raw)[0]


def decode_request(raw: bytes) -> tuple[str | None, DecodeOptions]:
    """The language hint and the decode options of one request."""
    options = msgspec.json.decode(raw or b"{}", type=Options)
    decode = DecodeOptions(
        options.word_timestamps, options.prompt, options.hotwords, options.temperature, options.window_seconds
    )
    return options.language or None, decode


def encode_result(transcript: Transcript, model: str) -> bytes:
    return msgspec.json.encode(
        Result(
            transcript.segments,
            transcript.language,
            transcript.language_probability,
            transcript.duration_seconds,
            model,
        )
    )


def decode_result(raw: bytes) -> tuple[Transcript, str | None]:
    """The transcript and the model that produced it (``None`` if the model did not say)."""
    result = msgspec.json.decode(raw, type=Result)
    segments = tuple(s if isinstance(s, Segment) else Segment(*s) for s in result.segments)
    return (
        Transcript(segments, result.language, result.language_probability, result.duration_seconds),
        result.model,
    )
