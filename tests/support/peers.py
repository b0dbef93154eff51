"""What the relay test peers share: their command line and their engine."""

from __future__ import annotations

import argparse

from scaiecho_module.config import SttModelSettings
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import resolve_model_dir


def peer_arguments(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def peer_engine(args: argparse.Namespace) -> WhisperEngine:
    settings = SttModelSettings(name=args.model)
    options = WhisperOptions(beam_size=1, cpu_threads=args.threads)
    return WhisperEngine(resolve_model_dir(settings), f"whisper-{args.model}", options)
