"""Blob stores: a local directory (the embedded default) or S3 through aiobotocore.

Each store also sweeps its own half-written uploads (``sweep_partials``): a ``.part`` file or
an S3 multipart upload left by a process killed mid-copy is invisible to every reader, and
nothing else would ever remove it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import anyio.to_thread

from scaiecho_module.host_contract import BlobInfo

_PART_SUFFIX = ".part"
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
        tmp = path.with_name(path.name + _PART_SUFFIX)
        try:
            with tmp.open("wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path.stat().st_size

    async def get_to_file(self, key: str, target: IO[bytes]) -> int:
        return await anyio.to_thread.run_sync(self._get, key, target)

    def _get(self, key: str, target: IO[bytes]) -> int:
        with self._path(key).open("rb") as src:
            shutil.copyfileobj(src, target, _CHUNK)
        return self._path(key).stat().st_size

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def close(self) -> None:
        return None

    async def list_keys(self, prefix: str) -> list[BlobInfo]:
        return await anyio.to_thread.run_sync(self._list, prefix)

    def _list(self, prefix: str) -> list[BlobInfo]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if path.is_file() and not path.name.endswith(_PART_SUFFIX):
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                found.append(BlobInfo(path.relative_to(self.root).as_posix(), modified))
        return found

    async def sweep_partials(self, max_age_seconds: float) -> int:
        """Remove ``.part`` files untouched for ``max_age_seconds``; returns how many."""
        return await anyio.to_thread.run_sync(self._sweep, max_age_seconds)

    def _sweep(self, max_age_seconds: float) -> int:
        cutoff, removed = time.time() - max_age_seconds, 0
        for path in self.root.rglob(f"*{_PART_SUFFIX}"):
            # An upload still being written keeps touching its file: only stale ones go.
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    async def delete(self, key: str) -> int:
        path = self._path(key)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size


_PART = 8 * 1024 * 1024  # S3 multipart part size: uploads stream at bounded memory


class S3BlobStore:
    """S3 (or any S3-compatible server) through aiobotocore; one client for the process."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> None:
        self.bucket = bucket
        self._endpoint_url = endpoint_url
        self._region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    async def client(self) -> Any:
        async with self._lock:
            if self._client is None:
                from aiobotocore.session import get_session

                client = await self._stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=self._endpoint_url,
                        region_name=self._region,
                        aws_access_key_id=self._access_key_id,
                        aws_secret_access_key=self._secret_access_key,
                    )
                )
                await self._ensure_bucket(client)
                self._client = client
        return self._client

    async def _ensure_bucket(self, client: Any) -> None:
        from botocore.exceptions import ClientError

        try:
            await client.head_bucket(Bucket=self.bucket)
        except ClientError:
            # AWS rejects an explicit us-east-1 constraint and requires one everywhere else.
            where = (
                {}
                if self._region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": self._region}}
            )
            await client.create_bucket(Bucket=self.bucket, **where)

    async def put(self, key: str, source: IO[bytes]) -> int:
        client = await self.client()
        first = await anyio.to_thread.run_sync(source.read, _PART)
        if len(first) < _PART:
            await client.put_object(Bucket=self.bucket, Key=key, Body=first)
            return len(first)
        upload = await client.create_multipart_upload(Bucket=self.bucket, Key=key)
        parts: list[dict[str, Any]] = []
        total, chunk = 0, first
        try:
            while chunk:
                number = len(parts) + 1
                resp = await client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=chunk
                )
                parts.append({"ETag": resp["ETag"], "PartNumber": number})
                total += len(chunk)
                chunk = await anyio.to_thread.run_sync(source.read, _PART)
            await client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # Never leave an invisible, billed half-upload behind.
            await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
            raise
        return total

    async def get_to_file(self, key: str, target: IO[bytes]) -> int:
        client = await self.client()
        resp = await client.get_object(Bucket=self.bucket, Key=key)
        total = 0
        async with resp["Body"] as stream:
            while chunk := await stream.read(_CHUNK):
                await anyio.to_thread.run_sync(target.write, chunk)
                total += len(chunk)
        return total

    async def delete(self, key: str) -> int:
        from botocore.exceptions import ClientError

        client = await self.client()
        try:
            head = await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError:
            return 0
        await client.delete_object(Bucket=self.bucket, Key=key)
        return int(head["ContentLength"])

    async def list_keys(self, prefix: str) -> list[BlobInfo]:
        client = await self.client()
        found = []
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found += [BlobInfo(item["Key"], item["LastModified"]) for item in page.get("Contents", [])]
        return found

    async def sweep_partials(self, max_age_seconds: float) -> int:
        """Abort multipart uploads started over ``max_age_seconds`` ago (S3 bills their parts)."""
        client = await self.client()
        cutoff, aborted = datetime.now(UTC) - timedelta(seconds=max_age_seconds), 0
        paginator = client.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    await client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        client = await self.client()
        try:
            await client.head_object(Bucket=self.bucket, Key=key)
        except ClientError:
            return False
        return True

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
