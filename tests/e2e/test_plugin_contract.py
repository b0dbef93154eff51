"""The module loads into any Litestar app through its entry point; the host contract is the only coupling."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from scaiecho_module.host_contract import Host
from tests.support import recordings
from tests.support.bare_host import BareHost, module_app

PACKAGE = Path(__file__).resolve().parents[2] / "scaiecho_module"


@pytest.fixture
def bare_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Litestar, BareHost]]:
    monkeypatch.setenv("SCAIECHO_STT_MODEL", "tiny.en")
    host = BareHost(tmp_path / "bare.db")
    assert isinstance(host, Host)
    yield module_app(host), host


def test_loading_registers_permissions_and_metering_units(bare_app: tuple[Litestar, BareHost]) -> None:
    _, host = bare_app
    assert set(host.permissions) == {
        "scaiecho:transcribe",
        "scaiecho:enroll",
        "scaiecho:diarize",
        "scaiecho:admin",
    }
    assert [u.name for u in host.units] == ["scaiecho.audio_seconds", "scaiecho.diarized_audio_seconds"]
    assert list(host.tasks) == ["scaiecho.transcribe_job"]


def test_bare_app_transcribes_through_the_contract(bare_app: tuple[Litestar, BareHost]) -> None:
    app, host = bare_app
    clip = recordings.librivox("0930")
    with TestClient(app) as client, clip.wav.open("rb") as handle:
        resp = client.post(
            "/v1/modules/scaiecho/transcribe",
            headers={"Authorization": "Bearer secret-1"},
            files={"file": ("m.wav", handle, "audio/wav")},
        )
        denied = client.get(
            "/v1/modules/scaiecho/tenant-policy", headers={"Authorization": "Bearer secret-1"}
        )
    assert resp.status_code == 200, resp.text
    assert "amiable himself" in resp.json()["data"]["transcript"].lower()
    assert host.usage == [("tenant-1", "scaiecho.audio_seconds", pytest.approx(3.29, abs=0.01))]
    assert [e.action for e in host.events] == ["scaiecho.transcribe"]
    assert denied.status_code == 403


def test_bare_app_opens_a_live_session_through_the_contract(bare_app: tuple[Litestar, BareHost]) -> None:
    # The WebSocket handler gets its service and authenticator by dependency injection, as
    # the REST handlers do: this is the bare host's whole wiring of it.
    app, _ = bare_app
    with (
        TestClient(app) as client,
        client.websocket_connect("/v1/modules/scaiecho/stream/transcribe?token=secret-1") as ws,
    ):
        ws.send_json({"type": "open", "media_type": "audio/pcm;rate=16000"})
        ready = ws.receive_json()
        ws.send_json({"type": "close"})
        closed = ws.receive_json()
    assert (ready["type"], ready["backend_used"]) == ("ready", "A")
    assert (closed["type"], closed["session_id"]) == ("closed", ready["session_id"])


def test_module_never_imports_the_stub_host() -> None:
    offenders = []
    files = sorted(PACKAGE.rglob("*.py"))
    # The module's migrations (env.py and every revision script) are checked too.
    assert PACKAGE / "migrations" / "env.py" in files
    assert any(p.parent == PACKAGE / "migrations" / "versions" for p in files)
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "host_stub"]
    assert offenders == []
