"""Generated hostile input against the served stub host: never a 5xx, a crash or a file left.

Four generators (multipart parts, request headers, WebSocket open frames, mutated container
headers) run 1,100 cases in all against one server. After them the server must still serve,
its temporary directory must be as it was, its log must hold no traceback, and its RSS must
have grown by less than a bound (the figure is in docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.e2e.conftest import SERVER_ENV, Caller, caller_factory
from tests.support import raw_http, recordings
from tests.support.servers import StubServer, stub_server

PATH = "/v1/modules/scaiecho/transcribe"
FUZZ = settings(
    deadline=None,
    database=None,  # no example database in the repository
    derandomize=False,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'scaigrid.db'}"
    env = {**SERVER_ENV, "SCAIGRID_HEADER_TIMEOUT_SECONDS": "5"}
    with stub_server(url, tmp_path_factory.mktemp("fuzz-stub"), env) as running:
        yield running


@pytest.fixture(scope="module")
def fuzzer(fuzz_server: StubServer) -> Caller:
    return caller_factory(fuzz_server)()


@pytest.fixture(scope="module")
def baseline(fuzz_server: StubServer, fuzzer: Caller) -> dict[str, object]:
    # One real transcription first, so the engine's own memory is in the baseline.
    assert fuzzer.transcribe(recordings.librivox("0870").wav).status_code == 200
    return {"rss": raw_http.rss_mib(fuzz_server.process.pid), "tmp": set(fuzz_server.tmp_dir.iterdir())}


def _exchange(server: StubServer, request: bytes) -> int:
    """Send one raw request; the status, or 0 when the server closed without answering."""
    with raw_http.connect(server.base_url, timeout=30) as sock:
        with contextlib.suppress(OSError):  # answered and closed before all of it went out
            sock.sendall(request)
        try:
            status, _, _ = raw_http.read_response(sock, timeout=30)
        except OSError:
            return 0
    return status


def _post(server: StubServer, key: str, body: bytes, content_type: str, extra: str = "") -> int:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return _exchange(server, head.encode("latin-1") + body)


_NAMES = st.sampled_from(["file", "language_hint", "backend_preference", "x", "", "file\x00", "ä"])
_HEADER_TEXT = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters='\r\n"'), max_size=40
)
_PART = st.tuples(
    _NAMES,
    st.one_of(st.none(), _HEADER_TEXT),  # filename
    st.sampled_from(["", "text/plain; charset=utf-8", "text/plain; charset=x-bogus", "audio/wav", "a/b; c"]),
    st.one_of(st.binary(max_size=512), st.sampled_from([b"RIFF", b"en", b"\xff\xfe", b"fLaC" + bytes(40)])),
)


def _multipart(parts: list[tuple[str, str | None, str, bytes]], boundary: str) -> bytes:
    out = b""
    for name, filename, content_type, content in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        out += head.encode("latin-1") + b"\r\n" + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_generated_multipart_bodies_never_crash_the_server(
    fuzz_server: StubServer, fuzzer: Caller, baseline: dict[str, object]
) -> None:
    seen: list[int] = []

    @settings(FUZZ, max_examples=500)
    @given(
        parts=st.lists(_PART, max_size=5),
        truncate=st.one_of(st.none(), st.integers(0, 2000)),
        boundary=st.sampled_from(["b0undary", "x", "a" * 70]),
    )
    def case(parts: list[tuple[str, str | None, str, bytes]], truncate: int | None, boundary: str) -> None:
        body = _multipart(parts, boundary)
        if truncate is not None:
            body = body[:truncate]
        status = _post(fuzz_server, fuzzer.key, body, f"multipart/form-data; boundary={boundary}")
        seen.append(status)
        assert 0 < status < 500, (status, parts, truncate)

    case()
    assert len(seen) >= 500


_TOKEN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-_0123456789"), min_size=1, max_size=20)


def test_generated_request_headers_never_crash_the_server(
    fuzz_server: StubServer, fuzzer: Caller, baseline: dict[str, object]
) -> None:
    seen: list[int] = []

    @settings(FUZZ, max_examples=200)
    @given(
        extra=st.lists(st.tuples(_TOKEN, _HEADER_TEXT), max_size=6),
        content_type=st.one_of(
            st.sampled_from(
                [
                    "multipart/form-data",
                    "multipart/form-data; boundary=",
                    'multipart/form-data; boundary="q"',
                    "application/json",
                    "multipart/form-data; boundary=b; charset=x-bogus",
                ]
            ),
            _HEADER_TEXT,
        ),
        length=st.one_of(st.none(), st.sampled_from(["-1", "abc", "99999999999999999999", "0", "1, 2"])),
        padding=st.integers(0, 40_000),
    )
    def case(extra: list[tuple[str, str]], content_type: str, length: str | None, padding: int) -> None:
        body = _multipart([("file", "a.wav", "audio/wav", b"RIFF")], "b")
        headers = "".join(f"X-{name}: {value}\r\n" for name, value in extra)
        headers += f"X-Padding: {'p' * padding}\r\n" if padding else ""
        head = f"POST {PATH} HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer {fuzzer.key}\r\n"
        head += f"Content-Type: {content_type}\r\n{headers}"
        head += f"Content-Length: {length}\r\n" if length is not None else f"Content-Length: {len(body)}\r\n"
        status = _exchange(fuzz_server, head.encode("latin-1") + b"\r\n" + body)
        seen.append(status)
        assert 0 < status < 500, (status, extra, content_type, length)

    case()
    assert len(seen) >= 200


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_OPEN = st.fixed_dictionaries(
    {"type": st.sampled_from(["open", "close", "nope", ""])},
    optional={
        "media_type": st.sampled_from(["audio/pcm", "audio/webm", "audio/ogg", "video/x", ""]) | _JSON,
        "language_hint": st.sampled_from(["en", "yue", "", "x" * 300]) | _JSON,
        "chunk_seconds": st.sampled_from([1, 2, 30, 31, -1, 10**400]) | _JSON,
        "diarize": _JSON,
        "backend_preference": st.sampled_from(["any", "A", "c"]) | _JSON,
    },
)


def test_generated_websocket_open_frames_never_crash_the_server(
    fuzz_server: StubServer, fuzzer: Caller, baseline: dict[str, object]
) -> None:
    url = fuzzer.server.api.replace("http", "ws", 1) + f"/stream/transcribe?token={fuzzer.key}"
    seen: list[int | None] = []

    @settings(FUZZ, max_examples=200)
    @given(frame=_OPEN | _JSON, raw=st.booleans())
    def case(frame: object, raw: bool) -> None:
        text = json.dumps(frame) if not raw else json.dumps(frame)[:-1]
        code: int | None = None
        try:
            with connect(url, open_timeout=10, close_timeout=5) as socket:
                socket.send(text)
                try:
                    while True:
                        message = socket.recv(timeout=10)
                        if isinstance(message, str) and json.loads(message).get("type") == "ready":
                            break  # a valid open: the session works; we are done with it
                        if isinstance(message, str) and json.loads(message).get("type") == "error":
                            assert json.loads(message)["code"] != "INTERNAL_ERROR", (frame, message)
                except (ConnectionClosed, TimeoutError):
                    pass
                code = socket.close_code
        except InvalidStatus as exc:
            code = exc.response.status_code
        seen.append(code)
        assert code not in {1011, 4500, 500}, (frame, code)

    case()
    assert len(seen) >= 200


def _container(kind: str) -> bytes:
    speech = recordings.read_pcm(recordings.librivox("0870").wav)[:16_000]
    path = Path(recordings.CACHE) / "fuzz" / f"second.{kind}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        container, codec, rate = recordings.FORMATS[kind]
        recordings.write_audio(np.asarray(speech), path, container, codec, rate)
    return path.read_bytes()


def test_mutated_container_headers_never_crash_the_server(
    fuzz_server: StubServer, fuzzer: Caller, baseline: dict[str, object]
) -> None:
    originals = {kind: _container(kind) for kind in ("wav", "flac", "ogg", "mp3", "m4a", "webm")}
    seen: list[int] = []

    @settings(FUZZ, max_examples=200)
    @given(
        kind=st.sampled_from(sorted(originals)),
        edits=st.lists(st.tuples(st.integers(0, 127), st.integers(0, 255)), min_size=1, max_size=8),
        cut=st.one_of(st.none(), st.integers(0, 4000)),
    )
    def case(kind: str, edits: list[tuple[int, int]], cut: int | None) -> None:
        data = bytearray(originals[kind])
        for offset, value in edits:  # the first 128 bytes: where every container's header is
            if offset < len(data):
                data[offset] = value
        blob = bytes(data[:cut] if cut is not None else data)
        body = _multipart([("file", f"a.{kind}", "application/octet-stream", blob)], "b")
        status = _post(fuzz_server, fuzzer.key, body, "multipart/form-data; boundary=b")
        seen.append(status)
        assert 0 < status < 500, (status, kind, edits, cut)

    case()
    assert len(seen) >= 200


def test_after_the_fuzz_the_server_serves_holds_no_leftovers_and_bounded_memory(
    fuzz_server: StubServer, fuzzer: Caller, baseline: dict[str, object]
) -> None:
    # Ordered last in this file; it reads what the four generators above left behind.
    assert fuzz_server.process.poll() is None, "the server crashed"
    time.sleep(1)
    assert set(fuzz_server.tmp_dir.iterdir()) == baseline["tmp"]
    log = fuzz_server.log_text()
    assert "Traceback" not in log
    assert "INTERNAL_ERROR" not in log
    rss = raw_http.rss_mib(fuzz_server.process.pid)
    grown = rss - float(baseline["rss"])  # type: ignore[arg-type]
    print(f"fuzz: server RSS {float(baseline['rss']):.0f} MiB -> {rss:.0f} MiB (+{grown:.0f})")
    assert grown < 300
    resp = httpx.get(f"{fuzz_server.base_url}/healthz", timeout=5)
    assert resp.status_code == 200
    assert fuzzer.transcribe(recordings.librivox("0870").wav).status_code == 200
