"""Who spoke when in a whole file: pyannote's SpeakerDiarization pipeline, offline.

segmentation-3.0 finds up to three local speakers per 10 s chunk; CAM++ embeds each local
speaker's speech (the small adapter below, in place of pyannote's own embedding models, which
need a hub); agglomerative clustering joins them into the file's speakers. No PLDA (it ships
with the hub models only). The clustering threshold is a Euclidean distance between
unit vectors: ``sqrt(2 - 2 cos)``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.engines import torch_setup
from scaiecho_module.engines.segmentation import SpeakerTurn, load_segmentation
from scaiecho_module.engines.speaker_embedding import EMBEDDING_DIM, SpeakerEmbedder

# Local speakers whose centroids are nearer than this are one speaker. 0.9 (cosine about 0.6)
# gives 1.3 % DER on the pyannote sample; 1.1 (cosine 0.4) already merges its two people
# (44 % DER): docs/benchmarks.md.
DEFAULT_THRESHOLD = 0.9
# The 10 s segmentation window advances by this fraction of itself. pyannote's default is 0.1
# (every second); each step embeds every local speaker of its window again. Half a window is
# 2-4x cheaper and, on the real conversations of bench/diarize.py, better: 2.2 % DER on the
# pyannote call (1.3 % at 0.1), 1.2 % on the reader-then-call conversation, where 0.1-0.3
# merge the reader into a caller (13 %). docs/benchmarks.md.
DEFAULT_STEP = 0.5
# Clusters with fewer local embeddings are folded into the nearest larger one. A count of
# windows, so it scales with the step: at 0.5 two windows are ~5 s of presence; pyannote's 12
# (at step 0.1) would fold anyone speaking under a minute of a job window into someone else.
DEFAULT_MIN_CLUSTER = 2
# A file's 10 s chunks go through segmentation-3.0 this many to a forward (pyannote's default
# is one at a time): a fifth less segmentation CPU on the 2-core machine (0.205 -> 0.162 s on
# the 30 s call), bit-identical outputs. Not more: SincNet's first layer holds about 5 MB of
# activations per chunk (80 filters x 16,000 frames), so 8 bound the peak to tens of MB on a
# long job window. docs/benchmarks.md.
SEGMENTATION_BATCH = 8


@dataclass(frozen=True, slots=True)
class Diarization:
    """``turns`` may overlap (two people at once); ``exclusive`` never does (for labelling
    transcript segments). ``centroids`` holds one L2-normalised embedding per speaker (row i is
    speaker i), for matching against enrolled profiles. Biometric: never logged."""

    turns: tuple[SpeakerTurn, ...]
    exclusive: tuple[SpeakerTurn, ...]
    centroids: npt.NDArray[np.float32]

    @property
    def speakers(self) -> int:
        return len(self.centroids)

    @classmethod
    def empty(cls) -> Diarization:
        return cls((), (), np.zeros((0, EMBEDDING_DIM), dtype=np.float32))


class _CamPlusPlusAdapter:
    """What pyannote's pipeline asks of an embedding model, answered by CAM++."""

    sample_rate = SAMPLE_RATE
    dimension = EMBEDDING_DIM
    metric = "cosine"
    min_num_samples = SAMPLE_RATE // 4

    def __init__(self, embedder: SpeakerEmbedder) -> None:
        self._embedder = embedder

    def __call__(self, waveforms: Any, masks: Any = None) -> np.ndarray:
        audio = waveforms.numpy()[:, 0, :]  # (batch, samples)
        out = np.full((len(audio), EMBEDDING_DIM), np.nan, dtype=np.float32)
        clips, rows = [], []
        for row, whole in enumerate(audio):
            speech = whole
            if masks is not None:
                frames = masks[row].numpy()
                # The mask is per segmentation frame: stretch it over the samples (nearest frame).
                index = np.minimum((np.arange(len(whole)) * len(frames)) // len(whole), len(frames) - 1)
                speech = whole[frames[index] > 0.5]
            if len(speech) >= self.min_num_samples:
                clips.append(speech.astype(np.float32))
                rows.append(row)
        if clips:
            out[rows] = self._embedder.embed(clips)
        return out


class Diarizer:
    def __init__(
        self,
        embedder: SpeakerEmbedder,
        threshold: float = DEFAULT_THRESHOLD,
        segmentation_step: float = DEFAULT_STEP,
        min_cluster_size: int = DEFAULT_MIN_CLUSTER,
    ) -> None:
        torch_setup.import_pyannote()
        from pyannote.audio import Audio
        from pyannote.audio.core.plda import PLDA
        from pyannote.audio.pipelines import SpeakerDiarization
        from pyannote.audio.pipelines.clustering import Clustering

        # OracleClustering at construction keeps pyannote from fetching its hub embedding model;
        # the CAM++ adapter and agglomerative clustering are put in its place right after.
        # The pipeline insists on a PLDA object even where its clustering uses none: an empty
        # one (never called: only VBx clustering reads it) keeps it from loading hub files.
        unused_plda = PLDA.__new__(PLDA)
        options: dict[str, Any] = {
            "plda": unused_plda,
            "clustering": "OracleClustering",
            "embedding_batch_size": 16,
            "segmentation_step": segmentation_step,
            "segmentation_batch_size": SEGMENTATION_BATCH,
        }
        pipeline: Any = SpeakerDiarization(segmentation=load_segmentation(), **options)
        pipeline.klustering = "AgglomerativeClustering"
        pipeline._embedding = _CamPlusPlusAdapter(embedder)
        pipeline._audio = Audio(sample_rate=SAMPLE_RATE, mono="downmix")
        pipeline.clustering = Clustering["AgglomerativeClustering"].value(metric="cosine")
        pipeline._expects_num_speakers = False
        pipeline.instantiate(
            {
                "segmentation": {"min_duration_off": 0.0},
                "clustering": {
                    "method": "centroid",
                    "min_cluster_size": min_cluster_size,
                    "threshold": threshold,
                },
            }
        )
        self._pipeline: Any = pipeline
        self._lock = threading.Lock()

    def diarize(self, audio: AudioArray) -> Diarization:
        import torch

        # Under a second the segmentation model has nothing to work with (and pyannote fails
        # on a chunk shorter than its receptive field): nobody is found.
        if len(audio) < SAMPLE_RATE:
            return Diarization.empty()

        waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None, :]
        with self._lock, torch.inference_mode():
            output: Any = self._pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": "audio"})
        labels = list(output.speaker_diarization.labels())
        # Speakers numbered by first appearance, so spk_0 is whoever speaks first.
        first: dict[str, float] = {}
        for segment, _, label in output.speaker_diarization.itertracks(yield_label=True):
            first[label] = min(first.get(label, segment.start), segment.start)
        order = sorted(labels, key=lambda label: first.get(label, 0.0))
        index = {label: i for i, label in enumerate(order)}

        def turns(annotation: Any) -> tuple[SpeakerTurn, ...]:
            found = [
                SpeakerTurn(float(segment.start), float(segment.end), index[label])
                for segment, _, label in annotation.itertracks(yield_label=True)
            ]
            return tuple(sorted(found, key=lambda t: (t.start, t.end)))

        centroids = np.zeros((len(order), EMBEDDING_DIM), dtype=np.float32)
        if output.speaker_embeddings is not None and labels:
            raw = np.asarray(output.speaker_embeddings, dtype=np.float32)
            for label, row in zip(labels, raw, strict=True):
                norm = float(np.linalg.norm(row))
                centroids[index[label]] = row / norm if norm > 0 else row
        return Diarization(
            turns(output.speaker_diarization), turns(output.exclusive_speaker_diarization), centroids
        )


class LazyDiarizer:
    """A ``Diarizer`` built on first use: a speaker node that never diarizes never imports
    pyannote (seconds and about 100 MB). Thread-safe."""

    def __init__(self, embedder: SpeakerEmbedder, threshold: float = DEFAULT_THRESHOLD) -> None:
        self._embedder = embedder
        self._threshold = threshold
        self._diarizer: Diarizer | None = None
        self._lock = threading.Lock()

    def get(self) -> Diarizer:
        with self._lock:
            if self._diarizer is None:
                self._diarizer = Diarizer(self._embedder, self._threshold)
            return self._diarizer
