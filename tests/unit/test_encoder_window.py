"""A live decode's encoder window (SCAIECHO_STREAM_WINDOW_SECONDS): fitted to the audio, real
tiny.en transcribes real speech in it, and the full window comes back for every other decode."""

from __future__ import annotations

import numpy as np
import pytest

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions, window_seconds
from scaiecho_module.engines.triton import codec
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from scaiecho_module.transcript import DecodeOptions
from tests.support.recordings import librivox
from tests.support.text import wer
from tests.support.ws import speech_samples


@pytest.mark.parametrize(
    ("duration", "shortest", "window"),
    [
        (3.3, None, 30),  # not asked: Whisper's own 30 s
        (3.3, 10.0, 10),
        (7.5, 10.0, 11),  # the audio plus its margin, in whole seconds
        (12.2, 10.0, 16),
        (28.0, 10.0, 30),  # never beyond Whisper's window
        (60.0, 10.0, 30),
        (1.0, 5.0, 5),
    ],
)
def test_the_window_fits_the_audio_with_a_margin_and_never_exceeds_thirty_seconds(
    duration: float, shortest: float | None, window: int
) -> None:
    assert window_seconds(duration, shortest) == window


def test_a_window_leaves_a_request_plain_and_crosses_the_triton_wire() -> None:
    assert DecodeOptions(window_seconds=10.0).plain  # a dynamic batch may still take it
    assert DecodeOptions(window_seconds=10.0, temperature=0.0).plain  # a live partial: batched too
    assert not DecodeOptions(window_seconds=10.0, temperature=0.4).plain
    assert not DecodeOptions(window_seconds=10.0, word_timestamps=True).plain
    raw = codec.encode_options("en", DecodeOptions(window_seconds=10.0))
    assert codec.decode_request(raw) == ("en", DecodeOptions(window_seconds=10.0))
    older = b'{"language": "en", "word_timestamps": true}'  # a client from before the field
    assert codec.decode_request(older) == ("en", DecodeOptions(word_timestamps=True))


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    model = resolve_model_dir(SttModelSettings(name="tiny.en"))
    return WhisperEngine(model, "whisper-tiny.en", WhisperOptions(cpu_threads=1))


def _speech(*clips: str) -> tuple[AudioArray, str]:
    samples, _ = speech_samples(*clips, gap_seconds=0.6)
    return samples.astype(np.float32) / 32768.0, " ".join(librivox(c).text for c in clips)


def test_the_encoder_sees_only_the_window(engine: WhisperEngine) -> None:
    model = engine._model
    features = np.zeros((1, 80, 3000), dtype=np.float32)  # what faster-whisper hands it
    full = model.encode(features)
    model.window_frames = 1000
    try:
        short = model.encode(features)
    finally:
        model.window_frames = None
    assert full.shape[1] == 1500 and short.shape[1] == 500  # two frames per encoder position


@pytest.mark.parametrize(("clips", "bound"), [(("0930",), 0.0), (("0870", "0890"), 0.1)])
def test_real_speech_decodes_right_in_its_window_with_word_times_inside_it(
    engine: WhisperEngine, clips: tuple[str, ...], bound: float
) -> None:
    audio, reference = _speech(*clips)
    duration = len(audio) / SAMPLE_RATE
    transcript = engine.transcribe(audio, "en", DecodeOptions(word_timestamps=True, window_seconds=10.0))
    assert wer(reference, transcript.text) <= bound, transcript.text  # 12.4 s gets a 16 s window
    ends = [w.end for s in transcript.segments for w in s.words]
    assert ends and max(ends) <= duration + 0.05 and ends[-1] > duration - 1.5


def test_every_other_decode_gets_whisper_s_full_window_back(engine: WhisperEngine) -> None:
    audio, _ = _speech("0880")
    engine.transcribe(audio, "en", DecodeOptions(window_seconds=10.0))
    extractor = engine._model.feature_extractor
    # faster-whisper keeps a chunk_length in its shared extractor: restored, and no window left.
    assert (extractor.n_samples, extractor.nb_max_frames) == (30 * SAMPLE_RATE, 3000)
    assert engine._model.window_frames is None
    long_audio, long_reference = _speech("0870", "0880", "0890", "0920", "0930")  # 29 s
    assert wer(long_reference, engine.transcribe(long_audio, "en").text) <= 0.1


def test_a_segment_of_nothing_but_punctuation_is_no_speech() -> None:
    from types import SimpleNamespace

    from scaiecho_module.engines.stt import _keep

    def segment(text: str) -> SimpleNamespace:
        return SimpleNamespace(
            text=text, start=1.0, end=30.0, words=None, no_speech_prob=0.1, avg_logprob=-0.3
        )

    assert _keep(segment(" . . . . . ."), 0.0) is None  # a sampled fallback's loop
    assert _keep(segment(" ?!"), 0.0) is None
    kept = _keep(segment(" He was."), 2.0)
    assert kept is not None and (kept.text, kept.start) == ("He was.", 3.0)
