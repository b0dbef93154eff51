"""Who a diarized voice is: embeddings -> the tenant's enrolled profiles, or nobody.

Shared by live sessions and files/jobs. A row is named only when a speaker node matches it
(cosine at or above the calibrated threshold, never nearest-neighbour) to a profile of the
same tenant that the database still holds as not erased: a node may keep an erased speaker
until the reconciler evicts it, and that must not put the name back on anyone. Unmatched
rows get ``None``; the caller numbers them (``anonymous_label``). Vectors are biometric:
never logged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scaiecho_module.backends.node import MATCH_THRESHOLD
from scaiecho_module.speakers.fleet import SpeakerFleet
from scaiecho_module.speakers.store import SpeakerStore
from scaiecho_module.transcript import Speaker


def anonymous_label(n: int) -> str:
    """The label of the ``n``-th (0-based) voice that matched no enrolled profile."""
    return f"spk_{n}"


class SpeakerNamer:
    def __init__(self, fleet: SpeakerFleet, store: SpeakerStore, threshold: float = MATCH_THRESHOLD) -> None:
        self._fleet = fleet
        self._store = store
        self._threshold = threshold

    async def name(self, tenant_id: str, vectors: npt.NDArray[np.float32]) -> list[Speaker | None]:
        """One entry per row of ``vectors`` ((n, 192) float32): the profile it matches, or None
        (no match, no speaker node online, or the matched profile is erased)."""
        rows = np.asarray(vectors, dtype=np.float32)
        if rows.size == 0:
            return []
        if rows.ndim == 1:
            rows = rows[None, :]
        # A zero row (a cluster with no embedding) can match nobody; the node refuses it.
        usable = np.flatnonzero(np.linalg.norm(rows, axis=1) > 0)
        result: list[Speaker | None] = [None] * len(rows)
        if not len(usable):
            return result
        matches = await self._fleet.match(tenant_id, rows[usable], self._threshold)
        if matches is None:
            return result
        wanted = {m.speaker_id for m in matches if m.speaker_id is not None}
        names = await self._store.live_names(tenant_id, wanted) if wanted else {}
        for row, found in zip(usable, matches, strict=True):
            if found.speaker_id is not None and found.speaker_id in names:
                result[int(row)] = Speaker(label=names[found.speaker_id], id=found.speaker_id)
        return result
