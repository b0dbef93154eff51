"""Speaker labels on live sessions: DER, right names, strangers named, and the final latency.

    .venv/bin/python bench/diarize_live.py [--sessions 4] [--rounds 2] [--model tiny.en]

Serves the stub host (embedded default: the in-process node is the STT and speaker node) as
a real process; clients stream 20 ms PCM16 frames at real-time pace with ``diarize: true``.
A final's label covers the final's span (``start``..``end``); scores use pyannote.metrics.

Conversations (real voices, reference turns): ``call``, the pyannote sample (two people on
the phone, 30 s, its RTTM, overlaps included); ``two``, tests/support/two_voices.py (the
LibriVox reader, then speaker91 of the call, then the reader again straight after her).

1. DER (collar 0.25 s), no one enrolled, on both.
2. Names on ``two`` with both enrolled (each from other speech of theirs): the share of each
   speaker's reference time whose final carries their own name.
3. Strangers: with the reader enrolled, the share of the call's two people's time (strangers
   to the tenant) carrying any enrolled name.
4. Final latency, ``--sessions`` concurrent sessions of the call, diarize off and on in
   alternating rounds, after one unmeasured diarized session of the call's first 12 s: a
   final's arrival time minus the stream time its audio ended (``end``; the audio is sent at
   real-time pace). The parts of a split utterance arrive
   together and count once, from the last part's end. p50/p95 over all rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from tests.e2e.conftest import Caller, caller_factory
from tests.e2e.test_speakers import enroll
from tests.support import recordings, two_voices
from tests.support.servers import stub_server
from tests.support.ws import StreamResult, stream_pcm

Turns = list[tuple[float, float, str]]
OPEN = {"type": "open", "language_hint": "en", "media_type": "audio/pcm"}


def conversations() -> dict[str, tuple[np.ndarray, Turns]]:
    call = recordings.read_pcm(recordings.conversation())
    samples, turns = two_voices.live_conversation()
    return {
        "call": (call, recordings.conversation_turns()),
        "two": (samples, [(t.start, t.end, t.who) for t in turns]),
    }


def stream(caller: Caller, samples: np.ndarray, diarize: bool = True) -> StreamResult:
    result = stream_pcm(caller.server.api, caller.key, samples, realtime=True,
                        open_frame={**OPEN, "diarize": diarize})  # fmt: skip
    assert result.close_code == 1000, result.frames[-3:]
    return result


def der(finals: list[dict[str, Any]], turns: Turns) -> float:
    reference, hypothesis = Annotation(), Annotation()
    for start, end, who in turns:
        reference[Segment(start, end)] = who
    for index, final in enumerate(finals):
        if "speaker_label" in final:
            hypothesis[Segment(final["start"], final["end"]), index] = final["speaker_label"]
    return float(DiarizationErrorRate(collar=0.25)(reference, hypothesis))


def label_time(finals: list[dict[str, Any]], turns: Turns) -> dict[str, dict[str | None, float]]:
    """Per reference speaker, seconds of their turns under each label (None: unlabelled or
    no final)."""
    cover: dict[str, dict[str | None, float]] = {}
    for start, end, who in turns:
        covered = 0.0
        for final in finals:
            shared = min(end, final["end"]) - max(start, final["start"])
            if shared > 0:
                label = final.get("speaker_label")
                cover.setdefault(who, {}).setdefault(label, 0.0)
                cover[who][label] += shared
                covered += shared
        cover.setdefault(who, {}).setdefault(None, 0.0)
        cover[who][None] += max(0.0, end - start - covered)
    return cover


def enroll_as(caller: Caller, who: str) -> None:
    if who == two_voices.ELINOR:
        resp = enroll(caller, two_voices.elinor_reference(), display_name=who)
    else:
        reference, consent, words = two_voices.sheila_recordings()
        resp = enroll(caller, reference, consent, display_name=who, consent_user_full_name=who,
                      consent_text=words)  # fmt: skip
    assert resp.status_code == 201 and resp.json()["data"]["enrollment_status"] == "ready", resp.text


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_round(callers: list[Caller], samples: np.ndarray, diarize: bool) -> list[float]:
    results: list[StreamResult | None] = [None] * len(callers)

    def one(index: int) -> None:
        results[index] = stream(callers[index], samples, diarize)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(callers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = []
    for result in results:
        assert result is not None
        finals = [f for f in result.frames if f.data.get("type") == "delta" and f.data["is_final"]]
        # The parts of one split utterance leave together, when the utterance has ended and
        # been labelled: one latency per utterance, from the end of its last part.
        bursts: list[list[Any]] = []
        for frame in finals:
            if bursts and frame.at - bursts[-1][-1].at < 0.05:
                bursts[-1].append(frame)
            else:
                bursts.append([frame])
        latencies += [burst[-1].at - max(f.data["end"] for f in burst) for burst in bursts]
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--show", action="store_true", help="print each unenrolled run's finals")
    parser.add_argument("--latency-only", action="store_true")
    args = parser.parse_args()
    talks = conversations()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        with stub_server(db_url, Path(tmp), {"SCAIECHO_STT_MODEL": args.model}) as server:
            make = caller_factory(server)
            if not args.latency_only:
                accuracy(make, talks, args.show)
            if args.skip_latency:
                return
            samples = talks["call"][0]
            callers = [make() for _ in range(args.sessions)]
            # One unmeasured round first: what loads on first use (segmentation-3.0, warmed by
            # a session's first speaker block) is not what a final waits for afterwards.
            latency_round(callers[:1], samples[: 12 * 16000], True)
            figures: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.rounds):
                for diarize in (False, True):
                    figures[diarize] += latency_round(callers, samples, diarize)
    print(f"\nfinal latency, N = {args.sessions}, the call at real-time pace, {args.rounds} rounds each:")
    print("| diarize | utterances | p50 | p95 |")
    print("| --- | --- | --- | --- |")
    for diarize, values in figures.items():
        print(
            f"| {diarize} | {len(values)} | {statistics.median(values):.2f} s | {pct(values, 0.95):.2f} s |"
        )
    ratio = pct(figures[True], 0.95) / pct(figures[False], 0.95)
    print(f"p95 ratio with/without: {ratio:.2f}")


def accuracy(make: Any, talks: dict[str, tuple[np.ndarray, Turns]], show: bool) -> None:
    print("\n| conversation | enrolled | DER (collar 0.25) | labels per speaker (s) |")
    print("| --- | --- | --- | --- |")
    for name, (samples, turns) in talks.items():
        finals = stream(make(), samples).finals
        if show:
            print([(f["start"], f["end"], f.get("speaker_label"), f["text"][:40]) for f in finals])
        cover = label_time(finals, turns)
        print(f"| {name} | nobody | {100 * der(finals, turns):.1f} % | {_show(cover)} |")
    samples, turns = talks["two"]
    both = make()
    enroll_as(both, two_voices.ELINOR)
    enroll_as(both, two_voices.SHEILA)
    finals = stream(both, samples).finals
    cover = label_time(finals, turns)
    right = sum(c.get(who, 0.0) for who, c in cover.items()) / sum(e - s for s, e, _ in turns)
    print(f"| two | both | {100 * der(finals, turns):.1f} % | {_show(cover)} |")
    labelled = sum(t for c in cover.values() for label, t in c.items() if label is not None)
    right_of_labelled = sum(c.get(who, 0.0) for who, c in cover.items()) / labelled
    print(f"\nright names, both enrolled: {100 * right:.1f} % of reference time, "
          f"{100 * right_of_labelled:.1f} % of labelled time")  # fmt: skip
    reader = make()
    enroll_as(reader, two_voices.ELINOR)
    samples, turns = talks["call"]
    finals = stream(reader, samples).finals
    cover = label_time(finals, turns)
    named = sum(c.get(two_voices.ELINOR, 0.0) for c in cover.values())
    share = 100 * named / sum(e - s for s, e, _ in turns)
    print(f"strangers (the call, reader enrolled) named: {share:.1f} % of their time; {_show(cover)}")


def _show(cover: dict[str, dict[str | None, float]]) -> str:
    return "; ".join(
        f"{who}: " + ", ".join(f"{label or '-'} {seconds:.1f}" for label, seconds in sorted(
            labels.items(), key=lambda item: -item[1]) if seconds >= 0.05)
        for who, labels in sorted(cover.items())
    )  # fmt: skip


if __name__ == "__main__":
    main()
