"""Several requests decoded together: what a Triton node does with a dynamic batch.

Each request's speech (Silero VAD, the same options as the sequential path) is packed into
clips of at most 30 s; the clips of every request that share a language go through Whisper's
encoder and decoder as one CTranslate2 batch, and the segments are mapped back onto each
request's own timeline. On a GPU one batched decode costs little more than one clip, which is
where a node's concurrent throughput comes from.

Whisper can end a clip's decode early (one timestamp, then end-of-text) and the sequential
path decodes the rest again. A batched clip whose segments stop well before its speech does
is treated the same way: that request is decoded again on the sequential path, so batching
never loses words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.engines.stt import (
    _LOGPROB_DROP,
    _NO_SPEECH_DROP,
    _UNCOVERED_SPEECH,
    MAX_NEW_TOKENS,
    WhisperEngine,
)
from scaiecho_module.transcript import Segment, Transcript

_CLIP_SECONDS = 30


@dataclass(slots=True)
class _Request:
    audio: AudioArray
    language: str
    probability: float
    spans: list[dict[str, int]]
    segments: list[Segment] = field(default_factory=list)
    complete: bool = True


@dataclass(frozen=True, slots=True)
class _Clip:
    request: int
    features: Any
    metadata: dict[str, Any]


def transcribe_batch(
    engine: WhisperEngine, items: Sequence[tuple[AudioArray, str | None]], max_batch: int = 16
) -> list[Transcript]:
    """Transcripts for ``items`` (audio, language hint), in order; blocking like ``transcribe``."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    model = engine._model
    vad = VadOptions(
        min_silence_duration_ms=engine._vad.min_silence_duration_ms,
        speech_pad_ms=engine._vad.speech_pad_ms,
        max_speech_duration_s=_CLIP_SECONDS,
    )
    requests: dict[int, _Request] = {}
    results: dict[int, Transcript] = {}
    clips: dict[str, list[_Clip]] = defaultdict(list)
    with engine._lock:
        for index, (audio, hint) in enumerate(items):
            duration = len(audio) / SAMPLE_RATE
            language = hint if engine.multilingual else "en"
            spans = get_speech_timestamps(audio, vad) if len(audio) else []
            if not spans:  # silence or noise: empty, as on the sequential path
                results[index] = Transcript((), language or "", 0.0, duration)
                continue
            probability = 1.0
            if language is None:
                language, probability, _ = model.detect_language(audio=audio)
            requests[index] = _Request(audio, language, float(probability), spans)
            chunks, metadata = collect_chunks(audio, spans, max_duration=_CLIP_SECONDS)
            for chunk, meta in zip(chunks, metadata, strict=True):
                features = pad_or_trim(model.feature_extractor(chunk)[..., :-1])
                clips[language].append(_Clip(index, features, meta))
        for language, group in clips.items():
            for start in range(0, len(group), max_batch):
                _decode(engine, language, group[start : start + max_batch], requests)
    for index, request in requests.items():
        duration = len(request.audio) / SAMPLE_RATE
        if not request.complete:
            results[index] = engine.transcribe(request.audio, items[index][1])
            continue
        clamped = tuple(
            s.clipped(duration)
            for s in sorted(request.segments, key=lambda s: s.start)
            if s.start < duration - 0.1
        )
        results[index] = Transcript(clamped, request.language, request.probability, duration)
    return [results[index] for index in range(len(items))]


def _decode(engine: WhisperEngine, language: str, group: list[_Clip], requests: dict[int, _Request]) -> None:
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import BatchedInferencePipeline
    from faster_whisper.vad import SpeechTimestampsMap

    model = engine._model
    multilingual = model.model.is_multilingual
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=language)
    pipeline = BatchedInferencePipeline(model)
    features = np.stack([clip.features for clip in group])
    metadata = [clip.metadata for clip in group]
    outputs = pipeline.forward(features, tokenizer, metadata, _options(engine, tokenizer))
    for clip, subsegments in zip(group, outputs, strict=True):
        request = requests[clip.request]
        timeline = SpeechTimestampsMap(request.spans, SAMPLE_RATE)
        kept = [s for s in subsegments if _spoken(s)]
        clip_end = clip.metadata["offset"] + clip.metadata["duration"]
        covered = max((float(s["end"]) for s in subsegments), default=float(clip.metadata["offset"]))
        if covered < clip_end - _UNCOVERED_SPEECH:
            request.complete = False  # an early end-of-text: the sequential path decodes it again
        for s in kept:
            start = timeline.get_original_time(float(s["start"]))
            end = timeline.get_original_time(float(s["end"]), is_end=True)
            request.segments.append(Segment(round(start, 3), round(end, 3), str(s["text"]).strip()))


def _spoken(segment: dict[str, Any]) -> bool:
    if not str(segment["text"]).strip():
        return False
    return not (segment["no_speech_prob"] > _NO_SPEECH_DROP and segment["avg_logprob"] < _LOGPROB_DROP)


def _options(engine: WhisperEngine, tokenizer: Any) -> Any:
    from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

    return TranscriptionOptions(
        beam_size=engine.options.beam_size,
        best_of=5,
        patience=1,
        length_penalty=1,
        repetition_penalty=1,
        no_repeat_ngram_size=0,
        log_prob_threshold=_LOGPROB_DROP,
        no_speech_threshold=_NO_SPEECH_DROP,
        compression_ratio_threshold=2.4,
        condition_on_previous_text=False,
        prompt_reset_on_temperature=0.5,
        temperatures=[0.0],
        initial_prompt=None,
        prefix=None,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        without_timestamps=False,
        max_initial_timestamp=0.0,
        word_timestamps=False,
        prepend_punctuations="",  # only used for word timestamps, which are off
        append_punctuations="",
        multilingual=False,
        max_new_tokens=MAX_NEW_TOKENS,
        clip_timestamps="0",
        hallucination_silence_threshold=None,
        hotwords=None,
    )
