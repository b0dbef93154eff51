"""Speaker labels on files: DER, name accuracy, strangers named, and the cost on a file.

    .venv/bin/python bench/diarize.py [--model base] [--steps 0.1 0.3 0.5] [--runs 3]

In this process, through the code the service runs: ``Diarizer`` (engines/diarization.py),
cluster centroids matched against a ``SpeakerLibrary`` at ``MATCH_THRESHOLD`` (what
``SpeakerNamer`` asks a speaker node), ``attribute`` onto Whisper's segments.

Conversations (real voices, reference turns): ``call``, the pyannote sample (two people on
the phone, 30 s, its RTTM); ``three``, the LibriVox reader's sentence 0880 then the call
(tests/support/conversations.py).

1. DER (pyannote.metrics, collar 0.25 s) with no one enrolled, per segmentation step.
2. Names with everyone enrolled: the share of single-speaker reference time whose exclusive
   turn carries the speaker's own name. The reader is enrolled from clips 0870/0890/0920
   (not the 0880 in the conversation); the call's two people from their own single-speaker
   stretches of the call (there is no other recording of them: their figure is optimistic).
3. Strangers: the share of an unenrolled speaker's single-speaker time carrying any enrolled
   name, with only the reader enrolled (the call's people are strangers) and with the reader
   and speaker91 enrolled (speaker90 is the stranger); and whether the stranger's own cluster
   (the one covering most of their time) was named.
4. Cost: the file's wall time with diarization / without (Whisper ``--model``, beam 5 for
   base, int8, 2 threads; the in-process node runs the two one after the other behind one
   slot, so the ratio is (STT + diarize) / STT). Medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from scaiecho_module.config import ScaiEchoSettings, SttModelSettings
from scaiecho_module.engines.diarization import Diarization, Diarizer
from scaiecho_module.engines.speaker_library import MATCH_THRESHOLD, SpeakerLibrary
from scaiecho_module.runtime import load_engine
from tests.support import recordings
from tests.support.conversations import READER, three_voices_pcm
from tests.support.speakers import conversation_voices, embedder

RATE = 16000


def conversations() -> dict[str, tuple[np.ndarray, list[tuple[float, float, str]]]]:
    call = recordings.read_pcm(recordings.conversation())
    three, turns = three_voices_pcm()
    as_float = lambda pcm: pcm.astype(np.float32) / 32768.0  # noqa: E731
    return {"call": (as_float(call), recordings.conversation_turns()), "three": (as_float(three), turns)}


def der(found: Diarization, turns: list[tuple[float, float, str]]) -> float:
    reference, hypothesis = Annotation(), Annotation()
    for start, end, who in turns:
        reference[Segment(start, end)] = who
    for turn in found.turns:
        hypothesis[Segment(turn.start, turn.end)] = turn.speaker
    return float(DiarizationErrorRate(collar=0.25)(reference, hypothesis))


def library(enrolled: set[str]) -> SpeakerLibrary:
    lib = SpeakerLibrary()
    if READER in enrolled:
        clips = [recordings.read_pcm(recordings.librivox(c).wav) for c in ("0870", "0890", "0920")]
        voice = embedder().voice_windows(np.concatenate(clips).astype(np.float32) / 32768.0).voice
        assert voice is not None
        lib.enroll("t", READER, voice)
    for who, clips in conversation_voices(1.0).items():
        if who in enrolled:
            lib.enroll("t", who, embedder().embed([np.concatenate(clips).astype(np.float32) / 32768.0])[0])
    return lib


def single_speaker_frames(turns: list[tuple[float, float, str]], end: float) -> dict[str, np.ndarray]:
    """Per speaker, the 10 ms frames where they alone speak."""
    frames = np.arange(0, end, 0.01) + 0.005
    talking = {who: np.zeros(len(frames), bool) for _, _, who in turns}
    for start, stop, who in turns:
        talking[who] |= (frames >= start) & (frames < stop)
    count = sum(t.astype(int) for t in talking.values())
    return {who: t & (count == 1) for who, t in talking.items()}


def names_of(found: Diarization, lib: SpeakerLibrary) -> list[str]:
    matches = lib.match("t", found.centroids, MATCH_THRESHOLD) if found.speakers else []
    return [m.speaker_id or "" for m in matches]


def _own_cluster(found: Diarization, alone: np.ndarray, end: float) -> int | None:
    frames = np.arange(0, end, 0.01) + 0.005
    cover: dict[int, int] = {}
    for turn in found.exclusive:
        inside = (frames >= turn.start) & (frames < turn.end) & alone
        cover[turn.speaker] = cover.get(turn.speaker, 0) + int(inside.sum())
    return max(cover, key=cover.__getitem__) if cover else None


def names_on_frames(found: Diarization, lib: SpeakerLibrary, end: float) -> np.ndarray:
    """The name (or '') each 10 ms frame's exclusive turn carries."""
    names = names_of(found, lib)
    frames = np.arange(0, end, 0.01) + 0.005
    out = np.full(len(frames), "", dtype=object)
    for turn in found.exclusive:
        out[(frames >= turn.start) & (frames < turn.end)] = names[turn.speaker]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="base")
    parser.add_argument("--steps", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    talks = conversations()
    engine = load_engine(
        ScaiEchoSettings(stt=SttModelSettings(name=args.model, beam_size=5 if args.model == "base" else 1))
    )
    everyone = {READER, "speaker90", "speaker91"}
    libs = {
        "all": library(everyone),
        "reader": library({READER}),
        "reader+91": library({READER, "speaker91"}),
    }
    for name, (audio, _) in talks.items():
        engine.transcribe(audio, "en")  # warm-up
        stt_runs = [_timed(engine.transcribe, audio) for _ in range(args.runs)]
        stt = statistics.median(wall for wall, _ in stt_runs)
        stt_cpu = statistics.median(cpu for _, cpu in stt_runs)
        print(
            f"{name}: {len(audio) / RATE:.1f} s audio, STT ({args.model}) median {stt:.2f} s "
            f"(CPU {stt_cpu:.2f} s)"
        )
        for step in args.steps:
            diarizer = Diarizer(embedder(), segmentation_step=step)
            diarizer.diarize(audio)  # warm-up
            times, cpus, found = [], [], None
            for _ in range(args.runs):
                start, cpu = time.perf_counter(), time.process_time()
                found = diarizer.diarize(audio)
                times.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
            assert found is not None
            cost = statistics.median(times)
            turns = talks[name][1]
            end = len(audio) / RATE
            alone = single_speaker_frames(turns, end)
            right = names_on_frames(found, libs["all"], end)
            named = sum(int((right[alone[w]] == w).sum()) for w in alone) / sum(
                int(a.sum()) for a in alone.values()
            )
            strangers = []
            for lib_name, enrolled in (("reader", {READER}), ("reader+91", {READER, "speaker91"})):
                labels = names_on_frames(found, libs[lib_name], end)
                for who in alone:
                    if who not in enrolled and alone[who].any():
                        wrong = float((labels[alone[who]] != "").mean())
                        # The stranger's own cluster (the one covering most of their time):
                        # named or not. Time above it is turn-boundary confusion with a named
                        # neighbour, not a stranger given a name.
                        own = _own_cluster(found, alone[who], end)
                        named_own = own is not None and bool(names_of(found, libs[lib_name])[own])
                        verdict = "NAMED" if named_own else "unnamed"
                        strangers.append(f"{who}|{lib_name} {100 * wrong:.1f} % (own cluster {verdict})")
            print(
                f"  step {step}: {found.speakers} speakers, DER {100 * der(found, turns):.1f} %, "
                f"right names {100 * named:.1f} %, strangers named: {', '.join(strangers)}; "
                f"diarize median {cost:.2f} s (CPU {statistics.median(cpus):.2f} s), "
                f"cost ratio {(stt + cost) / stt:.2f}",
                flush=True,
            )


def _timed(transcribe: Callable[..., object], audio: np.ndarray) -> tuple[float, float]:
    """Wall and process CPU seconds (the CPU figure moves less with the shared machine's load)."""
    start, cpu = time.perf_counter(), time.process_time()
    transcribe(audio, "en")
    return time.perf_counter() - start, time.process_time() - cpu


if __name__ == "__main__":
    main()
