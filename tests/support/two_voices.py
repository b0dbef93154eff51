"""A live conversation of two real voices with known turns, and the enrollments of both.

- Elinor: the LibriVox narrator. Enrolled from 0880+0890+0920 (consent 0930); she speaks
  0870 and 0930 in the conversation (0930 is her consent recording, never enrolled: only
  the reference is embedded).
- Sheila: speaker91 of the pyannote telephone call. Enrolled from her longest turn with
  nobody else speaking (21.78-27.85 s); she speaks another turn of hers in the conversation
  ("And I'm Sheila in Texas, originally from Chicago.", 14.75-17.8 s).

Elinor's second turn follows Sheila's at once (about 0.25 s of silence between their words,
under the recogniser's 0.5 s that ends an utterance): their words come as one utterance, and
the labeller must split it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support import recordings, speakers

RATE = 16000
ELINOR, SHEILA = "Elinor", "Sheila"
# Her enrolled turn's words (the call's STM transcript).
SHEILA_CONSENT = (
    "Well, there isn't that much difference. "
    "At least you know, they all call me a Yankee down here, so what can I say?"
)


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    who: str


def _call() -> np.ndarray:
    return recordings.read_pcm(recordings.conversation())


def _clip(name: str) -> np.ndarray:
    return recordings.read_pcm(recordings.librivox(name).wav)


def live_conversation() -> tuple[np.ndarray, list[Turn]]:
    """16 kHz int16 samples and the turns, in seconds of the samples."""
    pieces = [
        (_clip("0870"), ELINOR, 1.0),
        (speakers.cut(_call(), 14.75, 17.8), SHEILA, 0.0),
        (_clip("0930"), ELINOR, 1.0),
    ]
    parts: list[np.ndarray] = []
    turns: list[Turn] = []
    position = 0
    for audio, who, gap in pieces:
        turns.append(Turn(position / RATE, (position + len(audio)) / RATE, who))
        parts += [audio, np.zeros(int(gap * RATE), dtype=np.int16)]
        position += len(audio) + int(gap * RATE)
    return np.concatenate(parts).astype(np.int16), turns


def elinor_reference() -> Path:
    gap = np.zeros(8000, dtype=np.int16)
    return speakers._wav(
        "elinor-reference", np.concatenate([_clip("0880"), gap, _clip("0890"), gap, _clip("0920")])
    )


def sheila_recordings() -> tuple[Path, Path, str]:
    """Reference and consent (the same turn) and the consent's words."""
    turn = speakers._wav("sheila-turn", speakers.cut(_call(), 21.78, 27.85))
    return turn, turn, SHEILA_CONSENT


def wav_of(samples: np.ndarray, path: Path) -> Path:
    return recordings.write_audio(samples, path, "wav", "pcm_s16le")
