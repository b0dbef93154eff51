"""Speaker labels on a live session's finals: embed on a speaker node, name, else cluster.

The speaker node embeds a session's speech as 1.5 s windows every 0.75 s while it is spoken
(``live/voice_blocks.py``): at a final's end, the final's windows are ready but for its last
few seconds, and its ``voice`` is their mean. Windows are named by the tenant's enrolled profiles
(``SpeakerNamer``: calibrated threshold, erased profiles never), else given to the session's
anonymous voices (``SessionVoices``: running centroids, ``spk_N`` in order of first
appearance). Consecutive windows that agree make a run; a run of one window is noise (a
window across the change, a cough) and joins its neighbour. One run: the whole final takes
the name of its ``voice`` (longer speech, surer). Several: a run of unnamed windows is named
by its mean if it can be (an enrolled voice whose single windows scored under the
threshold), and the final is split at each change, between words (the recogniser gives a
diarizing session's finals word times).

No label (the final goes out as it was): no speaker node (not metered), or too little speech
in the final to embed (under 1 s: "Yes.", "Mm-hm"). Such a short final is not given the
previous speaker's label: in a conversation a short reply is as often the other person.
Embeddings are biometric: never logged, never kept beyond the session's centroids and the
windows of audio not yet in a final.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import AudioArray
from scaiecho_module.live.voice_blocks import BLOCK_SECONDS, VoiceBlocks, unit
from scaiecho_module.speakers.fleet import SpeakerFleet
from scaiecho_module.speakers.naming import SpeakerNamer, anonymous_label
from scaiecho_module.transcript import Delta, Speaker, Word

# Cosine of one 1.5 s window with an anonymous voice (or another window) at which the window
# is that voice, for finding changes inside a final: windows are noisy (same-speaker window
# pairs of the telephone call score 0.2-0.9), so lower than the enrolled-name threshold (0.55).
WINDOW_THRESHOLD = 0.45
# Cosine of a run's or a final's embedding (several windows' worth of speech) with an
# anonymous voice's running centroid at which it is that voice. On the pyannote call
# (bench/diarize_live.py, docs/benchmarks.md) 0.5 merges its two people into one voice
# (48 % DER), 0.55 keeps them apart (15-19 %), 0.6 splits a person in two (21-23 %): 0.55,
# the enrolled-name threshold's figure too.
CLUSTER_THRESHOLD = 0.55

Vectors = npt.NDArray[np.float32]


class SessionVoices:
    """A session's anonymous voices: one running centroid each (sum of unit vectors)."""

    def __init__(
        self, threshold: float = CLUSTER_THRESHOLD, window_threshold: float = WINDOW_THRESHOLD
    ) -> None:
        self._threshold = threshold
        self._window_threshold = window_threshold
        self._sums: list[Vectors] = []

    def __len__(self) -> int:
        return len(self._sums)

    def nearest(
        self, vector: Vectors, extra: list[Vectors] | None = None, window: bool = False
    ) -> int | None:
        """The voice (index) ``vector`` belongs to, at or above the threshold (the window
        threshold for one window); ``extra`` are voices not committed yet (indices after the
        committed ones)."""
        sums = self._sums + (extra or [])
        if not sums:
            return None
        direction = unit(vector)  # a run's mean is a sum of windows: its length is no score
        scores = [float(unit(s) @ direction) for s in sums]
        best = int(np.argmax(scores))
        threshold = self._window_threshold if window else self._threshold
        return best if scores[best] >= threshold else None

    def assign(self, vector: Vectors, weight: float = 1.0) -> int:
        """Add ``vector`` to its voice (a new one when none is near): the voice's index."""
        found = self.nearest(vector)
        if found is None:
            self._sums.append(unit(vector) * weight)
            return len(self._sums) - 1
        self._sums[found] = self._sums[found] + unit(vector) * weight
        return found


# A window's speaker before runs are settled: an enrolled profile, or an anonymous voice
# (committed, or new to this final: index >= the committed count).
Key = Speaker | int


@dataclass(frozen=True, slots=True)
class Run:
    key: Key
    first: int  # window indices, inclusive
    last: int


def runs_of(keys: list[Key]) -> list[Run]:
    """Consecutive equal keys as runs; runs of one window join a neighbour until none is left
    (or one run remains)."""
    runs: list[Run] = []
    for index, key in enumerate(keys):
        if runs and runs[-1].key == key:
            runs[-1] = replace(runs[-1], last=index)
        else:
            runs.append(Run(key, index, index))
    while len(runs) > 1:
        single = next((i for i, run in enumerate(runs) if run.first == run.last), None)
        if single is None:
            break
        into = single - 1 if single > 0 else 1
        runs[into] = Run(runs[into].key, min(runs[into].first, runs[single].first),
                         max(runs[into].last, runs[single].last))  # fmt: skip
        del runs[single]
        merged: list[Run] = []  # neighbours that now agree become one run
        for run in runs:
            if merged and merged[-1].key == run.key:
                merged[-1] = replace(merged[-1], last=run.last)
            else:
                merged.append(run)
        runs = merged
    return runs


# How far from the windows' estimate a change may move to a pause between words (seconds):
# a little more than the windows' step.
PAUSE_REACH = 0.9


def snap_to_pause(words: tuple[Word, ...], cut: float) -> float:
    """The middle of the longest pause between two words within ``PAUSE_REACH`` of ``cut``
    (``cut`` itself when no two words lie on either side of a point that near)."""
    best: tuple[float, float] | None = None  # (pause length, its middle)
    for before, after in itertools.pairwise(words):
        middle = (before.end + after.start) / 2
        if abs(middle - cut) <= PAUSE_REACH and (best is None or after.start - before.end > best[0]):
            best = (after.start - before.end, middle)
    return cut if best is None else best[1]


def split_words(final: Delta, cuts: list[float], speakers: list[Speaker]) -> list[Delta]:
    """``final`` in ``len(cuts) + 1`` parts at the session times ``cuts``, each word in the part
    holding its middle; a part with no words joins the one before (or after)."""
    parts: list[list[Word]] = [[] for _ in speakers]
    for word in final.words:
        middle = (word.start + word.end) / 2
        parts[sum(1 for cut in cuts if middle >= cut)].append(word)
    kept = [(words, speaker) for words, speaker in zip(parts, speakers, strict=True) if words]
    if len(kept) <= 1:
        speaker = kept[0][1] if kept else speakers[0]
        return [replace(final, speaker=speaker)]
    out: list[Delta] = []
    for index, (part, speaker) in enumerate(kept):
        words = part
        if out and out[-1].speaker == speaker:  # an empty part between two of one speaker
            words = [*out.pop().words, *part]
        start = final.start if not out else words[0].start
        end = final.end if index == len(kept) - 1 else words[-1].end
        text = " ".join(w.word for w in words).strip()
        out.append(Delta(text, True, round(start, 3), round(end, 3), speaker, tuple(words)))
    return out


class SessionLabeller:
    """One live session's labeller (``live/labeller.py``): its anonymous voices live as long
    as the session does, so ``spk_N`` is stable within it and means nothing across sessions."""

    def __init__(
        self,
        fleet: SpeakerFleet,
        namer: SpeakerNamer,
        tenant_id: str,
        on_diarized: Callable[[int], None],
        threshold: float = CLUSTER_THRESHOLD,
        block_seconds: float = BLOCK_SECONDS,
    ) -> None:
        self._namer = namer
        self._tenant_id = tenant_id
        self._on_diarized = on_diarized  # samples embedded: the meter's diarized seconds
        self.voices = SessionVoices(threshold)
        self._blocks = VoiceBlocks(fleet, block_seconds)

    def hear(self, audio: AudioArray) -> None:
        self._blocks.hear(audio)

    async def close(self) -> None:
        await self._blocks.close()

    async def label(self, final: Delta, audio: AudioArray) -> list[Delta]:
        # A final's label is part of its latency: what is left to embed goes before partials
        # and file requests.
        windows = await self._blocks.windows_of(final, audio)
        if windows is None:
            return [final]  # no speaker node online: no label, nothing diarized
        self._on_diarized(len(audio))
        if windows.voice is None or not len(windows.vectors):
            return [final]  # too little speech to tell a voice
        names = await self._namer.name(self._tenant_id, np.vstack([windows.vectors, windows.voice[None, :]]))
        keys = self._window_keys(windows.vectors, names[:-1])
        runs = runs_of(keys)
        if len(runs) == 1 or not final.words:
            # One voice (or no word times to split by): the whole speech's embedding decides.
            return [replace(final, speaker=names[-1] or self._anonymous(windows.voice))]
        # A run of windows none of which was named alone may still be an enrolled voice as a
        # whole (its mean is longer speech): asked once more, for all such runs together.
        means = {i: windows.vectors[r.first : r.last + 1].sum(axis=0) for i, r in enumerate(runs)
                 if not isinstance(r.key, Speaker)}  # fmt: skip
        named: dict[int, Speaker | None] = {}
        if means:
            rows = np.stack([unit(mean) for mean in means.values()])
            named = dict(zip(means, await self._namer.name(self._tenant_id, rows), strict=True))
        speakers: list[Speaker] = []
        for index, run in enumerate(runs):
            if isinstance(run.key, Speaker):
                speakers.append(run.key)
            else:
                found = named[index]
                weight = float(run.last - run.first + 1)
                speakers.append(found or self._anonymous(means[index], weight=weight))
        # Each change lies about where the last window of one run and the first of the next
        # overlap (windows step 0.75 s: that close); people change at a pause, so the cut moves
        # to the longest pause between words near there.
        cuts = [
            snap_to_pause(
                final.words, final.start + (float(windows.ends[a.last]) + float(windows.starts[b.first])) / 2
            )
            for a, b in itertools.pairwise(runs)
        ]
        return split_words(final, cuts, speakers)

    def _window_keys(self, vectors: Vectors, names: list[Speaker | None]) -> list[Key]:
        """Each window's provisional speaker; unnamed windows new to the session group among
        themselves (not committed until their run is settled)."""
        new: list[Vectors] = []
        keys: list[Key] = []
        for vector, name in zip(vectors, names, strict=True):
            if name is not None:
                keys.append(name)
                continue
            found = self.voices.nearest(vector, new, window=True)
            if found is None:
                new.append(vector.copy())
                found = len(self.voices) + len(new) - 1
            elif found >= len(self.voices):
                new[found - len(self.voices)] = new[found - len(self.voices)] + vector
            keys.append(found)
        return keys

    def _anonymous(self, vector: Vectors, weight: float = 1.0) -> Speaker:
        return Speaker(anonymous_label(self.voices.assign(vector, weight)))


class LiveDiarizer:
    """Makes each diarizing session's labeller (the speaker nodes and names are shared)."""

    def __init__(self, fleet: SpeakerFleet, namer: SpeakerNamer) -> None:
        self._fleet = fleet
        self._namer = namer

    def session(self, tenant_id: str, on_diarized: Callable[[int], None]) -> SessionLabeller:
        return SessionLabeller(self._fleet, self._namer, tenant_id, on_diarized)
