"""The JSON carried in the Triton STT model's OPTIONS and RESULT tensors, both directions.

One file so the client (``backends/triton_node.py``) and the model (``engines/triton_model.py``)
cannot drift apart. A segment travels as ``[start, end, text]``, with a fourth element
``[[start, end, word, probability], ...]`` only when it has word times, so nodes and clients of
the older three-element form still understand each other for plain requests.
"""

from __future__ import annotations

import json
from typing import Any

from scaiecho_module.engines.stt import DecodeOptions, Segment, Transcript, Word


def encode_options(language: str | None, options: DecodeOptions | None) -> str:
    body: dict[str, Any] = {"language": language}
    if options is not None and not options.plain:
        body |= {
            "word_timestamps": options.word_timestamps,
            "prompt": options.prompt,
            "hotwords": options.hotwords,
            "temperature": options.temperature,
        }
    return json.dumps(body)


def decode_options(raw: bytes) -> tuple[str | None, DecodeOptions]:
    body = json.loads(raw.decode() or "{}")
    language = body.get("language")
    temperature = body.get("temperature")
    options = DecodeOptions(
        word_timestamps=bool(body.get("word_timestamps", False)),
        prompt=str(body["prompt"]) if body.get("prompt") else None,
        hotwords=str(body["hotwords"]) if body.get("hotwords") else None,
        temperature=float(temperature) if temperature is not None else None,
    )
    return (str(language) if language else None), options


def encode_result(transcript: Transcript, model: str) -> bytes:
    segments: list[list[Any]] = []
    for s in transcript.segments:
        item: list[Any] = [s.start, s.end, s.text]
        if s.words:
            item.append([[w.start, w.end, w.word, w.probability] for w in s.words])
        segments.append(item)
    return json.dumps(
        {
            "segments": segments,
            "language": transcript.language,
            "language_probability": transcript.language_probability,
            "duration_seconds": transcript.duration_seconds,
            "model": model,
        }
    ).encode()


def decode_segments(payload: dict[str, Any]) -> tuple[Segment, ...]:
    segments = []
    for item in payload["segments"]:
        words = tuple(
            Word(float(a), float(b), str(w), float(p)) for a, b, w, p in (item[3] if len(item) > 3 else ())
        )
        segments.append(Segment(float(item[0]), float(item[1]), str(item[2]), words))
    return tuple(segments)
