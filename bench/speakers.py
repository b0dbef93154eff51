"""Speaker engine: embedding cost, and speaker verification on real voices.

    .venv/bin/python bench/speakers.py [--threads 1 2] [--diarize]
    .venv/bin/python bench/speakers.py --enroll [--runs 7] [--stt-model base]

1. Embedding latency: CAM++ (fbank + model) on clips of 1.5, 5 and 30 s of real speech, per
   torch thread count; wall and CPU milliseconds per audio second (medians of 5).
2. Verification, as matching uses it: a 1.5 s speech window against an enrollment (the
   ``voice`` of other speech of that speaker). Enrolled speakers: the LibriVox narrator (clips
   0870+0880 enrol, windows of 0890-0930 test) and the two people of the pyannote telephone
   call (one of each person's single-speaker stretches enrols, the windows of the others
   test). Impostors: those three against each other, plus the other recordings of the
   pocketsphinx sdist (different voices from all three) against all three enrollments.
   Prints both cosine distributions, the equal-error rate and its threshold, and the
   threshold with no false accept on these trials.
3. ``--enroll`` (alone: it serves the stub host, and runs nothing of 1 and 2): ``POST /speakers``
   wall time as a client sees it (decode, preflight with the consent transcribed and both
   recordings embedded, blobs and rows stored, fan-out), on the LibriVox reference (18 s) and
   consent (3.3 s). Two hosts, one after the other, each on SQLite and local blobs: the
   embedded default (the in-process node embeds and holds the speaker), then two real Triton
   speaker nodes (``scaiecho_speaker`` only; the in-process node, its speaker engine off, only
   transcribes the consent), so the embeddings cross gRPC and the enrollment fans out to both.
   One cold enrollment first (reported apart), then ``--runs`` more, each a distinct
   display_name; all are erased afterwards (erasure wall time reported too).
4. ``--diarize``: DER (collar 0.25 s, pyannote.metrics) of ``Diarizer`` on the pyannote sample
   with no one enrolled, and its wall time against the file's length.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaiecho_module.engines.speaker_embedding import SpeakerEmbedder
from tests.support import recordings
from tests.support.servers import StubServer, stub_server
from tests.support.speakers import cut

RATE = 16000
_IMPOSTOR_FILES = (
    "test/data/goforward.raw",
    "test/data/numbers.raw",
    "test/data/something.raw",
    "test/regression/chan3.raw",
    "test/data/cards/001.wav",
    "test/data/forever/input_2_16k.wav",
)


def impostors() -> dict[str, np.ndarray]:
    """Other real voices from the pocketsphinx sdist (16 kHz; .raw is headerless PCM16)."""
    recordings.ensure_recordings()
    sdist = next((recordings.CACHE / "downloads").glob("pocketsphinx-5.1.1.tar.gz"))
    out = {}
    with tarfile.open(sdist) as tar:
        for name in _IMPOSTOR_FILES:
            member = tar.extractfile(f"pocketsphinx-5.1.1/{name}")
            assert member is not None
            data = member.read()
            if name.endswith(".wav"):
                path = recordings.CACHE / "impostors" / Path(name).name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                out[name] = recordings.read_pcm(path)
            else:
                out[name] = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    return out


def latency(threads: list[int]) -> None:
    speech = np.concatenate([recordings.read_pcm(c.wav) for c in recordings.all_librivox()])
    print("## embedding latency (ms per audio second, median of 5)")
    print("| torch threads | clip | wall | CPU |")
    print("|---|---|---|---|")
    for count in threads:
        embedder = SpeakerEmbedder(threads=count)
        embedder.embed([speech[:RATE]])  # warm up
        for seconds in (1.5, 5.0, 30.0):
            clip = speech[: int(seconds * RATE)]
            walls, cpus = [], []
            for _ in range(5):
                wall, cpu = time.perf_counter(), time.process_time()
                embedder.embed([clip])
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            wall_ms = 1000 * statistics.median(walls) / seconds
            cpu_ms = 1000 * statistics.median(cpus) / seconds
            print(f"| {count} | {seconds:g} s | {wall_ms:.1f} | {cpu_ms:.1f} |")


def _windows(embedder: SpeakerEmbedder, audio: np.ndarray) -> np.ndarray:
    return embedder.voice_windows(audio).vectors


def verification(embedder: SpeakerEmbedder) -> None:
    narrator = [recordings.read_pcm(c.wav) for c in recordings.all_librivox()]
    call = recordings.read_pcm(recordings.conversation())
    spans = recordings.single_speaker_spans(1.5)
    enrolled: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # speaker -> (voice, windows) folds
    narrator_voice = embedder.voice_windows(np.concatenate(narrator[:2])).voice
    assert narrator_voice is not None
    enrolled["narrator"] = [(narrator_voice, _windows(embedder, np.concatenate(narrator[2:])))]
    for speaker, parts in spans.items():
        folds = []
        for held_out in range(len(parts)):
            rest = np.concatenate([cut(call, s, e) for i, (s, e) in enumerate(parts) if i != held_out])
            voice = embedder.voice_windows(rest).voice
            test = embedder.embed(_cut_windows(cut(call, *parts[held_out])))
            if voice is not None and len(test):
                folds.append((voice, test))
        enrolled[speaker] = folds
    others = [embedder.embed(_cut_windows(audio)) for audio in impostors().values()]
    same, different = [], []
    for speaker, folds in enrolled.items():
        for voice, test in folds:
            same.extend((test @ voice).tolist())
        voice = folds[0][0]
        for other, other_folds in enrolled.items():
            if other != speaker:
                for _, test in other_folds:
                    different.extend((test @ voice).tolist())
        for test in others:
            different.extend((test @ voice).tolist())
    same_a, diff_a = np.array(same), np.array(different)
    print(f"\n## verification: {len(same_a)} same-speaker and {len(diff_a)} different-speaker trials")
    for name, values in (("same", same_a), ("different", diff_a)):
        q = np.percentile(values, [1, 5, 50, 95, 99])
        print(
            f"{name:9s} cosine: min {values.min():.3f} p1 {q[0]:.3f} p5 {q[1]:.3f} median {q[2]:.3f} "
            f"p95 {q[3]:.3f} p99 {q[4]:.3f} max {values.max():.3f}"
        )
    grid = np.linspace(-0.2, 1.0, 1201)
    far = np.array([(diff_a >= t).mean() for t in grid])
    frr = np.array([(same_a < t).mean() for t in grid])
    i = int(np.argmin(np.abs(far - frr)))
    print(f"EER {100 * (far[i] + frr[i]) / 2:.2f} % at threshold {grid[i]:.3f}")
    zero = grid[int(np.argmax(far == 0))]
    print(
        f"no false accept from threshold {zero:.3f} "
        f"(false rejects there {100 * (same_a < zero).mean():.1f} %)"
    )
    for t in (0.4, 0.45, 0.5, 0.55, 0.6):
        print(
            f"threshold {t:.2f}: false accepts {100 * (diff_a >= t).mean():.2f} %, "
            f"false rejects {100 * (same_a < t).mean():.2f} %"
        )


def _cut_windows(audio: np.ndarray, window: float = 1.5, step: float = 0.75) -> list[np.ndarray]:
    """Fixed windows over a clip already known to be one speaker (as the engine cuts speech)."""
    size, hop = int(window * RATE), int(step * RATE)
    return [
        audio[i : i + size]
        for i in range(0, max(1, len(audio) - size + 1), hop)
        if len(audio[i : i + size]) >= RATE // 2
    ]


def diarize(embedder: SpeakerEmbedder) -> None:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    from scaiecho_module.engines.diarization import Diarizer

    audio = recordings.read_pcm(recordings.conversation())
    reference = Annotation()
    for start, end, speaker in recordings.conversation_turns():
        reference[Segment(start, end)] = speaker
    diarizer = Diarizer(embedder)
    diarizer.diarize(audio[: 5 * RATE])  # warm up
    wall = time.perf_counter()
    result = diarizer.diarize(audio)
    wall = time.perf_counter() - wall
    hypothesis = Annotation()
    for turn in result.turns:
        hypothesis[Segment(turn.start, turn.end)] = f"spk_{turn.speaker}"
    der = DiarizationErrorRate(collar=0.25)(reference, hypothesis)
    print(f"\n## diarization: pyannote sample ({len(audio) / RATE:.1f} s)")
    print(
        f"DER {100 * der:.2f} % (collar 0.25 s), {result.speakers} speakers, {wall:.1f} s wall "
        f"({wall / (len(audio) / RATE):.2f} x the audio's length)"
    )


def _enroll_times(server: StubServer, runs: int, expect: list[str]) -> tuple[float, list[float], list[float]]:
    """(cold enrollment, warm enrollments, erasures), wall seconds of each request."""
    import httpx

    from tests.support import speakers
    from tests.support.db import issue_key

    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    key = issue_key(server.database_url, ["scaiecho:enroll"], tenant, f"{tenant}@bench.local").key
    fields = {
        "language_primary": "en",
        "consent_user_full_name": "Elinor Reader",
        "consent_stated_purpose": "Benchmark",
        "consent_text": speakers.CONSENT_TEXT,
    }
    reference, consent = speakers.reference().read_bytes(), speakers.consent().read_bytes()
    headers = {"Authorization": f"Bearer {key}"}
    times, ids = [], []
    with httpx.Client(base_url=server.api, headers=headers, timeout=300) as client:
        for i in range(runs + 1):
            files = {
                "reference": ("reference.wav", reference, "audio/wav"),
                "consent": ("consent.wav", consent, "audio/wav"),
            }
            t0 = time.perf_counter()
            resp = client.post("/speakers", files=files, data={**fields, "display_name": f"Bench Reader {i}"})
            times.append(time.perf_counter() - t0)
            data = resp.json()["data"]
            assert resp.status_code == 201 and data["enrollment_status"] == "ready", resp.text
            assert data["enrolled_on"] == expect, data["enrolled_on"]
            ids.append(data["id"])
        erasures = []
        for speaker_id in ids:
            t0 = time.perf_counter()
            resp = client.delete(f"/speakers/{speaker_id}")
            erasures.append(time.perf_counter() - t0)
            assert resp.status_code == 200 and resp.json()["data"]["error_summary"] == {}, resp.text
    return times[0], times[1:], erasures


def enrollment(runs: int, stt_model: str) -> None:
    from tests.support.triton import SPEAKER_MODEL, triton_server

    print(f"## enrollment latency (POST /speakers, wall; STT {stt_model}; median of {runs} after one cold)")
    print("| host | cold | median | min | max | erasure median | load average (1 min) |")
    print("|---|---|---|---|---|---|---|")

    def report(label: str, result: tuple[float, list[float], list[float]]) -> None:
        cold, warm, erase = result
        print(
            f"| {label} | {cold:.2f} s | {statistics.median(warm):.2f} s | {min(warm):.2f} s | "
            f"{max(warm):.2f} s | {1000 * statistics.median(erase):.0f} ms | {os.getloadavg()[0]:.1f} |",
            flush=True,
        )

    with tempfile.TemporaryDirectory(prefix="scaiecho-bench-enroll-") as tmp:
        work = Path(tmp)
        env = {"SCAIECHO_STT_MODEL": stt_model}
        with stub_server(f"sqlite+aiosqlite:///{work / 'embedded.db'}", work / "embedded", env) as server:
            report("embedded default (in-process node)", _enroll_times(server, runs, ["in-process"]))
        with (
            triton_server(work / "t1", models=(SPEAKER_MODEL,)) as t1,
            triton_server(work / "t2", models=(SPEAKER_MODEL,)) as t2,
        ):
            env |= {
                "SCAIECHO_NODES": f"t1={t1.grpc_url},t2={t2.grpc_url}",
                "SCAIECHO_INPROCESS_NODE": "true",
                "SCAIECHO_SPEAKER_ENGINE": "false",
            }
            with stub_server(f"sqlite+aiosqlite:///{work / 'fleet.db'}", work / "fleet", env) as server:
                report("two Triton speaker nodes", _enroll_times(server, runs, ["t1", "t2"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--diarize", action="store_true")
    parser.add_argument("--enroll", action="store_true", help="only the enrollment latency (serves the host)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--stt-model", default="base", help="the host's STT model (base: the default)")
    args = parser.parse_args()
    if args.enroll:
        enrollment(args.runs, args.stt_model)
        return
    latency(args.threads)
    embedder = SpeakerEmbedder(threads=1)
    verification(embedder)
    if args.diarize:
        diarize(embedder)


if __name__ == "__main__":
    main()
