"""Read a multipart upload straight from the ASGI stream, with every limit enforced as bytes arrive.

Litestar's form parser buffers each text part whole before anything can look at it (a 200 MiB
``language_hint`` grew the server by 1.16 GB before it was refused) and reports a client that
leaves mid-upload as a 500. This parser caps text parts at ``text_limit`` bytes, spools the
one file part to a temporary file, stops a body that trickles in too slowly, and turns a
client that left into :data:`CLIENT_DISCONNECTED`; the temporary file is gone on every error.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar

import anyio
import anyio.to_thread
from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
)

from scaiecho_module.errors import (
    CLIENT_DISCONNECTED,
    PAYLOAD_TOO_LARGE,
    REQUEST_TIMEOUT,
    VALIDATION_ERROR,
    ScaiEchoError,
)

T = TypeVar("T")
Receive = Callable[[], Awaitable[Any]]
_SPOOL_IN_MEMORY = 1024 * 1024  # small files never touch the disk


@dataclass(frozen=True, slots=True)
class UploadLimits:
    body_bytes: int
    text_bytes: int = 4096
    parts: int = 16
    idle_seconds: float = 30.0  # no byte at all for this long: the client stalled
    # After the grace period the body must average at least this rate: a body trickling in at
    # 50 B/s would otherwise hold a connection and a temporary file for hours.
    min_bytes_per_second: float = 1024.0
    grace_seconds: float = 30.0


@dataclass(slots=True)
class UploadForm:
    texts: dict[str, str] = field(default_factory=dict)
    file: IO[bytes] | None = None
    filename: str = ""
    size: int = 0

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _invalid(name: str, message: str) -> ScaiEchoError:
    return ScaiEchoError(VALIDATION_ERROR, message, {"field": name})


class _Collector:
    """Turns parser events into the form; a text part over its cap fails at that byte."""

    def __init__(
        self,
        form: UploadForm,
        file_field: str,
        fields: frozenset[str],
        limits: UploadLimits,
        repeatable: frozenset[str] = frozenset(),
    ) -> None:
        self.form, self.file_field, self.fields, self.limits = form, file_field, fields, limits
        self.repeatable = repeatable
        self.segment: MultipartSegment | None = None
        self.text = bytearray()
        self.seen: set[str] = set()

    async def feed(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, MultipartSegment):
                self._start(event)
            elif event:
                await self._data(event)
            else:
                self._end()

    def _start(self, segment: MultipartSegment) -> None:
        if segment.name not in self.fields:
            # Refused at its header: an unknown part's bytes are never kept.
            raise _invalid(segment.name, f"unknown field {segment.name!r}; expected {sorted(self.fields)}")
        if segment.name in self.seen and segment.name not in self.repeatable:
            raise _invalid(segment.name, f"field '{segment.name}' was sent more than once")
        self.seen.add(segment.name)
        self.segment, self.text = segment, bytearray()
        if segment.name == self.file_field and segment.filename:
            self.form.file = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by the form)
            self.form.filename = segment.filename

    async def _data(self, chunk: bytes) -> None:
        segment = self.segment
        assert segment is not None
        if segment.name == self.file_field and segment.filename and self.form.file is not None:
            self.form.size += len(chunk)
            await anyio.to_thread.run_sync(self.form.file.write, chunk)
            return
        self.text += chunk
        if len(self.text) > self.limits.text_bytes:
            raise ScaiEchoError(
                PAYLOAD_TOO_LARGE,
                f"field '{segment.name}' is longer than {self.limits.text_bytes} bytes",
                {"field": segment.name, "limit_bytes": self.limits.text_bytes},
            )

    def _end(self) -> None:
        segment = self.segment
        assert segment is not None
        self.segment = None
        if segment.name == self.file_field and segment.filename:
            return
        try:
            value = bytes(self.text).decode(segment.charset or "utf-8")
            earlier = self.form.texts.get(segment.name)
            # A repeatable field's values join with commas, as if sent comma-separated.
            self.form.texts[segment.name] = value if earlier is None else f"{earlier},{value}"
        except (UnicodeDecodeError, LookupError):
            # Undecodable bytes or an unknown charset are the client's error, not ours.
            raise _invalid(segment.name, f"field '{segment.name}' is not valid text in its charset") from None


async def read_upload_form(
    receive: Receive,
    boundary: bytes,
    file_field: str,
    fields: frozenset[str],
    limits: UploadLimits,
    announced: int | None,
    repeatable: frozenset[str] = frozenset(),
) -> UploadForm:
    """Parse the request body (``fields``: every part name allowed); the caller closes the form.

    A ``repeatable`` field may come more than once (each part still under the text cap, the
    part count still bounded); its values are joined with commas.
    """
    if announced is not None and announced > limits.body_bytes:
        raise _too_large(limits)
    form = UploadForm()
    try:
        parser = PushMultipartParser(boundary, max_segment_count=limits.parts)
        collector = _Collector(form, file_field, fields, limits, repeatable)
        started, received = time.monotonic(), 0
        more = True
        while more:
            with anyio.move_on_after(limits.idle_seconds) as idle:
                message = await receive()
            if idle.cancelled_caught:
                raise ScaiEchoError(REQUEST_TIMEOUT, f"no request data for {limits.idle_seconds:g} s")
            if message["type"] == "http.disconnect":
                raise ScaiEchoError(CLIENT_DISCONNECTED, "the client closed the connection mid-upload")
            chunk: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            received += len(chunk)
            if received > limits.body_bytes:
                raise _too_large(limits)
            elapsed = time.monotonic() - started
            if more and elapsed > limits.grace_seconds and received < limits.min_bytes_per_second * elapsed:
                raise ScaiEchoError(
                    REQUEST_TIMEOUT,
                    f"the request body arrives slower than {limits.min_bytes_per_second:g} bytes/s",
                )
            if chunk:
                await collector.feed(list(parser.parse(chunk)))
        parser.close(check_complete=True)
        if collector.segment is not None:
            raise ParserError("unterminated part")
    except (ParserError, ParserLimitReached) as exc:
        form.close()
        raise _invalid("form", f"the multipart body is malformed: {exc}") from None
    except BaseException:
        form.close()
        raise
    return form


def _too_large(limits: UploadLimits) -> ScaiEchoError:
    return ScaiEchoError(
        PAYLOAD_TOO_LARGE,
        f"request body is larger than the {limits.body_bytes} bytes this endpoint accepts",
        {"limit_bytes": limits.body_bytes},
    )


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(receive: Receive, work: Awaitable[T]) -> T:
    """Await ``work`` while watching the connection; a client that leaves cancels it.

    Once the body is read, the next ASGI message is ``http.disconnect`` when the client goes:
    an inline transcription nobody will read must not keep its place in the engine's queue.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    if task.cancelled():
        raise ScaiEchoError(CLIENT_DISCONNECTED, "the client closed the connection before the result")
    return task.result()
