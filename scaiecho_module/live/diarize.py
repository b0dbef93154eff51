"""Speaker labels on a live session's finals: segment and embed on a speaker node, name, else cluster.

While a session's speech is spoken, the speaker node embeds it as 1.5 s windows every 0.75 s
(``live/voice_blocks.py``) and segments its last 10 s every 3 s (``live/local_chunks.py``,
segmentation-3.0: who speaks alone when, as local speakers of each chunk). At a final's end
only its last seconds are left to do, and its ``voice`` is the mean of its windows.

A final's parts (``_by_local_speakers``; the steps are ``live/speaker_changes.py``): local
speakers of overlapping chunks that share speech alone are one person; each person's voice
is the mean of the windows mostly in their turns (a person with under two such windows, a
turn or two under a second, is embedded from their speech alone). A person is named by the
tenant's enrolled profiles (``SpeakerNamer``: calibrated threshold, erased profiles never),
else is who their speech already was in earlier parts, else one of the session's anonymous
voices (``SessionVoices``: running centroids, ``spk_N`` in order of first appearance), never
one another person of the same chunk has. Each word takes the person speaking alone in it,
and the final is split where that changes (parts meet at the change). One person: the whole
final takes the name of its ``voice`` (longer speech, surer). When no node segments (none
online, a failure), runs of agreeing windows decide instead: a run of one window is noise
and joins its neighbour, and the final is split at the longest pause near each change.

No label (the final goes out as it was): no speaker node (not metered), or too little speech
in the final to embed (under 1 s: "Yes.", "Mm-hm"). Such a short final is not given the
previous speaker's label: in a conversation a short reply is as often the other person.
Embeddings are biometric: never logged, never kept beyond the session's centroids and the
windows of audio not yet in a final (and the last 10 s of windows, as context).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.backends.node import VoiceWindows
from scaiecho_module.backends.priority import Urgency
from scaiecho_module.live import speaker_changes as changes
from scaiecho_module.live.local_chunks import LocalChunks
from scaiecho_module.live.voice_blocks import BLOCK_SECONDS, VoiceBlocks, union, unit
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
        # Voices made of a turn or two under a second: their centroid is unsure, so speech is
        # theirs at the window threshold until surer speech has grown them (on the pyannote
        # call, speaker91's "Hello" and "I need to..." made a voice her long turns missed at
        # 0.55, and she became two voices).
        self._unsure: set[int] = set()

    def __len__(self) -> int:
        return len(self._sums)

    def nearest(
        self,
        vector: Vectors,
        extra: list[Vectors] | None = None,
        window: bool = False,
        exclude: frozenset[int] = frozenset(),
    ) -> int | None:
        """The voice (index) ``vector`` belongs to, at or above the threshold (the window
        threshold for one window); ``extra`` are voices not committed yet (indices after the
        committed ones); ``exclude``, voices it cannot be (taken by another local speaker of
        its chunk)."""
        sums = self._sums + (extra or [])
        if len(exclude) >= len(sums):
            return None
        direction = unit(vector)  # a run's mean is a sum of windows: its length is no score

        def margin(index: int, total: Vectors) -> float:
            if index in exclude:
                return -9.0
            unsure = window or index in self._unsure
            return float(unit(total) @ direction) - (self._window_threshold if unsure else self._threshold)

        margins = [margin(i, total) for i, total in enumerate(sums)]
        best = int(np.argmax(margins))
        return best if margins[best] >= 0 else None

    def assign(self, vector: Vectors, weight: float = 1.0) -> int:
        """Add ``vector`` to its voice (a new one when none is near): the voice's index."""
        found = self.nearest(vector)
        return self.create(vector, weight) if found is None else self.grow(found, vector, weight)

    def grow(self, index: int, vector: Vectors, weight: float = 1.0, sure: bool = True) -> int:
        """Add ``vector`` to voice ``index``: ``index``."""
        self._sums[index] = self._sums[index] + unit(vector) * weight
        if sure:
            self._unsure.discard(index)
        return index

    def create(self, vector: Vectors, weight: float = 1.0, sure: bool = True) -> int:
        """A new voice of ``vector`` (``sure``: of more than a short turn or two): its index."""
        if not sure:
            self._unsure.add(len(self._sums))
        self._sums.append(unit(vector) * weight)
        return len(self._sums) - 1


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
    holding its middle; a part with no words joins the one before (or after). The parts are
    ``tile``'s, so they meet at the cuts as the segmentation path's do (docs/api.md)."""
    groups: list[list[Word]] = [[] for _ in speakers]
    for word in final.words:
        middle = (word.start + word.end) / 2
        groups[sum(1 for cut in cuts if middle >= cut)].append(word)
    kept = [index for index, words in enumerate(groups) if words]
    if not kept:
        return [replace(final, speaker=speakers[0])]
    # A kept group begins at the cut before it: words between two kept groups go to the
    # first, an empty group's span too.
    return tile(
        final, [groups[i] for i in kept], [cuts[i - 1] for i in kept[1:]], [speakers[i] for i in kept]
    )


async def _cancelled(task: asyncio.Task[list[changes.Chunk] | None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def tile(final: Delta, parts: list[list[Word]], cuts: list[float], speakers: list[Speaker]) -> list[Delta]:
    """``final`` as consecutive parts, one per word group, meeting at ``cuts`` (so together
    they cover the final's span); parts of one speaker side by side become one."""
    merged: list[tuple[list[Word], Speaker, float]] = []  # words, speaker, where the part ends
    ends = [*cuts, final.end]
    for words, speaker, end in zip(parts, speakers, ends, strict=True):
        if merged and merged[-1][1] == speaker:
            merged[-1] = ([*merged[-1][0], *words], speaker, end)
        else:
            merged.append((list(words), speaker, end))
    if len(merged) == 1:
        return [replace(final, speaker=merged[0][1])]
    out: list[Delta] = []
    start = final.start
    for words, speaker, end in merged:
        text = " ".join(w.word for w in words).strip()
        out.append(
            replace(
                final,
                text=text,
                start=round(start, 3),
                end=round(end, 3),
                speaker=speaker,
                words=tuple(words),
            )
        )
        start = end
    return out


# Earlier parts are remembered this long (a chunk's length and more) ...
_SAID_SECONDS = 20.0
# ... and a local speaker is who it already was when at least this much of its speech alone
# lies in one speaker's earlier parts.
_SAID_OVERLAP = 0.3


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
        self._fleet = fleet
        # The session's speaker work waits behind finals until one of its own finals waits for it.
        self._urgency = Urgency()
        self._blocks = VoiceBlocks(fleet, block_seconds, self._urgency)
        self._chunks = LocalChunks(fleet, urgency=self._urgency)
        self._said: list[tuple[float, float, Key]] = []  # earlier parts: start, end, who

    def hear(self, audio: AudioArray) -> None:
        self._chunks.hear(audio)
        self._blocks.hear(audio)

    async def close(self) -> None:
        await self._blocks.close()
        await self._chunks.close()

    async def label(self, final: Delta, audio: AudioArray, since: float | None = None) -> list[Delta]:
        with self._urgency.urgent(since):
            parts = await self._label(final, audio)
        self._remember(parts)
        return parts

    def _remember(self, parts: list[Delta]) -> None:
        """Who each part was, for the chunks that span it and a later final (``_heard_as``)."""
        for part in parts:
            if part.speaker is not None:
                label = part.speaker.label
                anonymous = part.speaker.id is None and label.startswith("spk_") and label[4:].isdigit()
                key: Key = int(label[4:]) if anonymous else part.speaker
                self._said.append((part.start, part.end, key))
        if parts:
            self._said = [s for s in self._said if s[1] >= parts[-1].end - _SAID_SECONDS]

    def _heard_as(self, local: list[tuple[changes.Chunk, int]], taken: frozenset[int]) -> Key | None:
        """Who a local speaker already was: the speaker of the earlier parts its speech alone
        lies in, when that is most of it (at least ``_SAID_OVERLAP`` seconds and two thirds of
        the labelled time), and not a voice another local speaker of the chunk has taken."""
        seconds: dict[Key, float] = {}
        pieces = [span for chunk, speaker in local for span in changes.alone_spans(chunk, speaker)]
        spans = union(pieces)
        for start, end in spans:
            for said_start, said_end, key in self._said:
                overlap = min(end, said_end) - max(start, said_start)
                if overlap > 0:
                    seconds[key] = seconds.get(key, 0.0) + overlap
        if not seconds:
            return None
        key, best = max(seconds.items(), key=lambda item: item[1])
        if best < _SAID_OVERLAP or best < 2 / 3 * sum(seconds.values()):
            return None
        return None if isinstance(key, int) and key in taken else key

    async def _label(self, final: Delta, audio: AudioArray) -> list[Delta]:
        # A final's label is part of its latency: what is left to embed goes before partials
        # and file requests, and before the finals of speech that ended after this one's.
        # The rest of its windows and the rest of its chunks are asked for at once: under load
        # each node call waits its turn behind other sessions' finals, so one after the other
        # they would wait twice.
        chunks = asyncio.create_task(self._chunks.covering(final.start, final.end)) if final.words else None
        try:
            windows = await self._blocks.windows_of(final, audio)
        except BaseException:
            await _cancelled(chunks)
            raise
        if windows is None or windows.voice is None or not len(windows.vectors):
            await _cancelled(chunks)
            if windows is None:
                return [final]  # no speaker node online: no label, nothing diarized
            self._on_diarized(len(audio))
            return [final]  # too little speech to tell a voice
        self._on_diarized(len(audio))
        if chunks is not None:
            changed = await self._by_local_speakers(final, await chunks, windows)
            if changed is not None:
                return changed
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

    async def _by_local_speakers(
        self, final: Delta, chunks: list[changes.Chunk] | None, windows: VoiceWindows
    ) -> list[Delta] | None:
        """The final labelled by segmentation-3.0's local speakers (``speaker_changes.py``),
        ``None`` when no node segmented it (the windows' runs decide instead)."""
        assert windows.voice is not None
        if chunks is None:
            return None
        earlier = self._blocks.before(final, chunks[0].start)
        known = VoiceWindows(
            starts=np.concatenate([earlier.starts, windows.starts]),
            ends=np.concatenate([earlier.ends, windows.ends]),
            vectors=np.vstack([earlier.vectors, windows.vectors]),
            voice=None,
        )
        # Only the local speakers read somewhere in the final need a voice.
        read = changes.readings(chunks, final.start, final.end)
        wanted = {r for r in read if r is not None}
        # Every local speaker's windows count: one read nowhere may link two that are (a
        # chunk holding both a short turn and the same person's long one).
        everyone = sorted({(i, t.speaker) for i, chunk in enumerate(chunks) for t in chunk.turns})
        people = changes.linked(chunks, everyone)
        voices = changes.local_voices(chunks, known, final.start, set(everyone))
        voices = await self._with_short_turns(chunks, voices, people, wanted)
        if not voices:
            return None
        rows = np.vstack([np.stack([unit(v.vector) for v in voices]), windows.voice[None, :]])
        names = await self._namer.name(self._tenant_id, rows)
        choices = self._local_keys(voices, names[:-1], chunks, people)
        distinct = list(dict.fromkeys(choices))  # the timeline's keys: indices into this
        keys = {(v.chunk, v.speaker): distinct.index(c) for v, c in zip(voices, choices, strict=True)}
        at = changes.timeline(read, keys, final.start)
        found = changes.groups(final.words, changes.word_keys(final.words, at))
        parts = [(None if k is None else distinct[k], words) for k, words in found]
        if len(parts) == 1:  # one voice: the whole speech's embedding decides (surer)
            return [replace(final, speaker=names[-1] or self._anonymous(windows.voice))]
        # The parts' voices, committed: each provisional voice once, in order of first part,
        # a voice new to this final made new (not matched again: that was its provisional key).
        committed = len(self.voices)
        settled: dict[Key | None, Speaker] = {}
        for key, _ in parts:
            if key in settled or not isinstance(key, int):
                continue
            mine = [v for v, c in zip(voices, choices, strict=True) if c == key]
            total = np.sum([v.vector for v in mine], axis=0)
            weight = float(sum(v.windows for v in mine))
            sure = weight >= 2  # two windows of its own, or more
            grown = key < committed
            index = (self.voices.grow(key, total, weight, sure) if grown
                     else self.voices.create(total, weight, sure))  # fmt: skip
            settled[key] = Speaker(anonymous_label(index))
        speakers = [key if isinstance(key, Speaker) else settled[key] for key, _ in parts]
        cuts = [changes.change_at(a[-1], b[0], key, at) for (_, a), (key, b) in itertools.pairwise(found)]
        return tile(final, [words for _, words in parts], cuts, speakers)

    async def _with_short_turns(
        self,
        chunks: list[changes.Chunk],
        voices: list[changes.LocalVoice],
        people: list[set[tuple[int, int]]],
        wanted: set[tuple[int, int]],
    ) -> list[changes.LocalVoice]:
        """``voices``, where a person read in the final has under two windows of their own in
        all their chunks together (a turn or two under a second: "Hello?", "Oh, hi"), with
        their speech alone embedded instead (in the chunk holding most of it): a window
        across such a turn is mostly the other person, and a voice made of it would not match
        the speaker's own later speech (a new ``spk_N``). One call per such person."""
        by_key = {(v.chunk, v.speaker): v for v in voices}
        speech: dict[tuple[int, int], AudioArray] = {}
        for person in people:
            if not person & wanted or sum(by_key[k].windows for k in person if k in by_key) >= 2:
                continue
            lead = max(sorted(person), key=lambda k: changes.alone_seconds(chunks[k[0]], k[1]))
            audio = self._chunks.alone_audio(chunks[lead[0]], lead[1])
            if len(audio) >= changes.SHORT_TURNS_SECONDS * SAMPLE_RATE:
                speech[lead] = audio
        # All at once: they wait their turn on the node together.
        embedded = await asyncio.gather(*(self._fleet.embed(a, self._urgency) for a in speech.values()))
        for (index, speaker), result in zip(speech, embedded, strict=True):
            # Not metered again: this audio is the final's (or an earlier one's), already counted.
            if result is not None and result.voice is not None:
                by_key[(index, speaker)] = changes.LocalVoice(index, speaker, result.voice, 1)
        return sorted(by_key.values(), key=lambda v: (v.chunk, v.speaker))

    def _local_keys(
        self,
        voices: list[changes.LocalVoice],
        names: list[Speaker | None],
        chunks: list[changes.Chunk],
        people: list[set[tuple[int, int]]],
    ) -> list[Key]:
        """Each local speaker's provisional speaker. Local speakers of overlapping chunks that
        share speech alone are one person (``changes.linked``) and decide together: enrolled
        (a named member); else who their speech already was in earlier parts (a chunk spans
        the end of one final and the start of the next); else a session voice, or one new to
        this final (grouped among themselves; committed once the parts are settled). Two
        local speakers of one chunk are two people (segmentation told them apart), so they
        never take one voice: pyannote's own clustering has the same constraint."""
        groups = list(people)
        # The surest first: a group of one short turn takes what the others leave.
        groups.sort(key=lambda g: -sum(v.windows for v in voices if (v.chunk, v.speaker) in g))
        new: list[Vectors] = []
        keys: list[Key | None] = [None] * len(voices)
        for group in groups:
            members = [i for i, v in enumerate(voices) if (v.chunk, v.speaker) in group]
            if not members:
                continue  # no window of its own anywhere: its time goes to its neighbours
            their_chunks = {c for c, _ in group}
            taken = frozenset(
                k for i, k in enumerate(keys) if isinstance(k, int) and voices[i].chunk in their_chunks
            )
            key = self._group_key(voices, names, members, chunks, taken, new)
            for i in members:
                keys[i] = key
        return [k if k is not None else 0 for k in keys]

    def _group_key(
        self,
        voices: list[changes.LocalVoice],
        names: list[Speaker | None],
        members: list[int],
        chunks: list[changes.Chunk],
        taken: frozenset[int],
        new: list[Vectors],
    ) -> Key:
        named = Counter(names[i] for i in members if names[i] is not None).most_common(1)
        if named and named[0][0] is not None:
            return named[0][0]
        earlier = self._heard_as([(chunks[voices[i].chunk], voices[i].speaker) for i in members], taken)
        if earlier is not None:
            return earlier
        vector = unit(np.sum([voices[i].vector for i in members], axis=0))
        windows = sum(voices[i].windows for i in members)
        found = self.voices.nearest(vector, new, window=windows < 2, exclude=taken)
        if found is None:
            new.append(vector.copy())
            return len(self.voices) + len(new) - 1
        if found >= len(self.voices):
            new[found - len(self.voices)] = new[found - len(self.voices)] + vector
        return found

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
