"""A WebSocket test client for /stream/transcribe: pushes audio, records frames with arrival times."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from tests.support.recordings import read_pcm


@dataclass
class Frame:
    at: float  # seconds since the session's first audio was sent
    data: dict[str, Any]


@dataclass
class StreamResult:
    frames: list[Frame] = field(default_factory=list)
    close_code: int | None = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f.data for f in self.frames if f.data.get("type") == kind]

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [d for d in self.of("delta") if d["is_final"]]

    @property
    def partials(self) -> list[dict[str, Any]]:
        return [d for d in self.of("delta") if not d["is_final"]]

    @property
    def text(self) -> str:
        return " ".join(d["text"] for d in self.finals)

    @property
    def error_code(self) -> str | None:
        errors = self.of("error")
        return str(errors[0]["code"]) if errors else None


def ws_url(api: str, token: str | None = None) -> str:
    url = api.replace("http", "ws", 1) + "/stream/transcribe"
    return f"{url}?token={token}" if token else url


def open_socket(
    api: str, token: str | None = None, headers: dict[str, str] | None = None
) -> ClientConnection:
    # No pong deadline, as scaiecho-stream: under backpressure the server reads nothing, our
    # pings included, yet the session is healthy.
    return connect(
        ws_url(api, token), additional_headers=headers, open_timeout=10, max_size=None, ping_timeout=None
    )


def collect(ws: ClientConnection, result: StreamResult, started: list[float]) -> None:
    """Read frames until the server closes; times are relative to ``started[0]``."""
    try:
        while True:
            message = ws.recv(timeout=120)
            base = started[0] if started else time.monotonic()
            result.frames.append(Frame(time.monotonic() - base, json.loads(message)))
    except ConnectionClosed as closed:
        result.close_code = closed.rcvd.code if closed.rcvd else None


def send_paced(
    ws: Connection, samples: np.ndarray, started: list[float], realtime: bool = True, frame_ms: int = 20
) -> None:
    """Send 16 kHz PCM16 in ``frame_ms`` frames, in real time; appends the start time to ``started``.

    Shared with bench/peer_stream.py so a peer server gets exactly the frames and pace we get."""
    step = 16 * frame_ms
    started.append(time.monotonic())
    for index, begin in enumerate(range(0, len(samples), step)):
        if realtime:
            delay = started[0] + index * frame_ms / 1000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            ws.send(samples[begin : begin + step].astype("<i2").tobytes())
        except ConnectionClosed:
            break


def stream_pcm(
    api: str,
    token: str,
    samples: np.ndarray,
    realtime: bool = True,
    frame_ms: int = 20,
    open_frame: dict[str, Any] | None = None,
    start_at: float | None = None,
) -> StreamResult:
    """Push 16 kHz PCM16 as ScaiVoice does (20 ms frames, paced in real time), then close.
    ``start_at``: the wall-clock time (``time.time()``) the audio starts, once ``ready`` came."""
    result = StreamResult()
    started: list[float] = []
    with open_socket(api, token) as ws:
        ws.send(json.dumps(open_frame or {"type": "open", "language_hint": "en", "media_type": "audio/pcm"}))
        ready = json.loads(ws.recv(timeout=10))
        result.frames.append(Frame(0.0, ready))
        if ready.get("type") != "ready":
            collect(ws, result, started)
            return result
        if start_at is not None:
            time.sleep(max(0.0, start_at - time.time()))
        reader = threading.Thread(target=collect, args=(ws, result, started))
        reader.start()
        send_paced(ws, samples, started, realtime, frame_ms)
        with contextlib.suppress(ConnectionClosed):
            ws.send(json.dumps({"type": "close"}))
        reader.join(timeout=120)
    return result


def stream_bytes(api: str, token: str, data: bytes, media_type: str, chunk: int = 16000) -> StreamResult:
    result = StreamResult()
    with open_socket(api, token) as ws:
        ws.send(json.dumps({"type": "open", "language_hint": "en", "media_type": media_type}))
        result.frames.append(Frame(0.0, json.loads(ws.recv(timeout=10))))
        for begin in range(0, len(data), chunk):
            ws.send(data[begin : begin + chunk])
        ws.send(json.dumps({"type": "close"}))
        collect(ws, result, [time.monotonic()])
    return result


def speech_samples(*clips: str, gap_seconds: float = 1.0) -> tuple[np.ndarray, list[float]]:
    """LibriVox sentences separated by silence; also returns where each sentence ends (s)."""
    from tests.support.recordings import librivox

    gap = np.zeros(int(gap_seconds * 16000), dtype=np.int16)
    parts, ends, position = [], [], 0
    for clip in clips:
        pcm = read_pcm(librivox(clip).wav)
        parts += [pcm, gap]
        position += len(pcm)
        ends.append(position / 16000)
        position += len(gap)
    return np.concatenate(parts), ends


def assert_behind_then_backpressure(codes: list[str]) -> None:
    """A client sending far faster than real time: behind from the first decode (``BEHIND``),
    throttled once (``BACKPRESSURE``, inside that episode), caught up before the end
    (``CAUGHT_UP``). The backlog may dip under half the threshold and rise again on a loaded
    machine: more episodes then, each one ``BEHIND`` and one ``CAUGHT_UP``."""
    assert codes.count("BACKPRESSURE") == 1, codes
    episodes = [c for c in codes if c != "BACKPRESSURE"]
    assert episodes and episodes == ["BEHIND", "CAUGHT_UP"] * (len(episodes) // 2), codes
    assert "BEHIND" in codes[: codes.index("BACKPRESSURE")], codes
