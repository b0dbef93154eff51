"""Import torch-side libraries (torchaudio, pyannote.audio) the way these CPU machines need.

- The registry's torchaudio wheels are built against CUDA torch: their extension libraries fail
  to load on the CPU build (``libc10_cuda.so``), and torchaudio raises at import. What we use
  of it (pyannote's resampling, Kaldi compliance helpers) is pure Python, so the extension is
  reported absent, as torchaudio itself does when its libraries are not packaged.
- torchcodec (file decoding) likewise needs CUDA libraries. We always hand pyannote in-memory
  waveforms, so it is marked unavailable instead of tried.
- pyannote.audio sends usage telemetry unless ``PYANNOTE_METRICS_ENABLED`` is false: it is set
  before pyannote is first imported, and is never left to the environment.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_done = False


def _fail_if_no_align(func: Callable[..., Any]) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("torchaudio forced alignment needs its extension, which is not loaded")

    return fail


def prepare() -> None:
    """Idempotent; call before importing torchaudio or pyannote.audio."""
    global _done  # noqa: PLW0603 - process-wide import setup, once
    with _lock:
        if _done:
            return
        os.environ["PYANNOTE_METRICS_ENABLED"] = "false"
        if "torchaudio" not in sys.modules:
            stub = types.ModuleType("torchaudio._extension")
            stub.__dict__.update(
                _IS_TORCHAUDIO_EXT_AVAILABLE=False,
                _IS_ALIGN_AVAILABLE=False,
                fail_if_no_align=_fail_if_no_align,
                _load_lib=lambda lib: False,
                _check_cuda_version=lambda: None,
            )
            sys.modules["torchaudio._extension"] = stub
        # None in sys.modules makes `import torchcodec` raise ImportError at once.
        sys.modules.setdefault("torchcodec", None)  # type: ignore[arg-type]
        _done = True


def import_pyannote() -> None:
    """Import pyannote.audio quietly (its torchcodec warning is expected: see above)."""
    import warnings

    prepare()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*torchcodec")
        import pyannote.audio  # noqa: F401
