"""Where a live final changes speaker, from segmentation-3.0's local speakers.

1.5 s embedding windows every 0.75 s cannot see a turn under a second, nor place a change
closer than about a window (on the pyannote call, 21 % DER: "Hello?" and "Oh, hi" went to the
other person, cuts a second off). segmentation-3.0 can: it finds who speaks alone when in up
to 10 s of audio, frame by frame, as local speakers (0-2) that mean nothing outside their
chunk. So a final's span is covered by chunks of up to 10 s (the last ending at the final's
end, each 5 s before the next, with the session's audio before the final as context), and
each chunk's local speakers are told apart by the embedding windows that lie mostly in their
turns. Which voice a local speaker is (enrolled, or the session's ``spk_N``) is then decided
by the labeller (``diarize.py``) from those windows' mean.

Pure functions: the node calls and the naming are the labeller's.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaiecho_module.backends.node import SpeakerTurn, VoiceWindows
from scaiecho_module.live.voice_blocks import unit
from scaiecho_module.transcript import Word

Vectors = npt.NDArray[np.float32]

CHUNK_SECONDS = 10.0  # segmentation-3.0's training chunk
CHUNK_STEP = 5.0  # chunks of a long final overlap by half: each frame is read away from an edge
# A window is a local speaker's when this share of it lies in that speaker's turns alone.
WINDOW_SHARE = 0.6
# A local speaker with no such window (a turn under a second) takes its best window at this share.
LEAST_SHARE = 0.3
# A local speaker with under two windows of its own is embedded from its speech alone in the
# chunk when there is at least this much of it (CAM++ on less is too unsure to keep apart).
SHORT_TURNS_SECONDS = 1.0
_STEP = 0.01  # the timeline's resolution (seconds)
# How far a word with no one speaking alone inside it looks for the nearest who does.
_REACH = 1.0


def chunk_spans(start: float, end: float, context_from: float) -> list[tuple[float, float]]:
    """The chunks (session seconds, in order) over a final from ``start`` to ``end``, with
    audio available from ``context_from``: the last ends at ``end``, each begins up to
    ``CHUNK_SECONDS`` before its end, and they go back by ``CHUNK_STEP`` until one begins at or
    before ``start``."""
    spans: list[tuple[float, float]] = []
    chunk_end = end
    while True:
        chunk_start = max(context_from, chunk_end - CHUNK_SECONDS)
        spans.append((chunk_start, chunk_end))
        if chunk_start <= start:
            return spans[::-1]
        chunk_end -= CHUNK_STEP


@dataclass(frozen=True, slots=True)
class Chunk:
    start: float  # session seconds
    end: float
    turns: tuple[SpeakerTurn, ...]  # seconds from ``start``; local speakers alone

    def alone(self, t: float) -> int | None:
        """The local speaker speaking alone at session time ``t`` (None: nobody, or two)."""
        at = t - self.start
        return next((turn.speaker for turn in self.turns if turn.start <= at < turn.end), None)

    def share(self, speaker: int, start: float, end: float) -> float:
        """The share of session seconds ``start``..``end`` in ``speaker``'s turns alone."""
        inside = sum(
            max(0.0, min(end, self.start + t.end) - max(start, self.start + t.start))
            for t in self.turns
            if t.speaker == speaker
        )
        return inside / max(end - start, 1e-6)


@dataclass(frozen=True, slots=True)
class LocalVoice:
    chunk: int  # index into the final's chunks
    speaker: int  # the chunk's local speaker
    vector: Vectors  # sum of its windows' unit vectors, weighted by share
    windows: int  # how many windows: how sure the vector is


def local_voices(
    chunks: Sequence[Chunk], windows: VoiceWindows, offset: float, wanted: set[tuple[int, int]]
) -> list[LocalVoice]:
    """The ``wanted`` local speakers (chunk index, local speaker) with an embedding: the mean
    of the windows (seconds from ``offset``, the final's start) lying mostly in their turns
    alone; a local speaker with none takes its best window when at least ``LEAST_SHARE`` of it
    is theirs. A local speaker with no window at all gets no voice (its time goes to its
    neighbours)."""
    found: list[LocalVoice] = []
    bounds = zip(windows.starts, windows.ends, strict=True)
    spans = [(offset + float(s), offset + float(e)) for s, e in bounds]
    for index, chunk in enumerate(chunks):
        inside = [i for i, (s, e) in enumerate(spans) if s >= chunk.start - 1e-3 and e <= chunk.end + 1e-3]
        for speaker in sorted({t.speaker for t in chunk.turns if (index, t.speaker) in wanted}):
            shares = [(chunk.share(speaker, *spans[i]), i) for i in inside]
            mine = [(share, i) for share, i in shares if share >= WINDOW_SHARE]
            if not mine:
                best = max(shares, default=(0.0, -1))
                mine = [best] if best[0] >= LEAST_SHARE else []
            if mine:
                vector = np.sum([unit(windows.vectors[i]) * share for share, i in mine], axis=0)
                found.append(LocalVoice(index, speaker, vector.astype(np.float32), len(mine)))
    return found


# Who a local speaker is, as the labeller numbers its choices for a final.
Key = int


def alone_spans(chunk: Chunk, speaker: int) -> list[tuple[float, float]]:
    """A local speaker's turns alone in ``chunk``, in session seconds."""
    return [(chunk.start + t.start, chunk.start + t.end) for t in chunk.turns if t.speaker == speaker]


def alone_seconds(chunk: Chunk, speaker: int) -> float:
    return sum(e - s for s, e in alone_spans(chunk, speaker))


# Two local speakers of overlapping chunks are one person when they share this much speech
# alone (seconds) ...
LINK_SECONDS = 0.3
# ... and at least this share of the one with less speech alone.
LINK_SHARE = 0.2


def linked(chunks: Sequence[Chunk], locals_: Sequence[tuple[int, int]]) -> list[set[tuple[int, int]]]:
    """``locals_`` (chunk index, local speaker) as people: local speakers of different chunks
    that share speech alone are one (segmentation-3.0 heard the same voice in both), never
    two of one chunk (it told them apart). Pairs are joined most shared first."""
    spans = {key: alone_spans(chunks[key[0]], key[1]) for key in locals_}
    total = {key: sum(e - s for s, e in found) for key, found in spans.items()}
    pairs = []
    for a, b in itertools.combinations(locals_, 2):
        if a[0] == b[0]:
            continue
        shared = sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in spans[a] for s2, e2 in spans[b])
        if shared >= LINK_SECONDS and shared >= LINK_SHARE * min(total[a], total[b]):
            pairs.append((shared, a, b))
    groups = {key: {key} for key in locals_}
    for _, a, b in sorted(pairs, reverse=True):
        ga, gb = groups[a], groups[b]
        if ga is gb or {c for c, _ in ga} & {c for c, _ in gb}:
            continue  # one already, or joining would make two of one chunk one person
        ga |= gb
        for key in gb:
            groups[key] = ga
    seen: list[set[tuple[int, int]]] = []
    for key in locals_:
        if not any(groups[key] is g for g in seen):
            seen.append(groups[key])
    return seen


def readings(chunks: Sequence[Chunk], start: float, end: float) -> list[tuple[int, int] | None]:
    """For each moment from ``start`` to ``end`` (every ``_STEP``): the local speaker alone
    then, as (chunk index, local speaker), read in the chunk where the moment lies farthest
    from an edge (the last chunk's right edge is the final's end: nothing later exists to
    read it in); ``None`` for nobody (or two at once)."""
    out: list[tuple[int, int] | None] = []
    last = len(chunks) - 1
    for t in np.arange(start, end + _STEP / 2, _STEP):
        margins = [
            (min(t - c.start, c.end - t) if i < last else t - c.start, i)
            for i, c in enumerate(chunks)
            if c.start <= t <= c.end
        ]
        if not margins:
            out.append(None)
            continue
        index = max(margins)[1]
        local = chunks[index].alone(float(t))
        out.append(None if local is None else (index, local))
    return out


def timeline(
    read: Sequence[tuple[int, int] | None], keys: Mapping[tuple[int, int], Key], start: float
) -> Callable[[float], Key | None]:
    """Who speaks at session time ``t``: the key of the local speaker ``read`` there."""
    owners = [None if r is None else keys.get(r) for r in read]

    def at(t: float) -> Key | None:
        i = round((t - start) / _STEP)
        return owners[i] if 0 <= i < len(owners) else None

    return at


def word_keys(words: Sequence[Word], at: Callable[[float], Key | None]) -> list[Key | None]:
    """Each word's speaker: the most frequent key over its span, else the nearest key within
    ``_REACH`` of it (a word nobody speaks alone in: an overlap, a clipped edge)."""
    out: list[Key | None] = []
    for word in words:
        ticks = np.arange(word.start, max(word.end, word.start + _STEP), _STEP)
        seen = Counter(k for k in (at(float(t)) for t in ticks) if k is not None)
        if seen:
            out.append(seen.most_common(1)[0][0])
            continue
        near: Key | None = None
        for step in range(1, round(_REACH / _STEP) + 1):
            for t in (word.start - step * _STEP, word.end + step * _STEP):
                if (near := at(t)) is not None:
                    break
            if near is not None:
                break
        out.append(near)
    # A word still without one takes its neighbour's.
    for i in range(len(out)):
        if out[i] is None:
            out[i] = next((k for k in out[i::-1] if k is not None), None) or next(
                (k for k in out[i:] if k is not None), None
            )
    return out


def groups(words: Sequence[Word], keys: Sequence[Key | None]) -> list[tuple[Key | None, list[Word]]]:
    """Consecutive words of one key, in order."""
    out: list[tuple[Key | None, list[Word]]] = []
    for key, word in zip(keys, words, strict=True):
        if out and out[-1][0] == key:
            out[-1][1].append(word)
        else:
            out.append((key, [word]))
    return out


def change_at(before: Word, after: Word, key: Key | None, at: Callable[[float], Key | None]) -> float:
    """Where the speaker changes between two words (session seconds): the first moment from
    the middle of ``before`` to the end of ``after`` at which ``key`` (``after``'s speaker)
    speaks alone, else the middle of the gap between them."""
    first = (before.start + before.end) / 2
    for t in np.arange(first, after.end, _STEP):
        if at(float(t)) == key:
            return round(float(t), 3)
    return round((min(before.end, after.start) + max(before.end, after.start)) / 2, 3)
