"""The speaker calls over Triton: one codec, used by the node (client) and the model (server).

Model ``scaiecho_speaker`` (``triton_models/scaiecho_speaker``), no batching. Tensors, no
strings (the backend stub works with numpy 2):

- input  ``REQUEST`` UINT8 [-1]  UTF-8 JSON: {"op": "embed" | "enroll" | "evict" | "list" | "match"
                                  | "diarize" | "segment", "tenant_id": str, "speaker_id": str,
                                  "threshold": float,
                                  "voice": bool (embed: also the voice of all the speech; default true)}
- input  ``AUDIO``   FP32  [-1]  16 kHz mono samples (``embed``, ``diarize``, ``segment``;
                                  optional otherwise)
- input  ``VECTORS`` FP32  [-1]  embeddings, rows of 192 flattened (``enroll``: one; ``match``: any)
- output ``RESULT``  UINT8 [-1]  UTF-8 JSON, by op: embed {"starts", "ends", "voice": bool};
                                  evict {"held": bool}; list {"enrolled": [[tenant, speaker], ...]};
                                  match {"matches": [[speaker_id | null, score], ...]}; enroll {};
                                  diarize {"turns": [[start, end, k], ...], "exclusive": [...],
                                  "speakers": n}; segment {"turns": [[start, end, k], ...]}
                                  (local speakers alone, k 0-2, no embeddings)
- output ``VECTORS`` FP32  [-1]  embed: the windows' rows, then the voice's row when "voice";
                                  diarize: the n speakers' centroids, then one zero row (so the
                                  tensor is never empty); requested for embed and diarize only
                                  (no zero-size tensors on the wire)

Biometric data travels only in ``AUDIO``/``VECTORS``; nothing here logs a tensor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from scaiecho_module.engines.diarization import Diarization
from scaiecho_module.engines.segmentation import SpeakerTurn
from scaiecho_module.engines.speaker_embedding import EMBEDDING_DIM, VoiceWindows
from scaiecho_module.engines.speaker_library import SpeakerMatch

MODEL = "scaiecho_speaker"
REQUEST, AUDIO, VECTORS, RESULT = "REQUEST", "AUDIO", "VECTORS", "RESULT"

Floats = npt.NDArray[np.float32]


class SpeakerOp(StrEnum):
    EMBED = "embed"
    ENROLL = "enroll"
    EVICT = "evict"
    LIST = "list"
    MATCH = "match"
    DIARIZE = "diarize"
    SEGMENT = "segment"

    @property
    def returns_vectors(self) -> bool:
        return self in (SpeakerOp.EMBED, SpeakerOp.DIARIZE)


def _none() -> Floats:
    return np.zeros(0, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class SpeakerRequest:
    op: SpeakerOp
    tenant_id: str = ""
    speaker_id: str = ""
    threshold: float = 0.0
    audio: Floats = field(default_factory=_none)
    vectors: Floats = field(default_factory=_none)
    voice: bool = True

    def tensors(self) -> dict[str, np.ndarray]:
        header: dict[str, Any] = {"op": self.op.value, "tenant_id": self.tenant_id}
        header.update(speaker_id=self.speaker_id, threshold=self.threshold)
        if not self.voice:
            header["voice"] = False  # absent means true: older callers' requests read the same
        tensors: dict[str, np.ndarray] = {REQUEST: _json_tensor(header)}
        if self.audio.size:
            tensors[AUDIO] = np.ascontiguousarray(self.audio, dtype=np.float32).reshape(-1)
        if self.vectors.size:
            tensors[VECTORS] = np.ascontiguousarray(self.vectors, dtype=np.float32).reshape(-1)
        return tensors

    @classmethod
    def from_tensors(cls, get: Callable[[str], np.ndarray | None]) -> SpeakerRequest:
        raw = get(REQUEST)
        if raw is None:
            raise ValueError("REQUEST is missing")
        header = json.loads(raw.tobytes().decode())
        audio, vectors = get(AUDIO), get(VECTORS)
        return cls(
            op=SpeakerOp(header["op"]),
            tenant_id=str(header.get("tenant_id") or ""),
            speaker_id=str(header.get("speaker_id") or ""),
            threshold=float(header.get("threshold") or 0.0),
            voice=bool(header.get("voice", True)),
            audio=_none() if audio is None else audio.astype(np.float32, copy=False).reshape(-1),
            vectors=_none() if vectors is None else vectors.astype(np.float32, copy=False).reshape(-1),
        )


@dataclass(frozen=True, slots=True)
class SpeakerReply:
    result: Mapping[str, Any]
    vectors: Floats = field(default_factory=_none)

    def tensors(self) -> dict[str, np.ndarray]:
        return {RESULT: _json_tensor(dict(self.result)), VECTORS: self.vectors.reshape(-1).astype(np.float32)}

    @classmethod
    def from_tensors(cls, result: np.ndarray, vectors: np.ndarray | None) -> SpeakerReply:
        payload = json.loads(result.tobytes().decode())
        return cls(payload, _none() if vectors is None else vectors.astype(np.float32).reshape(-1))

    # Typed views, one per op.

    @classmethod
    def of_windows(cls, windows: VoiceWindows) -> SpeakerReply:
        rows = [windows.vectors] + ([windows.voice[None, :]] if windows.voice is not None else [])
        result = {
            "starts": [float(s) for s in windows.starts],
            "ends": [float(e) for e in windows.ends],
            "voice": windows.voice is not None,
        }
        return cls(result, np.concatenate(rows).reshape(-1))

    def windows(self) -> VoiceWindows:
        rows = self.vectors.reshape(-1, EMBEDDING_DIM)
        voice = rows[-1].copy() if self.result["voice"] else None
        count = len(self.result["starts"])
        return VoiceWindows(
            starts=np.asarray(self.result["starts"], dtype=np.float32),
            ends=np.asarray(self.result["ends"], dtype=np.float32),
            vectors=rows[:count].copy(),
            voice=voice,
        )

    @classmethod
    def of_matches(cls, matches: list[SpeakerMatch]) -> SpeakerReply:
        return cls({"matches": [[m.speaker_id, m.score] for m in matches]})

    def matches(self) -> list[SpeakerMatch]:
        return [
            SpeakerMatch(None if s is None else str(s), float(score)) for s, score in self.result["matches"]
        ]

    @classmethod
    def of_diarization(cls, found: Diarization) -> SpeakerReply:
        def rows(turns: tuple[SpeakerTurn, ...]) -> list[list[float]]:
            return [[t.start, t.end, t.speaker] for t in turns]

        result = {"turns": rows(found.turns), "exclusive": rows(found.exclusive), "speakers": found.speakers}
        padding = np.zeros((1, EMBEDDING_DIM), dtype=np.float32)
        return cls(result, np.concatenate([found.centroids.reshape(-1, EMBEDDING_DIM), padding]).reshape(-1))

    def diarization(self) -> Diarization:
        def turns(rows: list[list[float]]) -> tuple[SpeakerTurn, ...]:
            return tuple(SpeakerTurn(float(s), float(e), int(k)) for s, e, k in rows)

        count = int(self.result["speakers"])
        centroids = self.vectors.reshape(-1, EMBEDDING_DIM)[:count].copy()
        return Diarization(turns(self.result["turns"]), turns(self.result["exclusive"]), centroids)

    @classmethod
    def of_local_turns(cls, turns: tuple[SpeakerTurn, ...]) -> SpeakerReply:
        return cls({"turns": [[t.start, t.end, t.speaker] for t in turns]})

    def local_turns(self) -> tuple[SpeakerTurn, ...]:
        return tuple(SpeakerTurn(float(s), float(e), int(k)) for s, e, k in self.result["turns"])

    @classmethod
    def of_enrolled(cls, enrolled: frozenset[tuple[str, str]]) -> SpeakerReply:
        return cls({"enrolled": sorted([t, s] for t, s in enrolled)})

    def enrolled(self) -> frozenset[tuple[str, str]]:
        return frozenset((str(t), str(s)) for t, s in self.result["enrolled"])

    @classmethod
    def of_held(cls, held: bool) -> SpeakerReply:
        return cls({"held": held})

    def held(self) -> bool:
        return bool(self.result["held"])


def _json_tensor(payload: Mapping[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(payload).encode(), dtype=np.uint8).copy()
