"""Word error rate against a reference transcript, after light normalisation.

With ``SCAIECHO_WER_LOG=FILE`` set, every computed WER is appended to FILE with the test that
asked for it, so the margin of each accuracy bound on the locked set can be read off one run
(``docs/testing.md``, "Accuracy bounds")."""

from __future__ import annotations

import os
import re

_REPLACE = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


def words(text: str) -> list[str]:
    tokens = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    return [_REPLACE.get(t, t) for t in tokens]


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    dist = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, dist[0] = dist[0], i
        for j, h in enumerate(hyp, 1):
            prev, dist[j] = dist[j], min(dist[j] + 1, dist[j - 1] + 1, prev + (r != h))
    score = dist[len(hyp)] / max(len(ref), 1)
    if log := os.environ.get("SCAIECHO_WER_LOG"):
        with open(log, "a") as out:
            out.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?')}\t{len(ref)}\t{score:.3f}\n")
    return score
