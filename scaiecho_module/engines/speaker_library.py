"""A node's enrolled speakers: embeddings held in memory per tenant, matched by cosine.

Used by the in-process node and by the Triton speaker model alike. A tenant's embeddings are
only ever compared with that tenant's windows. Memory only: a node restart empties it, and
the speaker service warms the node again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scaiecho_module.engines.speaker_embedding import EMBEDDING_DIM, Embedding, normalise

# Cosine of a 1.5 s speech window with an enrolled voice at which a window is named: the
# lowest threshold with no false accept on real voices (bench/speakers.py: different-speaker
# trials reach 0.523, same-speaker ones start at 0.559; docs/benchmarks.md). Callers pass
# the threshold to match_speakers; this is the calibrated default to pass.
MATCH_THRESHOLD = 0.55


@dataclass(frozen=True, slots=True)
class SpeakerMatch:
    """The enrolled speaker of a tenant's library nearest an embedding, when past the threshold."""

    speaker_id: str | None
    score: float


def as_embedding(embedding: npt.ArrayLike) -> Embedding:
    """One finite 192-d vector, L2-normalised; ``ValueError`` otherwise (no values in the message)."""
    vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vector.shape != (EMBEDDING_DIM,) or not np.isfinite(vector).all() or not vector.any():
        raise ValueError(f"a speaker embedding is {EMBEDDING_DIM} finite values, not all zero")
    return normalise(vector)


def as_vectors(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    rows = np.asarray(vectors, dtype=np.float32)
    if rows.size == 0:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    rows = rows.reshape(-1, EMBEDDING_DIM) if rows.ndim == 1 else rows
    if rows.ndim != 2 or rows.shape[1] != EMBEDDING_DIM or not np.isfinite(rows).all():
        raise ValueError(f"vectors to match are rows of {EMBEDDING_DIM} finite values")
    return normalise(rows)


class SpeakerLibrary:
    def __init__(self) -> None:
        self._tenants: dict[str, dict[str, Embedding]] = {}
        self._lock = threading.Lock()

    def enroll(self, tenant_id: str, speaker_id: str, embedding: npt.ArrayLike) -> None:
        if not tenant_id or not speaker_id:
            raise ValueError("tenant_id and speaker_id must not be empty")
        vector = as_embedding(embedding)
        with self._lock:
            self._tenants.setdefault(tenant_id, {})[speaker_id] = vector

    def evict(self, tenant_id: str, speaker_id: str) -> bool:
        with self._lock:
            speakers = self._tenants.get(tenant_id, {})
            held = speakers.pop(speaker_id, None) is not None
            if not speakers:
                self._tenants.pop(tenant_id, None)
            return held

    def enrolled(self) -> frozenset[tuple[str, str]]:
        with self._lock:
            return frozenset((t, s) for t, speakers in self._tenants.items() for s in speakers)

    def match(self, tenant_id: str, vectors: npt.ArrayLike, threshold: float) -> list[SpeakerMatch]:
        """For each row, the tenant's nearest speaker if its cosine is >= ``threshold``."""
        rows = as_vectors(vectors)
        with self._lock:
            speakers = dict(self._tenants.get(tenant_id, {}))
        if not speakers or not len(rows):
            return [SpeakerMatch(None, 0.0) for _ in range(len(rows))]
        ids = list(speakers)
        scores = rows @ np.stack([speakers[i] for i in ids]).T
        best = scores.argmax(axis=1)
        matches = []
        for row, index in enumerate(best):
            score = float(scores[row, index])
            matches.append(SpeakerMatch(ids[index] if score >= threshold else None, score))
        return matches
