"""Hostile clients: huge text fields, clients that leave, slow bodies, too much inline work."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SERVER_ENV, Caller, MakeCaller, caller_factory
from tests.e2e.test_budget_holds import speech_file
from tests.support import raw_http
from tests.support.db import usage_rows
from tests.support.servers import StubServer, stub_server

PATH = "/v1/modules/scaiecho/transcribe"
MIB = 1024 * 1024

# Limits small enough that a handful of requests reach them, deadlines short enough to wait for.
LIMITED_ENV = {
    **SERVER_ENV,
    "SCAIECHO_INLINE_MAX_CONCURRENT": "2",
    "SCAIECHO_INLINE_MAX_CONCURRENT_PER_TENANT": "1",
    "SCAIECHO_RETRY_AFTER_SECONDS": "7",
    "SCAIECHO_UPLOAD_IDLE_SECONDS": "3",
    "SCAIECHO_UPLOAD_GRACE_SECONDS": "2",
    "SCAIECHO_UPLOAD_MIN_BYTES_PER_SECOND": "1024",
    "SCAIGRID_HEADER_TIMEOUT_SECONDS": "2",
}
LIMITED_HEADER_TIMEOUT = 2


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('limited') / 'scaigrid.db'}"
    with stub_server(url, tmp_path_factory.mktemp("limited-stub"), LIMITED_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def twenty_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_file(20.0, tmp_path_factory.mktemp("clips") / "twenty.wav")


def _error(body: bytes) -> dict[str, object]:
    error: dict[str, object] = json.loads(body)["error"]
    return error


def test_a_huge_text_field_is_refused_while_it_arrives(caller: Caller, twenty_seconds: Path) -> None:
    server = caller.server
    rss_before = raw_http.rss_mib(server.process.pid)
    with raw_http.connect(server.base_url) as sock:
        # Under the body limit (12 MiB here), so only the text cap can stop it.
        sock.sendall(raw_http.request_head(PATH, caller.key, 11 * MIB))
        sock.sendall(raw_http.part("file", twenty_seconds.read_bytes(), "a.wav"))
        sock.sendall(
            b"--"
            + raw_http.BOUNDARY.encode()
            + b'\r\nContent-Disposition: form-data; name="language_hint"\r\n\r\n'
        )
        try:
            for _ in range(10):  # 10 MiB of language_hint; the server answers after 4 KiB
                sock.sendall(b"e" * MIB)
        except OSError:
            pass  # the server answered and closed: what we want
        status, _, body = raw_http.read_response(sock)
    assert status == 413
    assert _error(body)["code"] == "PAYLOAD_TOO_LARGE"
    assert _error(body)["details"] == {"field": "language_hint", "limit_bytes": 4096}
    assert raw_http.rss_mib(server.process.pid) - rss_before < 64  # not 1.16 GB


def _log_lines(server: StubServer, marker: str) -> list[str]:
    return [line for line in server.log_text().splitlines() if marker in line]


def _wait_for_log(server: StubServer, marker: str, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lines := _log_lines(server, marker):
            return lines
        time.sleep(0.2)
    raise AssertionError(f"no log line with {marker!r}")


def test_a_client_that_leaves_mid_upload_is_499_not_500(
    make_caller: MakeCaller, twenty_seconds: Path
) -> None:
    caller = make_caller()
    server = caller.server
    before = set(server.tmp_dir.iterdir())
    marker = f"?leaving={caller.tenant_slug}"
    with raw_http.connect(server.base_url) as sock:
        sock.sendall(raw_http.request_head(PATH + marker, caller.key, 2 * MIB))
        sock.sendall(raw_http.part("file", twenty_seconds.read_bytes()[: MIB // 2], "a.wav")[:-2])
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_RDWR)
    [line] = _wait_for_log(server, marker)
    assert '" 499 ' in line, line
    assert "Traceback" not in server.log_text()
    assert set(server.tmp_dir.iterdir()) == before  # its spooled part is gone


def test_a_client_that_leaves_before_the_result_is_not_charged(
    make_caller: MakeCaller, twenty_seconds: Path
) -> None:
    caller = make_caller()
    server = caller.server
    marker = f"?gone={caller.tenant_slug}"
    body = raw_http.part("file", twenty_seconds.read_bytes(), "a.wav") + raw_http.closing()
    with raw_http.connect(server.base_url) as sock:
        sock.sendall(raw_http.request_head(PATH + marker, caller.key, len(body)) + body)
        sock.shutdown(socket.SHUT_RDWR)
    [line] = _wait_for_log(server, marker)
    assert '" 499 ' in line, line
    time.sleep(1)
    assert usage_rows(server.database_url, caller.tenant_id) == []


def _post_all(callers: list[Caller], clip: Path) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(callers)) as pool:
        return list(pool.map(lambda c: c.transcribe(clip), callers))


def test_a_tenant_past_its_inline_share_gets_429_with_retry_after(
    limited: StubServer, twenty_seconds: Path
) -> None:
    caller = caller_factory(limited)()
    responses = _post_all([caller] * 4, twenty_seconds)
    refused = [r for r in responses if r.status_code == 429]
    assert refused, [r.status_code for r in responses]
    assert {r.status_code for r in responses} <= {200, 429}
    for resp in refused:
        assert resp.headers["retry-after"] == "7"
        assert resp.json()["error"]["code"] == "TOO_MANY_REQUESTS"
    # Refused work is not charged; served work is, exactly.
    served = sum(1 for r in responses if r.status_code == 200)
    assert len(usage_rows(limited.database_url, caller.tenant_id)) == served


def test_a_process_at_its_inline_limit_answers_503_with_retry_after(
    limited: StubServer, twenty_seconds: Path
) -> None:
    make = caller_factory(limited)
    responses = _post_all([make() for _ in range(5)], twenty_seconds)
    busy = [r for r in responses if r.status_code == 503]
    assert busy, [r.status_code for r in responses]
    assert {r.status_code for r in responses} <= {200, 503}
    for resp in busy:
        assert resp.headers["retry-after"] == "7"
        assert resp.json()["error"]["code"] == "SERVER_BUSY"


def test_a_body_that_trickles_in_is_timed_out_with_408(limited: StubServer) -> None:
    caller = caller_factory(limited)()
    started = time.monotonic()
    with raw_http.connect(limited.base_url) as sock:
        sock.sendall(raw_http.request_head(PATH, caller.key, 10_000))
        try:
            for _ in range(100):  # 50 B/s for up to 20 s, until the server answers
                sock.sendall(b"x" * 10)
                if select.select([sock], [], [], 0.2)[0]:
                    break
        except OSError:
            pass
        status, _, body = raw_http.read_response(sock)
        answered = time.monotonic() - started
    assert status == 408
    assert _error(body)["code"] == "REQUEST_TIMEOUT"
    assert answered < 15  # the grace period is 2 s


def test_a_body_that_stalls_is_timed_out_with_408(limited: StubServer) -> None:
    caller = caller_factory(limited)()
    with raw_http.connect(limited.base_url) as sock:
        sock.sendall(raw_http.request_head(PATH, caller.key, 10_000) + b"--")
        status, _, body = raw_http.read_response(sock, timeout=20)
    assert status == 408
    assert _error(body)["code"] == "REQUEST_TIMEOUT"


def _raw_exchange(server: StubServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with raw_http.connect(server.base_url) as sock:
        sock.sendall(request)
        return raw_http.read_response(sock, timeout=20)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ("Content-Length: -1\r\n", 400, "VALIDATION_ERROR"),
        ("Content-Length: 5\r\nContent-Length: 7\r\n", 400, "VALIDATION_ERROR"),
        ("X-Padding: " + "a" * 100_000 + "\r\n", 431, "REQUEST_HEADER_TOO_LARGE"),
    ],
    ids=["negative-length", "two-lengths", "100kb-header"],
)
def test_requests_http_cannot_parse_get_the_error_envelope(
    limited: StubServer, headers: str, status: int, code: str
) -> None:
    request = f"POST {PATH} HTTP/1.1\r\nHost: test\r\n{headers}\r\nhello".encode()
    got, response_headers, body = _raw_exchange(limited, request)
    assert got == status
    assert response_headers["content-type"] == "application/json"
    assert _error(body)["code"] == code


def test_connections_that_never_finish_their_headers_are_closed(limited: StubServer) -> None:
    sockets = [raw_http.connect(limited.base_url) for _ in range(300)]
    try:
        for sock in sockets:
            sock.sendall(b"POST /v1/modules/scaiecho/transcribe HTTP/1.1\r\nHost: te")
        time.sleep(LIMITED_HEADER_TIMEOUT + 1)
        closed = 0
        for sock in sockets:
            status, _, body = raw_http.read_response(sock, timeout=5)
            closed += status == 408 and _error(body)["code"] == "REQUEST_TIMEOUT"
        assert closed == len(sockets)
    finally:
        for sock in sockets:
            sock.close()
    # The server still serves.
    assert httpx.get(f"{limited.base_url}/healthz", timeout=5).status_code == 200


def test_a_websocket_outlives_the_header_deadline(limited: StubServer) -> None:
    from websockets.sync.client import connect

    caller = caller_factory(limited)()
    url = limited.api.replace("http", "ws", 1) + f"/stream/transcribe?token={caller.key}"
    with connect(url, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "open", "media_type": "audio/pcm"}))
        assert json.loads(socket.recv(timeout=20))["type"] == "ready"
        for _ in range(LIMITED_HEADER_TIMEOUT * 2 + 1):  # well past the header deadline
            socket.send(bytes(16000))  # half a second of silence, so the session is not idle
            time.sleep(0.5)
        socket.send(json.dumps({"type": "close"}))
        frames = []
        while not frames or frames[-1].get("type") != "closed":
            frames.append(json.loads(socket.recv(timeout=20)))
    assert frames[-1]["type"] == "closed"
