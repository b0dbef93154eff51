"""Job webhooks against a real receiver on loopback: one signed POST per finished job, retried
on a 500, kept across a worker restart, refused for private addresses, auth never shown.

The receiver checks each signature with docs/examples/verify_webhook.py, as documented.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from host_stub.db import StubDatabase
from scaiecho_module.webhooks.models import WebhookDelivery
from tests.e2e.conftest import Caller, caller_factory
from tests.e2e.test_jobs import finished, poll, submit
from tests.support import recordings
from tests.support.db import run_db
from tests.support.stacks import JobStack

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "verify_webhook.py"
_spec = importlib.util.spec_from_file_location("verify_webhook", EXAMPLE)
assert _spec is not None and _spec.loader is not None
verify_webhook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verify_webhook)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST and answers as planned."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.plan: dict[str, list[int]] = {}  # path -> statuses to answer first (then 200)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    planned = receiver.plan.get(self.path, [])
                    status = planned.pop(0) if planned else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(self.path, headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, answered: int = 200, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(path)
            if any(r.answered == answered for r in got):
                return got
            time.sleep(0.1)
        raise AssertionError(f"no delivery answered {answered} at {path}: {self.at(path)}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()


def _secret(caller: Caller) -> str:
    with caller.client() as client:
        resp = client.get("/webhook-secret")
    assert resp.status_code == 200, resp.text
    secret: str = resp.json()["data"]["secret"]
    return secret


def _delivery(stack: JobStack, job_id: str) -> WebhookDelivery:
    async def work(db: StubDatabase) -> WebhookDelivery | None:
        async with db.session_factory() as session:
            return await session.scalar(
                select(WebhookDelivery).where(WebhookDelivery.job_id == uuid.UUID(job_id))
            )

    found = run_db(stack.database_url, work)
    assert found is not None
    return found


def _settled(receiver: Receiver, *paths: str) -> None:
    """Several sweep periods more (0.5 s each in the test stacks): nothing else arrives."""
    counts = [len(receiver.at(p)) for p in paths]
    time.sleep(2.0)
    assert [len(receiver.at(p)) for p in paths] == counts


def test_finished_jobs_post_one_signed_event_each(
    stack: JobStack, job_caller: Caller, receiver: Receiver, tmp_path: Path
) -> None:
    secret = _secret(job_caller)
    auth = f"Bearer rcv-{uuid.uuid4().hex}"
    done_path, failed_path = f"/done/{uuid.uuid4().hex}", f"/failed/{uuid.uuid4().hex}"
    receiver.plan[done_path] = [500]  # the first attempt fails: retried, delivered once
    # A small file: with a webhook it is queued as a job anyway (202), never answered inline.
    clip = recordings.librivox("0870").wav
    done = submit(job_caller, clip, webhook_url=receiver.url(done_path), webhook_auth=auth)
    corrupt = tmp_path / "corrupt.mp3"
    header = recordings.speech_as("mp3").read_bytes()[:2000]  # as test_jobs makes a job fail
    corrupt.write_bytes(header + bytes((i * 7919) % 251 for i in range(1_200_000)))
    failed = submit(job_caller, corrupt, webhook_url=receiver.url(failed_path))

    first, retried = receiver.wait_for(done_path)
    [only] = receiver.wait_for(failed_path)
    _settled(receiver, done_path, failed_path)

    assert (first.answered, retried.answered) == (500, 200)
    assert first.event == retried.event  # the same event, signed again at its own time
    for received, job_id, event_type in (
        (retried, done["job_id"], "transcription_job.completed"),
        (only, failed["job_id"], "transcription_job.failed"),
    ):
        signature = received.headers["scaiecho-signature"]
        assert verify_webhook.verify(secret, signature, received.body)
        assert not verify_webhook.verify(secret + "x", signature, received.body)
        assert not verify_webhook.verify(secret, signature, received.body + b" ")
        assert not verify_webhook.verify(secret, signature, received.body, now=time.time() + 301)
        event = received.event
        assert event["type"] == event_type == received.headers["scaiecho-event"]
        assert event["id"] == received.headers["scaiecho-delivery"]
        # The job exactly as GET /transcribe/jobs/{id} shows it.
        assert event["data"] == job_caller.job(job_id)
    assert retried.event["data"]["status"] == "completed" and retried.event["data"]["transcript"]
    assert only.event["data"]["status"] == "failed"
    assert only.event["data"]["error"]["code"] in {"AUDIO_UNDECODABLE", "AUDIO_EMPTY"}
    assert first.headers["authorization"] == retried.headers["authorization"] == auth
    assert "authorization" not in only.headers
    # Persisted: delivered after two attempts, the receiver's secret gone from the row.
    row = _delivery(stack, done["job_id"])
    assert (row.state, row.attempts, row.last_status, row.auth) == ("delivered", 2, 200, None)
    # The auth value and the signing secret appear in no view and no log.
    with job_caller.client() as client:
        listing = client.get("/transcribe/jobs").text
    logs = stack.server.log_text() + stack.worker_log()
    for shown in (json.dumps(job_caller.job(done["job_id"])), listing, logs):
        assert auth not in shown and secret not in shown
    assert "webhook" in logs  # deliveries are logged (without either)


@pytest.mark.parametrize("stack", ["redis+s3"], indirect=True)
def test_one_delivery_across_a_killed_worker(stack: JobStack, job_caller: Caller, receiver: Receiver) -> None:
    path = f"/restart/{uuid.uuid4().hex}"
    receiver.plan[path] = [500]
    long_audio, _ = recordings.long_speech(2)
    job_id = submit(job_caller, long_audio, webhook_url=receiver.url(path))["job_id"]
    poll(job_caller, job_id, lambda s: s["status"] == "running" and s["processed_seconds"] > 0)
    [worker] = stack.workers
    stack.kill_worker(worker)
    stack.start_worker()
    final = poll(job_caller, job_id, finished, timeout=240)[-1]
    assert final["status"] == "completed", final
    assert final["attempts"] >= 2
    got = receiver.wait_for(path)
    _settled(receiver, path)
    assert [r.answered for r in got] == [500, 200]
    assert len({r.headers["scaiecho-delivery"] for r in got}) == 1
    assert _delivery(stack, job_id).state == "delivered"


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:9/hook",  # loopback outside the allowed 127.0.0.1/32
        "http://127.0.0.2:9/hook",
        "http://[::ffff:127.0.0.2]/hook",
        "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "http://10.1.2.3/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "http://user:pw@127.0.0.1:9/hook",
        "http://127.0.0.1:9/" + "a" * 2100,
        "not a url",
    ],
)
def test_refused_webhook_urls_are_validation_errors(stack: JobStack, job_caller: Caller, url: str) -> None:
    resp = job_caller.transcribe(recordings.librivox("0870").wav, webhook_url=url)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("VALIDATION_ERROR", "webhook_url")
    with job_caller.client() as client:
        assert client.get("/transcribe/jobs").json()["data"] == []


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_webhook_secret_is_per_tenant_admin_only_and_rotates(
    stack: JobStack, job_caller: Caller, receiver: Receiver
) -> None:
    make = caller_factory(stack.server)
    first = _secret(job_caller)
    assert first.startswith("whsec_") and _secret(job_caller) == first
    assert _secret(make()) != first  # another tenant, another secret
    plain = make(permissions=["scaiecho:transcribe"], tenant=job_caller.tenant_slug)
    with plain.client() as client:
        assert client.get("/webhook-secret").status_code == 403
        assert client.post("/webhook-secret").status_code == 403
        resp = client.post(
            "/transcribe", data={"webhook_auth": "x"}, files={"file": ("a.wav", b"RIFF", "audio/wav")}
        )
    assert resp.json()["error"]["details"]["field"] == "webhook_auth"  # auth without a URL
    with job_caller.client() as client:
        rotated = client.post("/webhook-secret").json()["data"]["secret"]
    assert rotated != first and _secret(job_caller) == rotated
    # Deliveries from now on are signed with the new secret.
    path = f"/rotated/{uuid.uuid4().hex}"
    submit(job_caller, recordings.librivox("0870").wav, webhook_url=receiver.url(path))
    [got] = receiver.wait_for(path)
    assert verify_webhook.verify(rotated, got.headers["scaiecho-signature"], got.body)
    assert not verify_webhook.verify(first, got.headers["scaiecho-signature"], got.body)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_a_cancelled_job_posts_one_cancelled_event(
    stack: JobStack, job_caller: Caller, receiver: Receiver
) -> None:
    path = f"/cancelled/{uuid.uuid4().hex}"
    long_audio, _ = recordings.long_speech(2)
    job_id = submit(job_caller, long_audio, webhook_url=receiver.url(path))["job_id"]
    poll(job_caller, job_id, lambda s: s["status"] == "running")
    with job_caller.client() as client:
        assert client.delete(f"/transcribe/jobs/{job_id}").status_code == 200
    assert poll(job_caller, job_id, finished)[-1]["status"] == "cancelled"
    [got] = receiver.wait_for(path)
    _settled(receiver, path)
    assert got.event["type"] == "transcription_job.cancelled"
    assert got.event["data"] == job_caller.job(job_id)
