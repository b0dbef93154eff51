"""Whisper weights come from registry packages (or an operator's directory), verified, never a hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.engines import weights
from scaiecho_module.engines.weights import SttModelSettings
from scaiecho_module.errors import ConfigurationError


def test_base_parts_are_joined_once_and_verified(tmp_path: Path) -> None:
    model_dir = weights.resolve_model_dir(SttModelSettings(name="base", cache_dir=tmp_path))
    assert weights.sha256_of(model_dir / "model.bin") == weights.BASE_SHA256
    expected = {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    assert {p.name for p in model_dir.iterdir()} >= expected
    mtime = (model_dir / "model.bin").stat().st_mtime_ns
    assert weights.resolve_model_dir(SttModelSettings(name="base", cache_dir=tmp_path)) == model_dir
    assert (model_dir / "model.bin").stat().st_mtime_ns == mtime  # not joined again
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["whisper-base"]


def test_tiny_en_is_read_from_its_package_and_verified() -> None:
    model_dir = weights.resolve_model_dir(SttModelSettings(name="tiny.en"))
    assert weights.sha256_of(model_dir / "model.bin") == weights.TINY_EN_SHA256


def test_operator_model_directory_is_used_as_given(tmp_path: Path) -> None:
    tiny = weights.resolve_model_dir(SttModelSettings(name="tiny.en"))
    assert weights.resolve_model_dir(SttModelSettings(name="path", model_path=tiny)) == tiny
    with pytest.raises(ConfigurationError):
        weights.resolve_model_dir(SttModelSettings(name="path", model_path=tmp_path))


def test_model_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCAIECHO_STT_MODEL", "path")
    monkeypatch.setenv("SCAIECHO_STT_MODEL_PATH", str(tmp_path))
    monkeypatch.setenv("SCAIECHO_INLINE_MAX_BYTES", "1024")
    settings = ScaiEchoSettings.from_env()
    assert settings.stt.model_path == tmp_path
    assert settings.inline_max_bytes == 1024
    monkeypatch.setenv("SCAIECHO_STT_MODEL", "large-v3")
    with pytest.raises(ConfigurationError):
        ScaiEchoSettings.from_env()
    monkeypatch.setenv("SCAIECHO_STT_MODEL", "base")
    monkeypatch.setenv("SCAIECHO_DEFAULT_ALLOWED_BACKENDS", "A")
    monkeypatch.setenv("SCAIECHO_DEFAULT_BACKEND", "B")
    with pytest.raises(ConfigurationError):
        ScaiEchoSettings.from_env()
