"""WebRTC sessions on a served stub host: a real aiortc client peer on the raw API, and real
headless Chromium publishing a speech WAV as its microphone through the live-caption page.
Also the page's way in: short-lived stream tokens and CORS."""

from __future__ import annotations

import asyncio
import json
import os
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from aiortc import RTCSessionDescription
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from host_stub.models import AuditRecord
from tests.e2e.conftest import SERVER_ENV, Caller, MakeCaller, caller_factory
from tests.support import recordings, two_voices
from tests.support.db import audit_rows, usage_rows
from tests.support.servers import StubServer, stub_server
from tests.support.text import wer
from tests.support.turn import Turn, turn_server
from tests.support.webrtc_peer import create_session, offer, publish
from tests.support.ws import open_socket, speech_samples

ORIGIN = "http://captions.example"
WEBRTC_ENV = {
    **SERVER_ENV,
    "SCAIECHO_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
    "SCAIECHO_WEBRTC_CONNECT_SECONDS": "4",
    "SCAIECHO_WEBRTC_DISCONNECT_SECONDS": "2",
    "SCAIECHO_STREAM_MAX_SESSIONS_PER_TENANT": "2",
    "SCAIECHO_CORS_ORIGINS": ORIGIN,
}
ARTIFACTS = Path(os.environ.get("SCAIECHO_TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture(scope="module")
def rtc_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubServer]:
    with stub_server(database_url, tmp_path_factory.mktemp("webrtc"), WEBRTC_ENV) as running:
        yield running


@pytest.fixture
def make_rtc(rtc_server: StubServer) -> MakeCaller:
    return caller_factory(rtc_server)


@pytest.fixture
def rtc(make_rtc: MakeCaller) -> Caller:
    return make_rtc()


def _mint(caller: Caller, **body: object) -> httpx.Response:
    with caller.client() as client:
        return client.post("/stream/tokens", json=body)


def _token(caller: Caller) -> str:
    resp = _mint(caller)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["data"]["token"])


def _closes(caller: Caller, count: int, seconds: float = 60) -> list[AuditRecord]:
    deadline = time.monotonic() + seconds
    while True:
        rows = [r for r in audit_rows(caller.server.database_url, caller.tenant_id)
                if r.action == "scaiecho.stream.close"]  # fmt: skip
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def _metered_as_audited(caller: Caller, close: AuditRecord) -> None:
    rows = usage_rows(caller.server.database_url, caller.tenant_id, f"scaiecho:stream:{close.target}")
    assert len(rows) == 1
    assert rows[0].quantity == pytest.approx(close.details["audio_seconds"], abs=0.001)


def _speech_wav(tmp_path: Path) -> tuple[Path, str]:
    samples, _ = speech_samples("0870", "0890", gap_seconds=1.0)
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(samples.astype("<i2").tobytes())
    return path, " ".join(recordings.librivox(c).text for c in ("0870", "0890"))


def test_aiortc_peer_publishes_speech_and_finals_arrive_on_the_control_socket(
    rtc: Caller, tmp_path: Path
) -> None:
    wav, reference = _speech_wav(tmp_path)
    token = _token(rtc)  # the stream token, as a page would hold it, on both the POST and the socket
    run = asyncio.run(publish(rtc.server.api, token, wav, language_hint="en", word_timestamps=True))
    assert run.status == 201, run.body
    data = run.body["data"]
    assert data["type"] == "answer" and data["ice_servers"] == [] and data["backend_used"] == "A"
    assert run.frames[0]["type"] == "ready" and run.frames[0]["session_id"] == data["session_id"]
    assert run.frames[-1]["type"] == "closed" and run.frames[-1]["reason"] == "closed", run.frames[-3:]
    assert run.close_code == 1000
    assert any(not f["is_final"] for f in run.frames if f.get("type") == "delta")  # partials too
    assert wer(reference, run.text) <= 0.2, run.text
    for final in run.finals:  # word_timestamps: each final's words, inside it, in session time
        start, end, words = final["start"] - 0.05, final["end"] + 0.05, final["words"]
        assert words and all(start <= w["start"] <= w["end"] <= end for w in words), final
    (close,) = _closes(rtc, 1)
    assert close.target == data["session_id"] and close.details["reason"] == "closed"
    assert close.details["transport"] == "webrtc"
    assert close.details["audio_seconds"] == pytest.approx(run.frames[-1]["audio_seconds"], abs=0.001)
    assert close.details["audio_seconds"] > 10
    _metered_as_audited(rtc, close)


def test_finalize_on_the_control_socket_ends_the_utterance_in_progress_at_once(
    rtc: Caller, tmp_path: Path
) -> None:
    # 0870 (ends at 7.1 s), 1 s of silence, 0890 (ends at 13.4 s). With a 5 s endpointing
    # pause the gap ends nothing: without finalize the whole WAV is one utterance until close.
    wav, _ = _speech_wav(tmp_path)
    first, second = (recordings.librivox(c).text for c in ("0870", "0890"))
    run = asyncio.run(publish(rtc.server.api, rtc.key, wav, finalize_after=7.4, language_hint="en",
                              endpointing_ms=5000, interim_results=False))  # fmt: skip
    assert run.status == 201, run.body
    assert run.frames[-1] == {**run.frames[-1], "type": "closed", "reason": "closed"}, run.frames[-3:]
    assert run.finalized_at is not None and run.audio_zero is not None
    finals = [(at, f) for at, f in zip(run.arrivals, run.frames, strict=True)
              if f.get("type") == "delta" and f["is_final"]]  # fmt: skip
    assert len(finals) == 2, run.finals  # the finalized sentence, then the rest at close
    (at, final), (_, last) = finals
    # Promptly: within 3 s of the finalize, while 0890 was still being spoken (a pause could
    # have ended the utterance no sooner than 13.4 + 5 s into the WAV).
    assert at - run.finalized_at < 3.0, at - run.finalized_at
    assert at < run.audio_zero + 13.4
    assert final["end"] <= 7.4 + 0.5, final  # only the audio sent before the finalize
    assert wer(first, final["text"]) <= 0.2, final["text"]
    assert wer(second, last["text"]) <= 0.25, last["text"]
    assert not [f for f in run.frames if f.get("type") == "error"]  # KeepAlive too (publish sends it)


@pytest.mark.parametrize("teardown", [False, True], ids=["track_stops", "sockets_vanish"])
def test_a_peer_that_vanishes_mid_utterance_ends_bounded_and_is_metered_for_what_it_sent(
    rtc: Caller, tmp_path: Path, teardown: bool
) -> None:
    # track_stops: the sender stops, ICE consent still answered. sockets_vanish: the peer's
    # UDP sockets close under it (no DTLS close, no STUN): its ICE connection is gone too.
    wav, _ = _speech_wav(tmp_path)
    run = asyncio.run(
        publish(rtc.server.api, rtc.key, wav, vanish_after=4.0, teardown=teardown, language_hint="en")
    )
    assert run.status == 201, run.body
    assert run.pair == ("host", "host")  # loopback host candidates (no ICE servers on this host)
    assert run.frames[-1] == {**run.frames[-1], "type": "closed", "reason": "peer_gone"}, run.frames[-3:]
    assert run.close_code == 1000
    assert run.ended_after is not None and run.ended_after < 2 + 3  # the disconnect bound and margin
    (close,) = _closes(rtc, 1)
    assert close.details["reason"] == "peer_gone"
    assert 2.5 < close.details["audio_seconds"] < 5.5  # what arrived before the vanish, nothing more
    _metered_as_audited(rtc, close)


def test_a_webrtc_session_takes_the_prompt_and_refuses_bad_hints_naming_the_field(rtc: Caller) -> None:
    # The offer's options are the open frame's: a prompt in capitals is copied on clip 0880
    # (as on files and on the WebSocket, test_live_vocabulary_hints.py).
    wav = recordings.librivox("0880").wav
    prompt = "HE WAS NOT AN ILL-DISPOSED YOUNG MAN. THE ILL-DISPOSED MAN."
    run = asyncio.run(publish(rtc.server.api, _token(rtc), wav, language_hint="en", prompt=prompt))
    assert run.status == 201, run.body
    assert run.close_code == 1000, run.frames[-3:]
    assert run.finals and run.text.isupper(), run.finals

    async def refused(field: str, value: object) -> tuple[int, dict[str, Any]]:
        peer, _ = await offer(None)
        try:
            return await create_session(rtc.server.api, rtc.key, peer.localDescription.sdp, **{field: value})
        finally:
            await peer.close()

    for field, value in [("hotwords", ["ill-disposed"]), ("prompt", "x" * 1001)]:
        status, body = asyncio.run(refused(field, value))
        assert (status, body["error"]["code"], body["error"]["details"]) == (
            400, "VALIDATION_ERROR", {"field": field}
        ), body  # fmt: skip


def test_bad_sdp_is_400_invalid_sdp_and_opens_nothing(rtc: Caller) -> None:
    with rtc.client() as client:
        for sdp in [
            "hello",
            "v=0\r\nm=audio nonsense\r\n",
            "v=0\r\no=- 1 1 IN IP4 0\r\nm=audio 9 RTP/AVP 0\r\n",
        ]:
            resp = client.post("/stream/transcribe/webrtc/sessions", json={"type": "offer", "sdp": sdp})
            assert resp.status_code == 400, resp.text
            assert resp.json()["error"]["code"] == "INVALID_SDP"
        resp = client.post("/stream/transcribe/webrtc/sessions", json={"type": "answer", "sdp": "v=0"})
        assert (resp.status_code, resp.json()["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert not [
        r
        for r in audit_rows(rtc.server.database_url, rtc.tenant_id)
        if r.action.startswith("scaiecho.stream")
    ]


def test_oversized_bodies_are_413_with_their_limit(rtc: Caller) -> None:
    with rtc.client() as client:
        offer = client.post(
            "/stream/transcribe/webrtc/sessions", json={"type": "offer", "sdp": "v=0\r\n" + "a" * 200_000}
        )
        token = client.post("/stream/tokens", json={"expires_in_seconds": 60, "pad": "x" * 10_000})
    assert offer.status_code == 413, offer.text
    assert offer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert offer.json()["error"]["details"] == {"limit_bytes": 80 * 1024}
    assert token.status_code == 413 and token.json()["error"]["details"] == {"limit_bytes": 4096}


def test_stream_tokens_expire_are_scoped_and_refused_outside_streaming(rtc: Caller) -> None:
    resp = _mint(rtc, expires_in_seconds=1)
    assert resp.status_code == 201
    minted = resp.json()["data"]
    assert minted["token"].startswith("sst_") and minted["permissions"] == [
        "scaiecho:diarize",
        "scaiecho:transcribe",
    ]
    assert rtc.key not in json.dumps(minted)
    short = minted["token"]
    token = _token(rtc)
    with httpx.Client(base_url=rtc.server.api, timeout=30) as client:
        for path in ("/tenant-policy", "/transcribe/jobs", "/speakers"):
            resp = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert (resp.status_code, resp.json()["error"]["code"]) == (403, "STREAM_TOKEN_NOT_ALLOWED"), path
        resp = client.post("/stream/tokens", headers={"Authorization": f"Bearer {token}"}, json={})
        assert (resp.status_code, resp.json()["error"]["code"]) == (403, "STREAM_TOKEN_NOT_ALLOWED")
        resp = client.get("/tenant-policy", params={"token": rtc.key})  # keys stay out of REST URLs
        assert resp.status_code == 401
    assert (
        _mint(rtc, permissions=["scaiecho:admin"]).json()["error"]["details"]["permission"]
        == "scaiecho:admin"
    )
    time.sleep(1.2)

    async def expired() -> tuple[int, dict[str, object]]:
        peer, _ = await offer(None)
        try:
            return await create_session(rtc.server.api, short, peer.localDescription.sdp)
        finally:
            await peer.close()

    status, body = asyncio.run(expired())
    assert (status, body["error"]["code"]) == (401, "TOKEN_EXPIRED")
    with connect(rtc.server.api.replace("http", "ws", 1) + f"/stream/transcribe?token={short}") as ws:
        frame = json.loads(ws.recv(timeout=10))
    assert frame["code"] == "TOKEN_EXPIRED"
    log = rtc.server.log_text()
    assert short not in log and token not in log and short.split(".")[0] not in log  # never logged


def test_tenant_cap_control_timeout_other_tenants_404_and_delete(make_rtc: MakeCaller) -> None:
    owner, other = make_rtc(), make_rtc()

    async def open_two() -> list[tuple[int, dict[str, object]]]:
        results = []
        for _ in range(3):
            peer, _ = await offer(None)
            results.append(await create_session(owner.server.api, owner.key, peer.localDescription.sdp))
            await peer.close()  # this peer never connects: the control timeout ends its session
        return results

    first, second, third = asyncio.run(open_two())
    assert first[0] == second[0] == 201
    assert third[0] == 429
    assert third[1]["error"] == {
        **third[1]["error"],
        "code": "TOO_MANY_SESSIONS",
        "details": {"scope": "tenant", "limit": 2},
    }  # type: ignore[index]
    session_id = first[1]["data"]["session_id"]  # type: ignore[index]
    with other.client() as client:
        resp = client.get(f"/stream/transcribe/webrtc/sessions/{session_id}")
        assert (resp.status_code, resp.json()["error"]["code"]) == (404, "NOT_FOUND")
        assert client.delete(f"/stream/transcribe/webrtc/sessions/{session_id}").status_code == 404
    with connect(f"{first[1]['data']['control_url']}?token={other.key}") as ws:  # type: ignore[index]
        frame = json.loads(ws.recv(timeout=10))
        assert frame["code"] == "NOT_FOUND"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 4404
    with owner.client() as client:
        view = client.get(f"/stream/transcribe/webrtc/sessions/{session_id}").json()["data"]
        assert view["state"] == "waiting_for_control" and view["control_connected"] is False
        second_id = second[1]["data"]["session_id"]  # type: ignore[index]
        assert client.delete(f"/stream/transcribe/webrtc/sessions/{second_id}").status_code == 200
    closes = _closes(owner, 2, seconds=15)  # within the 4 s connect bound plus margin
    reasons = {c.target: c.details["reason"] for c in closes}
    assert reasons == {session_id: "control_timeout", second_id: "closed"}
    assert all(c.details["audio_seconds"] == 0 for c in closes)


def test_cors_preflight_needs_no_key_and_names_only_listed_origins(rtc: Caller) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
    with httpx.Client(base_url=rtc.server.api, timeout=30) as client:
        resp = client.options("/stream/tokens", headers=preflight)
        assert resp.status_code in (200, 204), resp.text
        assert resp.headers["access-control-allow-origin"] == ORIGIN
        assert "authorization" in resp.headers["access-control-allow-headers"]
        resp = client.options("/stream/tokens", headers={**preflight, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in resp.headers
        resp = client.post("/stream/tokens", headers={"Origin": ORIGIN, **rtc.headers}, json={})
        assert resp.status_code == 201 and resp.headers["access-control-allow-origin"] == ORIGIN
        page = client.get("/live")  # the page itself needs no key, and loads nothing from elsewhere
        assert page.status_code == 200 and "<script>" in page.text
        assert "src=" not in page.text and "https://" not in page.text


def test_browser_sockets_from_unlisted_origins_are_refused_4403(rtc: Caller) -> None:
    # CORS does not cover WebSocket upgrades: the server checks a browser's Origin itself.
    host = rtc.server.api.split("://", 1)[1].split("/", 1)[0]
    allowed = {
        "no Origin (a CLI)": None,
        "a listed origin": ORIGIN,
        "the module's own page": f"http://{host}",
    }
    for why, origin in allowed.items():
        with open_socket(rtc.server.api, rtc.key, {"Origin": origin} if origin else None) as ws:
            ws.send(json.dumps({"type": "open", "media_type": "audio/pcm"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "ready", why
            ws.send(json.dumps({"type": "close"}))
    with open_socket(rtc.server.api, rtc.key, {"Origin": "http://evil.example"}) as ws:
        frame = json.loads(ws.recv(timeout=10))
        assert frame["type"] == "error" and frame["code"] == "FORBIDDEN"
        assert frame["details"] == {"origin": "http://evil.example"}
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 4403


CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]  # fmt: skip


def test_chromium_page_publishes_its_microphone_over_webrtc_and_shows_captions(
    rtc: Caller, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    wav, reference = _speech_wav(tmp_path)
    seconds = os.path.getsize(wav) / 32000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={wav}%noloop"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags, headless=True)
        try:
            # bypass_csp: Playwright's own wait_for_function evaluates strings, which the page's
            # CSP (no eval) refuses; the page's script runs under its CSP either way.
            page = browser.new_page(viewport={"width": 900, "height": 760}, bypass_csp=True)
            page.goto(f"{rtc.server.api}/live")
            page.fill("#credential", rtc.key)
            page.select_option("#transport", "webrtc")
            page.click("#start")
            page.wait_for_function("window.scaiecho.backend !== null", timeout=30_000)
            # A partial on screen, styled apart from finals (grey italics).
            partial = page.wait_for_function(
                "() => { const p = document.querySelector('#captions p.partial');"
                " return p && [getComputedStyle(p).fontStyle, getComputedStyle(p).color]; }",
                timeout=30_000,
            ).json_value()
            page.screenshot(path=str(ARTIFACTS / "live_page_webrtc_partial.png"))
            assert partial == ["italic", "rgb(122, 133, 147)"]
            page.wait_for_function("window.scaiecho.finals.length >= 1", timeout=60_000)
            assert page.input_value("#credential") == ""  # the key left the page for a stream token
            # The last sentence's final (the fake microphone goes silent after the file).
            last = f"window.scaiecho.finals.length && window.scaiecho.finals.at(-1).end > {seconds - 2.5}"
            page.wait_for_function(last, timeout=90_000)
            page.screenshot(path=str(ARTIFACTS / "live_page_webrtc.png"))
            page.click("#stop")
            page.wait_for_function("window.scaiecho.closed !== null", timeout=60_000)
            state = page.evaluate(
                "({t: window.scaiecho.transport, b: window.scaiecho.backend,"
                " text: window.scaiecho.asText(), vtt: window.scaiecho.asVtt()})"
            )
            page.screenshot(path=str(ARTIFACTS / "live_page_webrtc_closed.png"))
        finally:
            browser.close()
    assert (state["t"], state["b"]) == ("WebRTC", "A")
    assert state["vtt"].startswith("WEBVTT\n\n1\n00:00:")
    assert wer(reference, state["text"]) <= 0.2, state["text"]
    (close,) = _closes(rtc, 1)
    assert close.details["reason"] == "closed"
    _metered_as_audited(rtc, close)


def test_ice_that_never_completes_ends_ice_timeout_and_a_dropped_control_socket_closes_the_peer(
    rtc: Caller, tmp_path: Path
) -> None:
    wav, _ = _speech_wav(tmp_path)

    async def scenario() -> tuple[dict[str, object], int | None, float, str]:
        # 1. The control socket connects but the client never applies the answer: no ICE.
        peer, _ = await offer(None)
        status, body = await create_session(rtc.server.api, rtc.key, peer.localDescription.sdp)
        assert status == 201, body
        data = body["data"]
        started = time.monotonic()
        async with websockets.connect(f"{data['control_url']}?token={rtc.key}") as ws:  # type: ignore[index]
            frames = [json.loads(m) async for m in ws]
        elapsed = time.monotonic() - started
        await peer.close()
        # 2. A connected peer whose control socket drops without a word: the server closes the peer.
        peer, _player = await offer(wav)
        status, body = await create_session(rtc.server.api, rtc.key, peer.localDescription.sdp)
        data = body["data"]
        await peer.setRemoteDescription(RTCSessionDescription(data["sdp"], "answer"))  # type: ignore[index]
        ws = await websockets.connect(f"{data['control_url']}?token={rtc.key}")  # type: ignore[index]
        deadline = time.monotonic() + 15
        while peer.connectionState != "connected" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        ws.transport.abort()  # gone: no close frame, no close handshake
        deadline = time.monotonic() + 15
        while peer.connectionState not in {"closed", "failed"} and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        state = peer.connectionState
        await peer.close()
        return frames[-1], ws.close_code, elapsed, state

    last, _, elapsed, peer_state = asyncio.run(scenario())
    assert last == {**last, "type": "closed", "reason": "ice_timeout"}
    assert 3.5 < elapsed < 4 + 3  # SCAIECHO_WEBRTC_CONNECT_SECONDS and margin
    assert peer_state == "closed"  # the server ended the peer when its control socket went
    closes = _closes(rtc, 2)
    assert sorted(c.details["reason"] for c in closes) == ["client_gone", "ice_timeout"]
    for close in closes:
        if close.details["audio_seconds"]:
            _metered_as_audited(rtc, close)


def test_ice_that_fails_at_once_ends_ice_failed_and_a_late_control_socket_still_reads_it(
    rtc: Caller,
) -> None:
    # An offer whose only candidate is IPv6 (::1) to a server gathering IPv4 only: no pair
    # can be formed, so the server's ICE fails as the answer is made, before the client
    # has even connected its control socket. That socket still reads why, not a 404.
    async def scenario() -> tuple[int, dict[str, Any], list[dict[str, Any]], float]:
        peer, _ = await offer(None)
        sdp = peer.localDescription.sdp.replace(" 127.0.0.1 ", " ::1 ").replace(
            "IN IP4 127.0.0.1", "IN IP6 ::1"
        )
        await peer.close()
        status, body = await create_session(rtc.server.api, rtc.key, sdp)
        assert status == 201, body
        data = body["data"]
        started = time.monotonic()
        await asyncio.sleep(0.5)  # the client is slow to connect: the session has ended by now
        async with websockets.connect(f"{data['control_url']}?token={rtc.key}") as ws:
            frames = [json.loads(m) async for m in ws]
            code = ws.close_code
        async with httpx.AsyncClient(base_url=rtc.server.api, headers=rtc.headers) as http:
            view = (await http.get(f"/stream/transcribe/webrtc/sessions/{data['session_id']}")).json()
        return code or 0, view, frames, time.monotonic() - started

    code, view, frames, elapsed = asyncio.run(scenario())
    assert [f["type"] for f in frames] == ["ready", "closed"], frames
    assert (frames[-1]["reason"], code) == ("ice_failed", 1000), frames
    assert elapsed < 4 - 1, elapsed  # noticed, not timed out (SCAIECHO_WEBRTC_CONNECT_SECONDS: 4)
    assert view["data"]["state"] == "ended", view  # readable until its connect deadline
    (close,) = _closes(rtc, 1)
    assert close.details["reason"] == "ice_failed" and close.details["audio_seconds"] == 0


def test_chromium_without_webrtc_falls_back_to_the_websocket_with_in_browser_pcm(
    rtc: Caller, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    wav, _ = _speech_wav(tmp_path)
    flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={wav}%noloop"]
    first = recordings.librivox("0870").text
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags, headless=True)
        try:
            page = browser.new_page(bypass_csp=True)
            page.add_init_script("delete window.RTCPeerConnection")  # a browser without WebRTC
            page.goto(f"{rtc.server.api}/live")
            page.fill("#credential", _token(rtc))
            page.click("#start")
            page.wait_for_function("window.scaiecho.finals.length >= 1", timeout=60_000)
            page.click("#stop")
            page.wait_for_function("window.scaiecho.closed !== null", timeout=60_000)
            state = page.evaluate("({t: window.scaiecho.transport, finals: window.scaiecho.finals})")
        finally:
            browser.close()
    assert state["t"] == "WebSocket"
    assert wer(first, state["finals"][0]["text"]) <= 0.25, state["finals"]


def test_chromium_diarized_captions_show_one_colour_per_speaker(rtc: Caller, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    samples, _ = two_voices.live_conversation()  # the reader, a caller from the phone call, the reader
    wav = two_voices.wav_of(samples, tmp_path / "conversation.wav")
    seconds = len(samples) / 16000
    flags = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={wav}%noloop"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags, headless=True)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 760}, bypass_csp=True)
            page.goto(f"{rtc.server.api}/live")
            page.fill("#credential", rtc.key)
            page.check("#diarize")
            page.click("#start")
            last = f"window.scaiecho.finals.length && window.scaiecho.finals.at(-1).end > {seconds - 2.5}"
            page.wait_for_function(last, timeout=90_000)
            page.click("#stop")
            page.wait_for_function("window.scaiecho.closed !== null", timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "live_page_diarized.png"))
            badges = page.eval_on_selector_all(
                "#captions p.final .speaker", "els => els.map(e => [e.textContent, e.style.background])"
            )
            text = page.evaluate("window.scaiecho.asText()")
        finally:
            browser.close()
    colours: dict[str, set[str]] = {}
    for label, colour in badges:
        colours.setdefault(label, set()).add(colour)
    assert len(colours) >= 2, (badges, text)  # two voices, two labels (spk_0, spk_1)
    assert all(len(c) == 1 for c in colours.values())  # one colour per speaker...
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)  # ...each its own
    assert all(line.split(": ", 1)[0] in colours for line in text.splitlines() if line)


def test_the_per_process_peer_cap_refuses_any_tenant_past_it_and_frees_on_close(
    database_url: str, tmp_path: Path
) -> None:
    env = {**WEBRTC_ENV, "SCAIECHO_WEBRTC_MAX_PEERS": "2", "SCAIECHO_STREAM_MAX_SESSIONS_PER_TENANT": "8"}
    with stub_server(database_url, tmp_path / "capped", env) as server:
        callers = [caller_factory(server)() for _ in range(3)]

        async def open_for(caller: Caller) -> tuple[int, dict[str, object]]:
            peer, _ = await offer(None)
            try:
                return await create_session(server.api, caller.key, peer.localDescription.sdp)
            finally:
                await peer.close()

        async def run() -> list[tuple[int, dict[str, object]]]:
            return [await open_for(caller) for caller in callers]

        first, second, third = asyncio.run(run())
        assert first[0] == second[0] == 201  # one peer each for two tenants
        assert third[0] == 429  # a third tenant, under its own cap, meets the process's
        assert third[1]["error"]["code"] == "TOO_MANY_SESSIONS"  # type: ignore[index]
        assert third[1]["error"]["details"] == {"scope": "webrtc", "limit": 2}  # type: ignore[index]
        with callers[0].client() as client:
            session_id = first[1]["data"]["session_id"]  # type: ignore[index]
            assert client.delete(f"/stream/transcribe/webrtc/sessions/{session_id}").status_code == 200
        deadline = time.monotonic() + 15
        while (status := asyncio.run(open_for(callers[2]))[0]) != 201 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 201  # the place a closed session held is given to the next


@pytest.fixture(scope="module", params=["static_user", "rest_secret"])
def turn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Turn]:
    with turn_server(tmp_path_factory.mktemp("turn"), rest_secret=request.param == "rest_secret") as running:
        yield running


def test_through_a_turn_server_relay_candidates_are_offered_and_media_flows_over_the_relay(
    database_url: str, tmp_path: Path, turn: Turn
) -> None:
    # A host whose operator lists a TURN server (real coturn on loopback, static user).
    env = {**WEBRTC_ENV, "SCAIECHO_WEBRTC_ICE_SERVERS": json.dumps([turn.ice_server])}
    wav, reference = _speech_wav(tmp_path)
    with stub_server(database_url, tmp_path / "turn-host", env) as server:
        caller = caller_factory(server)()
        token = _token(caller)
        # The client asks for the ICE servers before it gathers its offer's candidates, as the
        # live page does, with its stream token; and is allowed relay candidates only
        # (iceTransportPolicy "relay"): every packet it sends goes through coturn.
        with httpx.Client(base_url=server.api, timeout=30) as client:
            ice = client.get(
                "/stream/transcribe/webrtc/ice-servers", headers={"Authorization": f"Bearer {token}"}
            )
            anonymous = client.get("/stream/transcribe/webrtc/ice-servers")
        assert ice.status_code == 200, ice.text
        assert anonymous.status_code == 401 and turn.credential not in anonymous.text
        servers = ice.json()["data"]["ice_servers"]
        if turn.secret is None:
            assert servers == [turn.ice_server]  # the browser needs the credential to allocate
        else:  # a credential minted for this tenant, valid 600 s; never the secret
            (entry,) = servers
            expiry, tenant = str(entry["username"]).split(":", 1)
            assert tenant == caller.tenant_id and 590 < int(expiry) - time.time() <= 600
            assert entry["credential"] and turn.secret not in ice.text
        run = asyncio.run(publish(server.api, token, wav, ice_servers=servers, relay_only=True,
                                  language_hint="en"))  # fmt: skip
        log = server.log_text()
        (close,) = _closes(caller, 1)
    assert run.status == 201, run.body
    data = run.body["data"]
    assert data["ice_servers"][0]["urls"] == turn.url
    relays = [line.split() for line in data["sdp"].splitlines()
              if line.startswith("a=candidate") and " typ relay " in f"{line} "]  # fmt: skip
    assert relays, data["sdp"]  # the server allocated on coturn: relay addresses in its range
    low, high = turn.relay_ports
    assert all(r[4] == "127.0.0.1" and low <= int(r[5]) <= high for r in relays), relays
    assert run.pair is not None and run.pair[0] == "relay", run.pair
    assert run.frames[-1] == {**run.frames[-1], "type": "closed", "reason": "closed"}, run.frames[-3:]
    assert wer(reference, run.text) <= 0.2, run.text
    assert close.details["reason"] == "closed" and close.details["audio_seconds"] > 10
    assert turn.credential not in log and token not in log  # never logged
    assert turn.secret is None or (turn.secret not in log and turn.secret not in json.dumps(run.body))
