"""Blob store: a local directory (the embedded default)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import IO

import anyio.to_thread

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,400}$")
_CHUNK = 1024 * 1024


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    async def put(self, key: str, source: IO[bytes]) -> int:
        return await anyio.to_thread.run_sync(self._put, key, source)

    def _put(self, key: str, source: IO[bytes]) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        with tmp.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
        os.replace(tmp, path)
        return path.stat().st_size

    async def get_to_file(self, key: str, target: IO[bytes]) -> int:
        return await anyio.to_thread.run_sync(self._get, key, target)

    def _get(self, key: str, target: IO[bytes]) -> int:
        with self._path(key).open("rb") as src:
            shutil.copyfileobj(src, target, _CHUNK)
        return self._path(key).stat().st_size

    async def delete(self, key: str) -> int:
        path = self._path(key)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size
