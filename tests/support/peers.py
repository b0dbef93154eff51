"""What the relay test peers share: their command line and their engine."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from tests.support.servers import ROOT, _wait_port

RIVA = "tests.support.riva_server"
OPENAI = "tests.support.openai_server"


def peer_arguments(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--record", default=None, help="(Riva) append each Recognize answer here")
    return parser.parse_args()


def peer_engine(args: argparse.Namespace) -> WhisperEngine:
    settings = SttModelSettings(name=args.model)
    options = WhisperOptions(beam_size=1, cpu_threads=args.threads)
    return WhisperEngine(resolve_model_dir(settings), f"whisper-{args.model}", options)


def riva_relay_env(address: str, key: str, function_id: str = "asr-ok") -> dict[str, str]:
    """A host configuration whose only relay, ``riva``, is the Riva peer at ``address``."""
    settings = {"KIND": "riva", "URL": address, "API_KEY": key, "FUNCTION_ID": function_id}
    return {"SCAIECHO_RELAYS": "riva"} | {f"SCAIECHO_RELAY_RIVA_{k}": v for k, v in settings.items()}


@contextmanager
def peer_process(module: str, port: int, key: str, *extra: str) -> Iterator[None]:
    """Run a peer (``RIVA`` or ``OPENAI``) on 127.0.0.1:``port`` until the context ends."""
    command = [sys.executable, "-m", module, "--port", str(port), "--api-key", key, *extra]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, process, timeout=60)
        yield
    finally:
        process.kill()
        process.wait(timeout=10)
