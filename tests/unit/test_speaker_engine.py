"""The speaker engine on real voices: CAM++ embeddings and the speech windows of a recording."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np
import pytest

from scaiecho_module.engines.speaker_embedding import EMBEDDING_DIM, SpeakerEmbedder, plan_forwards
from tests.support import recordings
from tests.support.speakers import conversation_voices, embedder, librivox_voices


def _pairs(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    if b is None:
        return np.array([float(x @ y) for x, y in itertools.combinations(a, 2)])
    return (a @ b.T).reshape(-1)


def test_same_speaker_cosine_is_clearly_above_different_speaker() -> None:
    # Stretches of at least 2 s: shorter telephone snippets hold too little of a voice.
    voices = conversation_voices(min_seconds=2.0)
    narrator = embedder().embed(librivox_voices())
    first, second = (embedder().embed(clips) for clips in voices.values())
    same = np.concatenate([_pairs(narrator), _pairs(first), _pairs(second)])
    different = np.concatenate([_pairs(first, second), _pairs(narrator, first), _pairs(narrator, second)])
    assert narrator.shape[1] == EMBEDDING_DIM
    assert np.allclose(np.linalg.norm(narrator, axis=1), 1.0, atol=1e-5)
    # Every same-speaker pair beats every different-speaker pair, by a margin.
    assert same.min() > different.max() + 0.05, (same.min(), different.max())
    assert np.median(same) - np.median(different) > 0.4


def test_voice_windows_of_a_two_speaker_recording_show_two_voices() -> None:
    audio = recordings.read_pcm(recordings.conversation())
    windows = embedder().voice_windows(audio)
    voices = {speaker: embedder().embed(clips) for speaker, clips in conversation_voices().items()}
    assert len(windows.vectors) >= 10
    assert np.all(windows.ends > windows.starts) and windows.voice is not None
    # Each window inside one speaker's own stretch is nearer that speaker's voice than the other's.
    spans = recordings.single_speaker_spans()
    checked = 0
    for start, end, vector in zip(windows.starts, windows.ends, windows.vectors, strict=True):
        owner = [s for s, parts in spans.items() if any(a <= start and end <= b for a, b in parts)]
        if len(owner) != 1:
            continue
        other = next(s for s in voices if s != owner[0])
        assert (voices[owner[0]] @ vector).mean() > (voices[other] @ vector).mean() + 0.1
        checked += 1
    assert checked >= 4
    # Windows only (what a live labeller asks for as the speech comes): the same windows, no voice.
    only = embedder().voice_windows(audio, voice=False)
    assert only.voice is None and np.allclose(only.vectors, windows.vectors, atol=1e-5)
    assert np.allclose(only.starts, windows.starts) and np.allclose(only.ends, windows.ends)
    # Two voices: some windows are far apart; one narrator's windows never are.
    assert _pairs(windows.vectors).min() < 0.2
    narrator = embedder().voice_windows(np.concatenate(librivox_voices()[:3]))
    assert len(narrator.vectors) >= 4 and _pairs(narrator.vectors).min() > 0.4


def test_the_voice_of_all_the_speech_matches_the_speaker() -> None:
    clips = librivox_voices()
    enrolled = embedder().voice_windows(clips[0]).voice
    later = embedder().voice_windows(clips[3]).voice
    stranger = embedder().voice_windows(np.concatenate(conversation_voices()["speaker91"])).voice
    assert enrolled is not None and later is not None and stranger is not None
    assert float(enrolled @ later) > 0.7
    assert float(enrolled @ stranger) < 0.3


def test_silence_has_no_voice() -> None:
    windows = embedder().voice_windows(np.zeros(5 * 16000, dtype=np.float32))
    assert windows.voice is None and windows.vectors.shape == (0, EMBEDDING_DIM)
    assert len(windows.starts) == len(windows.ends) == 0


@pytest.mark.parametrize(
    ("lengths", "lanes"),
    [([298] * 9, 2), ([298] * 8 + [120], 2), ([298] * 9, 1), ([100, 200, 300, 400], 3), ([50], 4), ([], 2)],
)
def test_forward_plan_covers_every_clip_once_in_passes_of_one_length(lengths: list[int], lanes: int) -> None:
    plan = plan_forwards(lengths, lanes)
    indices = [i for lane in plan for batch in lane for i in batch]
    assert sorted(indices) == list(range(len(lengths)))
    assert all(len({lengths[i] for i in batch}) == 1 for lane in plan for batch in lane)
    assert len(plan) <= max(1, lanes) and all(plan)
    if lanes == 1 and lengths:
        # One lane: one pass per length, as before forwards existed.
        assert len(plan) == 1 and len(plan[0]) == len(set(lengths))
    if lengths == [298] * 9:
        # Nine windows of one length on two lanes: five and four, not nine and none.
        assert sorted(sum(len(b) for b in lane) for lane in plan) == ([4, 5] if lanes == 2 else [9])


class _Recorder:
    """Wraps CAM++ to note which thread ran each forward pass."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, batch: Any) -> Any:
        with self.lock:
            self.threads.add(threading.current_thread().name)
        return self.model(batch)


def test_two_forwards_give_the_embeddings_of_one_and_run_on_two_threads() -> None:
    clips = librivox_voices() + [c for parts in conversation_voices(min_seconds=2.0).values() for c in parts]
    one = SpeakerEmbedder(threads=1, forwards=1)
    two = SpeakerEmbedder(threads=1, forwards=2)
    recorder = _Recorder(two._model)
    two._model = recorder
    expected = one.embed(clips)
    got = two.embed(clips)
    assert two.forwards == 2 and got.shape == expected.shape == (len(clips), EMBEDDING_DIM)
    assert np.allclose(got, expected, atol=1e-5)
    assert len(recorder.threads) == 2, recorder.threads
    # One clip: no second lane.
    recorder.threads.clear()
    assert np.allclose(two.embed(clips[:1]), expected[:1], atol=1e-5)
    assert recorder.threads == {threading.current_thread().name}
