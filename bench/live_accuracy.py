"""Live-final WER against the file path's WER on the same real speech, clean and noisy.

    .venv/bin/python bench/live_accuracy.py [--model tiny.en|base] [--snr 5] [--recordings read call]
        [--default-only]

Two real recordings: ``read``, the five LibriVox sentences of tests/support (27 s of read
speech, 0.5 s apart, 71 words), and ``call``, the pyannote sample (30 s of a two-person
telephone call, overlaps included; its STM transcript, in order of start, is the reference).
Each is decoded twice by the same in-process engine: once whole, as the file path does, and once
through Backend A's live recogniser (``SelfHostedBackend.open_stream``, the real VAD and
utterance cutting), pushed in 20 ms frames, with the finals joined. The live path runs
without context (each final decoded alone, the old behaviour) and with it (the session's
committed tail as the prompt). The noisy copy mixes pink noise (fixed seed) at ``--snr`` dB
against the speech's RMS. WER is deterministic per configuration; the per-final decode
time is reported as median and p95 so a latency cost of the prompt shows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaiecho_module.audio.pcm import SAMPLE_RATE
from scaiecho_module.backends.base import LiveContext
from scaiecho_module.backends.nodes import InProcessNode
from scaiecho_module.backends.pool import NodePool
from scaiecho_module.backends.self_hosted import SelfHostedBackend
from scaiecho_module.engines.stt import WhisperEngine, WhisperOptions
from scaiecho_module.engines.weights import SttModelSettings, resolve_model_dir
from tests.support.recordings import all_librivox, conversation, conversation_text, read_pcm
from tests.support.text import wer, words

FRAME = int(0.02 * SAMPLE_RATE)


def speech() -> tuple[np.ndarray, str]:
    gap = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    parts, texts = [], []
    for clip in all_librivox():
        parts += [read_pcm(clip.wav).astype(np.float32) / 32768.0, gap]
        texts.append(clip.text)
    return np.concatenate(parts), " ".join(texts)


def call() -> tuple[np.ndarray, str]:
    return read_pcm(conversation()).astype(np.float32) / 32768.0, conversation_text()


def pink(n: int, seed: int = 19) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return (noise / np.sqrt(np.mean(noise**2))).astype(np.float32)


def mix(clean: np.ndarray, snr_db: float) -> np.ndarray:
    voiced = clean[np.abs(clean) > 1e-4]
    gain = np.sqrt(np.mean(voiced**2)) / 10 ** (snr_db / 20)
    return np.clip(clean + gain * pink(len(clean)), -1.0, 1.0).astype(np.float32)


async def live(
    engine: WhisperEngine, audio: np.ndarray, context: bool, window: float | None = None
) -> tuple[str, list[float]]:
    pool = NodePool([InProcessNode("bench", engine)])
    backend = SelfHostedBackend(pool, live_context=context, live_window=window)
    recognizer = await backend.open_stream(None, 15.0, LiveContext("t", "s", partials=False))
    texts: list[str] = []
    decode: list[float] = []
    for start in range(0, len(audio), FRAME):
        began = time.perf_counter()
        deltas = await recognizer.push(audio[start : start + FRAME])
        if deltas:
            decode.append(time.perf_counter() - began)
        texts += [d.text for d in deltas if d.is_final]
    texts += [d.text for d in await recognizer.finish() if d.is_final]
    return " ".join(texts), decode


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--snr", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=10.0, help="SCAIECHO_STREAM_WINDOW_SECONDS")
    parser.add_argument("--show", action="store_true", help="print the hypotheses")
    parser.add_argument("--recordings", nargs="+", default=["read", "call"], choices=["read", "call"])
    parser.add_argument(
        "--default-only", action="store_true", help="live: only the default (alone, --window)"
    )
    args = parser.parse_args()
    engine = WhisperEngine(resolve_model_dir(SttModelSettings(name=args.model)), args.model, WhisperOptions())
    # Each live variant: (name, left context, encoder window); WER, then final decode p50/p95.
    variants = [(f"alone, {args.window:g} s", False, args.window)]
    if not args.default_only:
        variants = [("alone, 30 s", False, None), *variants, ("context, 30 s", True, None),
                    (f"context, {args.window:g} s", True, args.window)]  # fmt: skip
    sources = {"read": speech, "call": call}
    print(f"model {args.model}")
    print("| recording | audio | file WER | " + " | ".join(f"live {name}" for name, *_ in variants) + " |")
    print("|---|---|---|" + "---|" * len(variants))
    # Pooled over the recordings, per audio: word errors of the file path and of each variant.
    pooled: dict[str, list[float]] = {}
    pooled_words: dict[str, int] = {}
    for recording in args.recordings:
        clean, reference = sources[recording]()
        count = len(words(reference))
        for label, audio in (("clean", clean), (f"pink {args.snr:g} dB", mix(clean, args.snr))):
            file_text = (await asyncio.to_thread(engine.transcribe, audio)).text
            errors = [wer(reference, file_text) * count]
            cells = []
            for name, context, window in variants:
                text, times = await live(engine, audio, context, window)
                if args.show:
                    print(f"{name:>16}: {text}")
                p50, p95 = statistics.median(times), pct(times, 0.95)
                errors.append(wer(reference, text) * count)
                cells.append(f"{100 * wer(reference, text):.1f} % ({p50:.2f}/{p95:.2f} s)")
            if args.show:
                print(f"{'file':>16}: {file_text}")
            print(
                f"| {recording} ({count} words) | {label} | {100 * errors[0] / count:.1f} % | "
                + " | ".join(cells)
                + " |"
            )
            pooled[label] = [
                a + b for a, b in zip(pooled.get(label, [0.0] * len(errors)), errors, strict=True)
            ]
            pooled_words[label] = pooled_words.get(label, 0) + count
    if len(args.recordings) > 1:
        for label, errors in pooled.items():
            total = pooled_words[label]
            cells = [f"{100 * e / total:.1f} %" for e in errors]
            print(f"| all ({total} words) | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    asyncio.run(main())
