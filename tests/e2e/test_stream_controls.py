"""Live stream controls on the served stub host with real speech: KeepAlive, Finalize,
interim_results, endpointing_ms, and the quickstart's websocat snippet (binary control lines)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.conftest import Caller
from tests.support import recordings
from tests.support.db import audit_rows
from tests.support.raw_ws import RawClient
from tests.support.text import wer
from tests.support.ws import Frame, StreamResult, collect, open_socket, speech_samples, stream_pcm

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
PCM = {"type": "open", "language_hint": "en", "media_type": "audio/pcm"}
IDLE = 3.0  # the test server's SCAIECHO_STREAM_IDLE_SECONDS


def _recv(ws: Any, result: StreamResult, started: float) -> dict[str, Any]:
    frame = json.loads(ws.recv(timeout=60))
    result.frames.append(Frame(time.monotonic() - started, frame))
    return frame


def test_keepalive_holds_an_idle_session_open_past_the_idle_timeout(caller: Caller) -> None:
    result, started = StreamResult(), time.monotonic()
    with open_socket(caller.server.api, caller.key) as ws:
        ws.send(json.dumps(PCM))
        assert _recv(ws, result, started)["type"] == "ready"
        for kind in ("KeepAlive", "keepalive", "KeepAlive", "KeepAlive"):  # no audio at all
            time.sleep(IDLE / 2)
            ws.send(json.dumps({"type": kind}))
        ws.send(json.dumps({"type": "CloseStream"}))  # Deepgram's close
        collect(ws, result, [started])
    assert result.close_code == 1000, result.frames
    assert result.of("closed")[0]["reason"] == "closed"
    assert result.frames[-1].at >= 2 * IDLE  # it outlived the idle timer twice over


def test_finalize_flushes_the_utterance_in_progress_while_the_session_goes_on(caller: Caller) -> None:
    clip = recordings.librivox("0870")
    samples = recordings.read_pcm(clip.wav)
    result, started = StreamResult(), time.monotonic()
    with open_socket(caller.server.api, caller.key) as ws:
        # A pause must be 5 s to end an utterance: only Finalize can end this one.
        ws.send(json.dumps({**PCM, "endpointing_ms": 5000, "interim_results": False}))
        assert _recv(ws, result, started)["type"] == "ready"
        for begin in range(0, len(samples), 8000):
            ws.send(samples[begin : begin + 8000].astype("<i2").tobytes())
        ws.send(json.dumps({"type": "Finalize"}))
        while (frame := _recv(ws, result, started))["type"] != "delta":
            pass
        assert frame["is_final"]  # the final came before any close was sent
        ws.send(json.dumps({"type": "finalize"}))  # nothing buffered now: a no-op
        ws.send(json.dumps({"type": "close"}))
        collect(ws, result, [started])
    assert result.close_code == 1000, result.frames
    assert len(result.finals) == 1, result.finals
    assert wer(clip.text, result.text) <= 0.15


def test_interim_results_false_sends_finals_only(caller: Caller) -> None:
    samples, _ = speech_samples("0870")
    result = stream_pcm(caller.server.api, caller.key, samples, realtime=True,
                        open_frame={**PCM, "interim_results": False})  # fmt: skip
    assert result.close_code == 1000, result.frames[-3:]
    assert result.partials == []  # the same stream gets partials by default (test_stream.py)
    assert wer(recordings.librivox("0870").text, result.text) <= 0.15


def test_endpointing_ms_decides_which_pause_ends_an_utterance(caller: Caller) -> None:
    samples, _ = speech_samples("0870", "0890", gap_seconds=1.2)
    counts = {}
    for ms in (400, 2500):
        result = stream_pcm(caller.server.api, caller.key, samples, realtime=False,
                            open_frame={**PCM, "endpointing_ms": ms})  # fmt: skip
        assert result.close_code == 1000, result.frames[-3:]
        counts[ms] = len(result.finals)
    # 1.2 s between the sentences ends the first at 400 ms; at 2.5 s both are one utterance.
    assert counts[400] >= 2 and counts[2500] == 1, counts


@pytest.mark.parametrize(
    ("field", "value"),
    [("endpointing_ms", 50), ("endpointing_ms", 6000), ("endpointing_ms", "300"), ("interim_results", "no")],
)
def test_bad_control_values_close_4400_naming_the_field(caller: Caller, field: str, value: Any) -> None:
    result = StreamResult()
    with open_socket(caller.server.api, caller.key) as ws:
        ws.send(json.dumps({**PCM, field: value}))
        collect(ws, result, [time.monotonic()])
    assert result.close_code == 4400
    error = result.of("error")[0]
    assert (error["code"], error["details"]) == ("VALIDATION_ERROR", {"field": field})


def test_an_unknown_frame_still_closes_4400(caller: Caller) -> None:
    result = StreamResult()
    with open_socket(caller.server.api, caller.key) as ws:
        ws.send(json.dumps(PCM))
        ws.send(json.dumps({"type": "Flush"}))
        collect(ws, result, [time.monotonic()])
    assert (result.error_code, result.close_code) == ("UNKNOWN_FRAME_TYPE", 4400)


# -- the quickstart's websocat snippet: everything in binary messages ---------------------

OPEN_LINE = b'{"type":"open","language_hint":"en","media_type":"audio/wav"}\n'
CLOSE_LINE = b'{"type":"close"}\n'


def _check_transcript(frames: list[dict[str, Any]]) -> None:
    assert frames[0]["type"] == "ready", frames
    assert frames[-1]["type"] == "closed" and frames[-1]["reason"] == "closed", frames[-3:]
    finals = " ".join(f["text"] for f in frames if f["type"] == "delta" and f["is_final"])
    assert wer(recordings.librivox("0870").text, finals) <= 0.15


# The spec's step 4 as written (001_*.txt), with its exports.
SPEC_SNIPPET = """
{
echo '{"type":"open","language_hint":"en","media_type":"audio/wav"}'
cat meeting.wav
echo '{"type":"close"}'
} | websocat -b "$SCAIGRID_HOST_WS/v1/modules/scaiecho/stream/transcribe?token=$SCAIGRID_API_KEY"
"""


def _websocat(caller: Caller, tmp_path: Path, command: list[str]) -> list[dict[str, Any]]:
    websocat = shutil.which("websocat", path=os.path.dirname(sys.executable))
    assert websocat, "websocat comes from requirements/websocat.txt (make install-test)"
    shutil.copy(recordings.librivox("0870").wav, tmp_path / "meeting.wav")
    host = caller.server.base_url
    # As the README says: export SCAIGRID_HOST, SCAIGRID_HOST_WS (its ws:// form) and the key.
    env = dict(os.environ, SCAIGRID_HOST=host, SCAIGRID_HOST_WS=host.replace("http", "ws", 1),
               SCAIGRID_API_KEY=caller.key, PATH=f"{Path(websocat).parent}:{os.environ['PATH']}")  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                         check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return _concatenated_json(run.stdout)


def test_the_documented_websocat_example_gets_the_whole_transcript(caller: Caller, tmp_path: Path) -> None:
    _check_transcript(_websocat(caller, tmp_path, ["bash", str(EXAMPLES / "stream_websocat.sh")]))


def test_the_spec_snippet_verbatim_gets_the_whole_transcript(caller: Caller, tmp_path: Path) -> None:
    # websocat sends a WebSocket Close as soon as its input ends, a few ms after the close
    # line, and prints what still arrives until the server's Close: the host holds its
    # Close reply (WS_HALF_CLOSE) until the session has answered everything it was sent.
    frames = _websocat(caller, tmp_path, ["bash", "-c", SPEC_SNIPPET])
    assert frames[0]["media_type"] == "audio/wav"
    _check_transcript(frames)


def test_a_close_frame_right_after_the_close_line_still_gets_every_answer(caller: Caller) -> None:
    pcm = recordings.read_pcm(recordings.librivox("0870").wav).astype("<i2").tobytes()
    client = RawClient(caller.server.api, caller.key)
    client.send_text(PCM)
    ready = client.recv_json()
    for begin in range(0, len(pcm), 32000):
        client.send_binary(pcm[begin : begin + 32000])
    client.send_text({"type": "close"})
    client.send_close()  # at once: the answers are still owed
    frames, code = client.until_close()
    assert code == 1000
    assert frames[-1]["type"] == "closed" and frames[-1]["reason"] == "closed", frames[-3:]
    finals = " ".join(f["text"] for f in frames if f["type"] == "delta" and f["is_final"])
    assert wer(recordings.librivox("0870").text, finals) <= 0.15
    (close,) = _closes(caller)
    assert (close.target, close.details["reason"]) == (ready["session_id"], "closed")


def test_a_close_frame_without_the_close_line_ends_the_session_at_once(caller: Caller) -> None:
    pcm = recordings.read_pcm(recordings.librivox("0870").wav).astype("<i2").tobytes()
    client = RawClient(caller.server.api, caller.key)
    client.send_text(PCM)
    ready = client.recv_json()
    client.send_binary(pcm[: 16000 * 2 * 4])  # 4 s, mid-utterance
    client.send_close()  # the client leaves: no transcript is owed
    closed_at = time.monotonic()
    _, code = client.until_close()
    answered = time.monotonic() - closed_at
    assert code == 1000
    assert answered < 5.0, answered  # not the host's 30 s bound on a held Close
    (close,) = _closes(caller)
    assert (close.target, close.details["reason"]) == (ready["session_id"], "client_gone")


def _closes(caller: Caller) -> list[Any]:
    """The close audits, once there is one (it may land just after the socket's Close)."""
    deadline = time.monotonic() + 10
    while True:
        rows = audit_rows(caller.server.database_url, caller.tenant_id)
        closes = [r for r in rows if r.action == "scaiecho.stream.close"]
        if closes or time.monotonic() > deadline:
            return closes
        time.sleep(0.2)


def _concatenated_json(text: str) -> list[dict[str, Any]]:
    """websocat -b prints each message as it came, without a separator."""
    decoder, frames, at = json.JSONDecoder(), [], 0
    while at < len(text):
        frame, at = decoder.raw_decode(text, at)
        frames.append(frame)
        while at < len(text) and text[at].isspace():
            at += 1
    return frames


@pytest.mark.parametrize("size", [None, 4096, 61], ids=["one-message", "4k", "61-bytes"])
def test_the_snippets_byte_stream_in_any_chunking_is_recognised(caller: Caller, size: int | None) -> None:
    stream = OPEN_LINE + recordings.librivox("0870").wav.read_bytes() + CLOSE_LINE
    step = size or len(stream)
    result = StreamResult()
    with open_socket(caller.server.api, caller.key) as ws:
        try:
            for begin in range(0, len(stream), step):
                ws.send(stream[begin : begin + step])  # bytes: a binary message, as websocat -b
        except ConnectionClosed:
            pass
        collect(ws, result, [time.monotonic()])
    assert result.close_code == 1000, result.frames[-3:]
    _check_transcript([f.data for f in result.frames])
