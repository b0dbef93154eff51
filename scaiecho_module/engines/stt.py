"""The STT engine: faster-whisper (CTranslate2) over 16 kHz mono float32 audio.

Used by the in-process node directly and, later, by the Triton model repository's Python
backend, so nothing here knows about HTTP, tenants or nodes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.languages import supported_languages
from scaiecho_module.transcript import DecodeOptions, Segment, Transcript, Word

logger = logging.getLogger("scaiecho.engine")

# Bound on one decode: a model looping on one phrase ("It Was The Best Best Best...") stops
# at this many tokens instead of filling Whisper's 448-token context (188 s on one CPU).
# Fast speech needs about 120 tokens per 30 s window. Not scaled down for short audio: a
# tight cap changes beam search's choices (tiny.en dropped "And" and the final stop of a 7 s
# clip at 49 tokens), and the batched path must decode exactly as this one does.
MAX_NEW_TOKENS = 224
# Compute bound: no chunk starts once the decode has used this many CPU seconds per audio
# second and thread (plus a floor); normal decodes use well under 0.5. CPU time, not wall
# time: on a starved machine a healthy decode is slow, and must not lose its transcript.
_SECONDS_PER_AUDIO_SECOND, _MIN_DECODE_SECONDS = 5.0, 30.0

# A segment Whisper itself thinks is probably not speech, decoded with low confidence, is the
# classic hallucination ("Thank you.", "Subtitles by ..."): drop it.
_NO_SPEECH_DROP = 0.6
_LOGPROB_DROP = -1.0
# Speech the VAD hears this long after the last decoded segment is decoded again on its own.
_UNCOVERED_SPEECH = 1.0
_MAX_PASSES = 4
# A pause for a window's cut: 3 VAD frames (96 ms) under Silero's release threshold.
_PAUSE_FRAMES = 3
_HALLUCINATION_SILENCE = 0.3
# Whisper's window. A decode asked for a shorter one (``DecodeOptions.window_seconds``) gets
# at least its audio plus this margin: tiny.en misheard a 3.3 s sentence in a 6 s window
# ("made, am you will himself") and heard it right from 7 s on (docs/benchmarks.md, "A
# shorter encoder window for live decodes").
_FULL_WINDOW = 30
_WINDOW_MARGIN = 3.0


def window_seconds(duration: float, shortest: float | None) -> int:
    """The encoder window (whole seconds, as faster-whisper's ``chunk_length``) for a decode
    of ``duration`` seconds that asked for at least ``shortest`` (None: Whisper's 30 s)."""
    if shortest is None:
        return _FULL_WINDOW
    return min(_FULL_WINDOW, math.ceil(max(shortest, duration + _WINDOW_MARGIN)))


def _whisper_model(model_dir: Path, options: WhisperOptions) -> Any:
    """A faster-whisper model whose encoder sees only ``window_frames`` of each window.

    faster-whisper pads every window's features to 30 s before the encoder, and the decoder
    then attends over all of it: most of a short utterance's decode is spent on padding
    (tiny.en: a 3 s sentence 0.41 s at 30 s, 0.20 s at 10 s). CTranslate2 takes shorter
    input (OpenNMT/CTranslate2#1446); the decode's ``chunk_length`` keeps faster-whisper's
    own windows and timestamps within it.
    """
    from faster_whisper import WhisperModel

    class Windowed(WhisperModel):  # type: ignore[misc]
        window_frames: int | None = None  # set by one decode under the engine's lock

        def encode(self, features: Any) -> Any:
            if self.window_frames is not None:
                features = features[..., : self.window_frames]
            return super().encode(features)

    return Windowed(
        str(model_dir),
        device=options.device,
        compute_type=options.compute_type,
        cpu_threads=options.cpu_threads,
        local_files_only=True,
    )


def pause_cut(audio: AudioArray, earliest: int) -> int:
    """Where to end a window: in the middle of the latest clear pause after ``earliest``,
    else the end.

    A pause is a run of at least ``_PAUSE_FRAMES`` Silero frames (32 ms, the ONNX model
    that ships with faster-whisper) under its release threshold; a clear one is at least
    half as long as the longest pause there. People on a call leave 0.2-0.5 s between
    turns: padded speech spans (faster-whisper's ``get_speech_timestamps``, which this
    used) left such a pause 80 ms, too little to count, and the cut then split a word.
    """
    from scaiecho_module.engines.vad import FRAME, FrameVad, UtteranceTracker

    probs = FrameVad().feed(audio)
    speech = probs >= UtteranceTracker.threshold
    if not speech.any():
        return len(audio)  # nothing but silence: any cut is clean
    quiet = np.append(probs < UtteranceTracker.threshold - 0.15, False)
    pauses: list[tuple[int, int]] = []  # (first sample, end sample) of each quiet run
    run_start: int | None = None
    for index, is_quiet in enumerate(quiet):
        if is_quiet and run_start is None:
            run_start = index
        elif not is_quiet and run_start is not None:
            # A run to the last frame is the silence after the last speech: it lasts to the end.
            span = (run_start * FRAME, len(audio) if index == len(probs) else index * FRAME)
            if index - run_start >= _PAUSE_FRAMES and sum(span) // 2 >= earliest:
                pauses.append(span)
            run_start = None
    if not pauses:
        return len(audio)
    longest = max(end - start for start, end in pauses)
    start, end = next(p for p in reversed(pauses) if 2 * (p[1] - p[0]) >= longest)
    return (start + end) // 2


class SttEngine(Protocol):
    model_name: str

    def transcribe(
        self, audio: AudioArray, language: str | None = None, options: DecodeOptions | None = None
    ) -> Transcript: ...


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 5
    device: str = "cpu"


class WhisperEngine:
    """One loaded Whisper model. ``transcribe`` is blocking: call it off the event loop."""

    def __init__(self, model_dir: Path, model_name: str, options: WhisperOptions | None = None) -> None:
        from faster_whisper.vad import VadOptions

        self.options = options or WhisperOptions()
        self.model_name = model_name
        self._model = _whisper_model(model_dir, self.options)
        self._vad = VadOptions(min_silence_duration_ms=500, speech_pad_ms=200)
        self._languages = self.languages
        # CTranslate2 serialises per model replica anyway; the lock makes that explicit and
        # keeps concurrent callers from oversubscribing the CPU threads.
        self._lock = threading.Lock()

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    @property
    def languages(self) -> frozenset[str]:
        """Language codes this model has a token for (English-only models: just ``en``).

        faster-whisper lists every code any Whisper has; base has no ``yue`` (large-v3 added
        it), and forcing a missing token decodes garbage for minutes.
        """
        if not self.multilingual:
            return frozenset({"en"})
        tokenizer = self._model.hf_tokenizer
        return frozenset(c for c in supported_languages() if tokenizer.token_to_id(f"<|{c}|>") is not None)

    def speech_end(self, audio: AudioArray) -> float:
        """Seconds to the end of the last speech the VAD finds; 0.0 when there is none."""
        from faster_whisper.vad import get_speech_timestamps

        spans = get_speech_timestamps(audio, self._vad)
        return spans[-1]["end"] / SAMPLE_RATE if spans else 0.0

    def transcribe(
        self, audio: AudioArray, language: str | None = None, options: DecodeOptions | None = None
    ) -> Transcript:
        options = options or DecodeOptions()
        duration = float(len(audio)) / SAMPLE_RATE
        if not self.multilingual:
            language = "en"
        elif language is not None and language not in self._languages:
            language = None  # services refuse such hints; a caller that did not gets detection
        speech_end = self.speech_end(audio) if duration else 0.0
        if speech_end == 0.0:
            # Silence or noise: answer empty rather than letting Whisper invent words.
            return Transcript((), language or "", 0.0, duration)
        segments: list[Segment] = []
        offset = 0.0
        detected, probability = language or "", 0.0
        with self._lock:
            # Whisper sometimes ends a decode early (one timestamp, then end-of-text) and the
            # rest of its 30 s chunk is skipped. When the VAD still hears speech after the
            # last segment, decode the remainder on its own instead of losing it.
            for attempt in range(_MAX_PASSES):
                rest = audio[int(offset * SAMPLE_RATE) :]
                found, pass_language, pass_probability = self._decode(rest, language, offset, options)
                if attempt == 0:  # the first pass heard the most audio: its language stands
                    detected, probability = pass_language, pass_probability
                # A segment starting where the audio ends is Whisper guessing words it never heard
                # (the audio was cut mid-utterance); the next window transcribes them for real.
                segments.extend(s for s in found if s.start < duration - 0.1)
                covered = max((s.end for s in found), default=offset)
                if not found or covered >= speech_end - _UNCOVERED_SPEECH or covered <= offset:
                    break
                offset = covered
        clamped = tuple(s.clipped(duration) for s in segments)
        return Transcript(clamped, detected, probability, duration)

    def _decode(
        self, audio: AudioArray, language: str | None, offset: float, options: DecodeOptions
    ) -> tuple[list[Segment], str, float]:
        extra: dict[str, Any] = {}
        if options.temperature is not None:
            extra["temperature"] = options.temperature
        if options.prompt and options.word_timestamps:
            # A prompted decode of a short clip (a live final with the session's text) tends
            # to go on past the speech ("Thank you."): faster-whisper's check skips such
            # words when they follow a pause.
            extra["hallucination_silence_threshold"] = _HALLUCINATION_SILENCE
        seconds = len(audio) / SAMPLE_RATE
        window = window_seconds(seconds, options.window_seconds)
        try:
            self._model.window_frames = None if window == _FULL_WINDOW else window * 100
            return self._windowed(audio, language, offset, options, window, extra)
        finally:
            # faster-whisper keeps a decode's chunk_length in its shared feature extractor
            # (language detection and the batched path read it): put Whisper's own back.
            self._model.window_frames = None
            extractor = self._model.feature_extractor
            extractor.n_samples = _FULL_WINDOW * extractor.sampling_rate
            extractor.nb_max_frames = extractor.n_samples // extractor.hop_length

    def _windowed(
        self,
        audio: AudioArray,
        language: str | None,
        offset: float,
        options: DecodeOptions,
        window: int,
        extra: dict[str, Any],
    ) -> tuple[list[Segment], str, float]:
        seconds = len(audio) / SAMPLE_RATE
        raw_segments, info = self._model.transcribe(
            audio,
            chunk_length=window,
            language=language,
            beam_size=self.options.beam_size,
            vad_filter=True,
            vad_parameters=self._vad,
            condition_on_previous_text=False,
            no_speech_threshold=_NO_SPEECH_DROP,
            log_prob_threshold=_LOGPROB_DROP,
            max_new_tokens=MAX_NEW_TOKENS,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.prompt,
            hotwords=options.hotwords,
            **extra,
        )
        # Segments decode lazily, chunk by chunk: stop pulling once the compute bound is spent.
        allowed = self.options.cpu_threads * max(_MIN_DECODE_SECONDS, _SECONDS_PER_AUDIO_SECOND * seconds)
        deadline = time.process_time() + allowed
        kept: list[Segment] = []
        for raw in raw_segments:
            if (segment := _keep(raw, offset)) is not None:
                kept.append(segment)
            if time.process_time() > deadline:
                logger.warning("decode of %.1f s of audio hit its compute bound; rest dropped", seconds)
                break
        return kept, str(info.language), float(info.language_probability)


def _keep(segment: Any, offset: float) -> Segment | None:
    text = str(segment.text).strip()
    if not any(c.isalnum() for c in text):
        # Nothing but punctuation (". . . ." as a sampled fallback decode loops on it): no
        # speech. Dropped, its span counts as uncovered, so the next pass decodes it again
        # (a job slice lost its last 40 s of speech to such a loop).
        return None
    if segment.no_speech_prob > _NO_SPEECH_DROP and segment.avg_logprob < _LOGPROB_DROP:
        return None
    words = tuple(
        Word(
            round(float(w.start), 3),
            round(float(w.end), 3),
            str(w.word).strip(),
            round(float(w.probability), 4),
        )
        for w in (segment.words or ())
        if str(w.word).strip()
    )
    start, end = round(float(segment.start), 3), round(float(segment.end), 3)
    return Segment(start, end, text, words=words).shifted(offset)
