"""Sync transcription: HTTP API vs direct engine call, same audio, same model, one run.

    .venv/bin/python bench/transcribe_sync.py [--model base] [--runs 5]

Serves the stub host (SQLite, in-process node) as a real process, then alternates API calls
and direct engine calls on the same recording, so machine noise hits both paths alike.
Prints medians, real-time factors and the API/engine ratio (target: within 5 %, engine >= 8x).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaiecho_module.audio.decode import decode_file
from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.engines.weights import SttModelSettings
from scaiecho_module.runtime import load_engine
from tests.support import recordings
from tests.support.db import issue_key
from tests.support.servers import stub_server


def _key(database_url: str) -> str:
    return str(issue_key(database_url, ["scaiecho:transcribe"]).key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="base", choices=["base", "tiny.en"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    audio_path = recordings.conversation()
    with audio_path.open("rb") as handle:
        audio = decode_file(handle)
    seconds = len(audio) / 16000
    settings = ScaiEchoSettings(
        stt=SttModelSettings(name=args.model, beam_size=5 if args.model == "base" else 1)
    )
    engine = load_engine(settings)
    engine.transcribe(audio, "en")  # warm-up, as the server's first request would be

    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        extra = {"SCAIECHO_STT_MODEL": args.model, "SCAIECHO_STT_BEAM_SIZE": str(settings.stt.beam_size)}
        with stub_server(db_url, Path(tmp), extra) as server:
            key = _key(db_url)
            client = httpx.Client(
                base_url=server.api, headers={"Authorization": f"Bearer {key}"}, timeout=600
            )

            def api_call() -> str:
                with audio_path.open("rb") as handle:
                    resp = client.post(
                        "/transcribe",
                        files={"file": ("a.wav", handle, "audio/wav")},
                        data={"language_hint": "en"},
                    )
                resp.raise_for_status()
                return str(resp.json()["data"]["transcript"])

            api_call()  # warm-up
            api_times, engine_times = [], []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                api_text = api_call()
                api_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                engine_text = engine.transcribe(audio, "en").text
                engine_times.append(time.perf_counter() - t0)

    api_med, eng_med = statistics.median(api_times), statistics.median(engine_times)
    print(f"audio: {audio_path.name}, {seconds:.1f} s; model whisper-{args.model} int8; runs: {args.runs}")
    print(f"engine direct: median {eng_med:.2f} s  -> {seconds / eng_med:.1f}x real time")
    print(f"HTTP API     : median {api_med:.2f} s  -> {seconds / api_med:.1f}x real time")
    print(
        f"API / engine time ratio: {api_med / eng_med:.3f}  (overhead {100 * (api_med / eng_med - 1):+.1f} %)"
    )
    print(f"same transcript: {api_text == engine_text}")


if __name__ == "__main__":
    main()
