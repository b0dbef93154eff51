"""Speaker labels on a file's or a job's transcript: diarize, name the clusters, attribute.

- ``SpeakerAttribution.diarize`` runs the pipeline on a speaker node (turns + one centroid per
  cluster; centroids are biometric, held in memory only and never logged or returned).
- ``SpeakerAttribution.speakers`` names each cluster: an enrolled profile of the tenant
  (``SpeakerNamer``), else ``spk_N``, numbered in order of first appearance among the
  unnamed ones. A job's windows share one ``AnonymousVoices`` so a voice keeps its ``spk_N``
  from window to window (centroids linked by cosine).
- ``attribute`` gives each segment the cluster with the largest overlap in the exclusive
  turns, and splits a segment at a speaker change when it has word times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.backends.node import Diarization, SpeakerTurn
from scaiecho_module.backends.priority import Priority
from scaiecho_module.speakers.fleet import SpeakerFleet
from scaiecho_module.speakers.naming import SpeakerNamer, anonymous_label
from scaiecho_module.transcript import Segment, Speaker, Word

# Cosine at or above which an unnamed cluster of a later window is the same voice as one of an
# earlier window: the diarizer's own clustering threshold (Euclidean 0.9 between unit vectors,
# engines/diarization.py), so linking across windows is as strict as clustering within one.
LINK_COSINE = 1.0 - 0.9**2 / 2

# A word or segment in no turn (a pause the diarizer left out) takes the nearest turn's
# speaker when one is this close; farther, it stays unlabelled.
_NEAREST_TURN_SECONDS = 1.0


class AnonymousVoices:
    """The unnamed voices met so far (one job or file): centroid -> ``spk_N``, in memory only."""

    def __init__(self, first: int = 0) -> None:
        self._centroids: list[npt.NDArray[np.float32]] = []
        self._first = first

    def assign(self, centroid: npt.NDArray[np.float32]) -> int:
        """The voice's number: the nearest one met before at ``LINK_COSINE``, else a new one."""
        return self.assign_all([centroid])[0]

    def assign_all(self, centroids: Sequence[npt.NDArray[np.float32]]) -> list[int]:
        """Numbers for one window's unnamed clusters, in their order. One to one: the diarizer
        told them apart, so two clusters of a window never take the same earlier voice (best
        pairs first); a cluster without a match at ``LINK_COSINE`` is a new voice."""
        units = []
        for centroid in centroids:
            vector = np.asarray(centroid, dtype=np.float32)
            norm = float(np.linalg.norm(vector))
            units.append(vector / norm if norm > 0 else vector)
        known = [c / max(float(np.linalg.norm(c)), 1e-9) for c in self._centroids]
        pairs = sorted(
            (
                (float(unit @ voice), row, index)
                for row, unit in enumerate(units)
                for index, voice in enumerate(known)
            ),
            reverse=True,
        )
        chosen: dict[int, int] = {}
        taken: set[int] = set()
        for score, row, index in pairs:
            if score < LINK_COSINE:
                break
            if row not in chosen and index not in taken:
                chosen[row] = index
                taken.add(index)
        numbers = []
        for row, unit in enumerate(units):
            if row in chosen:
                # A running sum: the voice's centroid over every window it spoke in.
                self._centroids[chosen[row]] = self._centroids[chosen[row]] + unit
                numbers.append(self._first + chosen[row])
            else:
                self._centroids.append(unit)
                numbers.append(self._first + len(self._centroids) - 1)
        return numbers


class SpeakerAttribution:
    def __init__(self, fleet: SpeakerFleet, namer: SpeakerNamer) -> None:
        self._fleet = fleet
        self._namer = namer

    def available(self) -> bool:
        return self._fleet.diarizing()

    async def diarize(self, audio: AudioArray, priority: Priority = Priority.SYNC) -> Diarization | None:
        return await self._fleet.diarize(audio, priority)

    async def speakers(
        self,
        tenant_id: str,
        found: Diarization,
        voices: AnonymousVoices | None = None,
        turns: Sequence[SpeakerTurn] | None = None,
    ) -> dict[int, Speaker]:
        """Cluster index -> the speaker its segments carry, for the clusters that hold one of
        ``turns`` (default: the diarization's exclusive turns)."""
        if not found.speakers:
            return {}
        voices = voices or AnonymousVoices()
        names = await self._namer.name(tenant_id, found.centroids)
        # Only clusters that hold a turn get a label (pyannote may report an empty one), and a
        # cluster without an embedding (all-zero centroid) can be neither named nor linked.
        spoken = {turn.speaker for turn in (found.exclusive if turns is None else turns)}
        result: dict[int, Speaker] = {}
        unnamed = []
        # Clusters are numbered by first appearance, so unnamed ones are numbered in that order.
        for cluster, named in enumerate(names):
            if cluster not in spoken:
                continue
            if named is not None:
                result[cluster] = named
            elif np.linalg.norm(found.centroids[cluster]) > 0:
                unnamed.append(cluster)
        numbers = voices.assign_all([found.centroids[c] for c in unnamed])
        for cluster, number in zip(unnamed, numbers, strict=True):
            result[cluster] = Speaker(anonymous_label(number))
        return result


def _cluster_of(start: float, end: float, turns: Sequence[SpeakerTurn]) -> int | None:
    overlap: dict[int, float] = {}
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=overlap.__getitem__)
    gaps = [(max(turn.start - end, start - turn.end), turn.speaker) for turn in turns]
    near = [gap for gap in gaps if gap[0] <= _NEAREST_TURN_SECONDS]
    return min(near)[1] if near else None


def _runs(words: Iterable[Word], turns: Sequence[SpeakerTurn]) -> list[tuple[int | None, list[Word]]]:
    """Consecutive words of one cluster; a word in no turn stays with the run before it."""
    runs: list[tuple[int | None, list[Word]]] = []
    for word in words:
        cluster = _cluster_of(word.start, word.end, turns)
        if runs and (cluster is None or cluster == runs[-1][0]):
            runs[-1][1].append(word)
        elif runs and runs[-1][0] is None:
            runs[-1] = (cluster, runs[-1][1] + [word])  # leading unlabelled words join the first run
        else:
            runs.append((cluster, [word]))
    return runs


def attribute(
    segments: Iterable[Segment], turns: Sequence[SpeakerTurn], speakers: Mapping[int, Speaker]
) -> list[Segment]:
    """Segments with speakers (times of ``segments`` and ``turns`` on one clock). A segment
    with word times is split where its words change speaker, so no segment spans two."""
    out: list[Segment] = []
    for segment in segments:
        runs = _runs(segment.words, turns) if segment.words else []
        if len(runs) <= 1:
            cluster = runs[0][0] if runs else _cluster_of(segment.start, segment.end, turns)
            out.append(replace(segment, speaker=None if cluster is None else speakers.get(cluster)))
            continue
        for index, (cluster, words) in enumerate(runs):
            out.append(
                replace(
                    segment,
                    start=segment.start if index == 0 else words[0].start,
                    end=segment.end if index == len(runs) - 1 else words[-1].end,
                    # Engines differ on a word's leading space: rejoin the bare words.
                    text=" ".join(w.word.strip() for w in words if w.word.strip()),
                    speaker=None if cluster is None else speakers.get(cluster),
                    words=tuple(words),
                )
            )
    return out
