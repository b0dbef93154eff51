"""Backend B on real protocol peers: a Riva ASR gRPC server and an OpenAI-compatible HTTP
server, both backed by our Whisper engine, reached through the served stub host.

Each relay below is a named relay of one stub host; tenants are put on relays with
``SCAIECHO_TENANT_RELAYS`` (tenants without an entry use the default relay, ``riva``).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Caller, caller_factory
from tests.support import recordings
from tests.support.db import audit_rows, issue_key, usage_rows
from tests.support.peers import OPENAI, RIVA, peer_process, riva_relay_env
from tests.support.servers import VENV_BIN, StubServer, closed_port, free_port, server_env, stub_server
from tests.support.text import wer
from tests.support.ws import speech_samples, stream_pcm

RIVA_KEY = "nvapi-riva-test-key-7f3a9c"
OPENAI_KEY = "sk-openai-test-key-41be0d"
WRONG_KEY = "nvapi-wrong-key-0c55e2"
SECRETS = (RIVA_KEY, OPENAI_KEY, WRONG_KEY)

# relay name -> its SCAIECHO_RELAY_<NAME>_* settings ({riva}/{openai} become the peers' addresses)
RELAYS = {
    "riva": {"KIND": "riva", "URL": "{riva}", "API_KEY": RIVA_KEY, "FUNCTION_ID": "asr-ok"},
    "oai": {"KIND": "openai", "URL": "{openai}", "API_KEY": OPENAI_KEY},
    "down": {"KIND": "riva", "URL": "127.0.0.1:{closed}", "API_KEY": RIVA_KEY, "TIMEOUT_SECONDS": "3"},
    "gone": {"KIND": "riva", "URL": "127.0.0.1:{closed}", "API_KEY": RIVA_KEY, "TIMEOUT_SECONDS": "3",
             "COOLDOWN_SECONDS": "0"},
    "oaigone": {"KIND": "openai", "URL": "http://127.0.0.1:{closed}", "API_KEY": OPENAI_KEY,
                "COOLDOWN_SECONDS": "0"},
    "slow": {"KIND": "riva", "URL": "{riva}", "API_KEY": RIVA_KEY, "FUNCTION_ID": "asr-slow",
             "TIMEOUT_SECONDS": "2", "COOLDOWN_SECONDS": "0"},
    "broken": {"KIND": "riva", "URL": "{riva}", "API_KEY": RIVA_KEY, "FUNCTION_ID": "asr-error"},
    "drop": {"KIND": "riva", "URL": "{riva}", "API_KEY": RIVA_KEY, "FUNCTION_ID": "asr-drop",
             "COOLDOWN_SECONDS": "0"},
    "badkey": {"KIND": "riva", "URL": "{riva}", "API_KEY": WRONG_KEY, "FUNCTION_ID": "asr-ok"},
    "oaislow": {"KIND": "openai", "URL": "{openai}", "API_KEY": OPENAI_KEY, "MODEL": "slow",
                "TIMEOUT_SECONDS": "2"},
    "oaibroken": {"KIND": "openai", "URL": "{openai}", "API_KEY": OPENAI_KEY, "MODEL": "broken"},
}  # fmt: skip
AB_B_DEFAULT = {"allowed_backends": ["A", "B"], "default_backend": "B"}
B_ONLY = {"allowed_backends": ["B"], "default_backend": "B"}


@dataclass
class RelayHost:
    server: StubServer
    tenants: dict[str, str]  # relay name -> tenant slug on it
    metrics_url: str
    riva: str  # the Riva peer's host:port
    riva_record: Path  # one JSON line per Recognize answer of the Riva peer

    def riva_answers(self) -> list[list[str]]:
        """The segment texts of every Recognize answer the Riva peer has sent, in order."""
        if not self.riva_record.exists():
            return []
        return [json.loads(line) for line in self.riva_record.read_text().splitlines()]

    def riva_boosts(self) -> list[list[dict[str, Any]]]:
        """The word boosting (``speech_contexts``) of every Recognize request, in order."""
        path = self.riva_record.with_suffix(".boost" + self.riva_record.suffix)
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def caller(self, relay: str = "riva", policy: dict[str, object] | None = None) -> Caller:
        make = caller_factory(self.server)
        caller = make() if relay == "riva" else make(tenant=self.tenants[relay])
        if policy is not None:
            with caller.client() as client:
                assert client.put("/tenant-policy", json=policy).status_code == 200
        return caller


@pytest.fixture(scope="module")
def relays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayHost]:
    work = tmp_path_factory.mktemp("relay")
    stack = ExitStack()
    closed = stack.enter_context(closed_port())  # held until the module's tests end
    riva, openai = free_port(), free_port()
    addresses = {"riva": f"127.0.0.1:{riva}", "openai": f"http://127.0.0.1:{openai}", "closed": str(closed)}
    database_url = f"sqlite+aiosqlite:///{work / 'relay.db'}"
    # Tenants exist before the host starts, so their ids can go into its configuration.
    env = server_env(database_url, work, work)
    subprocess.run([str(VENV_BIN / "scaigrid-stub"), "migrate"], env=env, check=True, capture_output=True)
    tenants = {name: f"on-{name}" for name in RELAYS if name != "riva"}
    ids = {
        name: issue_key(database_url, [], slug, f"first@{slug}.test").tenant_id
        for name, slug in tenants.items()
    }
    metrics_port = free_port()
    config = {"SCAIECHO_RELAYS": ",".join(RELAYS), "SCAIECHO_RELAY_DEFAULT": "riva"}
    config["SCAIGRID_METRICS_PORT"] = str(metrics_port)
    config["SCAIECHO_INLINE_MAX_BYTES"] = str(700_000)  # the 30 s conversation (960 kB) is a job
    config["SCAIECHO_TENANT_RELAYS"] = ",".join(f"{ids[name]}={name}" for name in tenants)
    for name, settings in RELAYS.items():
        for key, value in settings.items():
            config[f"SCAIECHO_RELAY_{name.upper()}_{key}"] = value.format(**addresses)
    with stack:
        record = work / "riva-answers.jsonl"
        stack.enter_context(peer_process(RIVA, riva, RIVA_KEY, "--record", str(record)))
        stack.enter_context(peer_process(OPENAI, openai, OPENAI_KEY))
        server = stack.enter_context(stub_server(database_url, work / "stub", config))
        yield RelayHost(
            server, tenants, f"http://127.0.0.1:{metrics_port}/metrics", addresses["riva"], record
        )
    log = (work / "stub" / "server.log").read_text(errors="replace")
    leaked = [secret for secret in SECRETS if secret in log]
    assert not leaked, "a relay credential reached the host's log"


def _reference(*clips: str) -> str:
    return " ".join(recordings.librivox(c).text for c in clips)


def test_default_tenant_runs_on_the_riva_relay_and_says_so(relays: RelayHost) -> None:
    caller = relays.caller()
    for clip in ("0870", "0930"):
        resp = caller.transcribe(recordings.librivox(clip).wav, language_hint="en", backend_preference="any")
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert (data["backend_used"], data["node_id"], data["language"]) == ("B", None, "en")
        assert data["model"].startswith("riva:")
        assert wer(_reference(clip), data["transcript"]) <= 0.15, data["transcript"]
        assert 0 <= data["segments"][0]["start"] < data["segments"][-1]["end"] <= data["duration_seconds"]


def test_diarize_on_backend_b_is_ignored_silently(relays: RelayHost) -> None:
    caller = relays.caller()
    resp = caller.transcribe(recordings.librivox("0870").wav, diarize="true")
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["backend_used"] == "B" and data["segments"]
    assert all("speaker_label" not in s and "words" not in s for s in data["segments"])
    units = {e.unit for e in usage_rows(caller.server.database_url, caller.tenant_id)}
    assert units == {"scaiecho.audio_seconds"}  # nothing diarized, nothing metered as such


def test_prefer_self_hosted_runs_on_a_under_the_same_policy(relays: RelayHost) -> None:
    caller = relays.caller(policy=AB_B_DEFAULT)
    resp = caller.transcribe(recordings.librivox("0930").wav, backend_preference="prefer_self_hosted")
    assert resp.json()["data"]["backend_used"] == "A"
    samples, _ = speech_samples("0930")
    open_frame = {"type": "open", "media_type": "audio/pcm", "backend_preference": "prefer_self_hosted"}
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=False, open_frame=open_frame)
    assert result.of("ready")[0]["backend_used"] == "A"


def test_live_session_on_riva_turns_interim_results_into_partials(relays: RelayHost) -> None:
    caller = relays.caller()
    samples, ends = speech_samples("0870", "0930")
    open_frame = {"type": "open", "language_hint": "en", "media_type": "audio/pcm", "diarize": True,
                  "word_timestamps": True}  # fmt: skip
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=True, open_frame=open_frame)
    assert result.close_code == 1000, result.frames[-3:]
    assert result.of("ready")[0]["backend_used"] == "B"
    assert result.partials, "Riva's interim results should arrive as partial deltas"
    assert len(result.finals) == 2
    assert wer(_reference("0870", "0930"), result.text) <= 0.15, result.text
    # Times are seconds from the session's start: each final ends near its sentence's end.
    for final, end in zip(result.finals, ends, strict=True):
        assert abs(final["end"] - end) < 1.0, (final, end)
    # diarize on Backend B is silently ignored: no speaker labels, no error.
    assert all("speaker_label" not in d for d in result.of("delta"))
    # Riva's word time offsets become the finals' words, in session time; partials have none.
    for final in result.finals:
        words = final["words"]
        assert [w["word"] for w in words] == final["text"].split(), final
        assert all(final["start"] - 0.05 <= w["start"] <= w["end"] <= final["end"] + 0.05 for w in words)
        assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert all("words" not in d for d in result.partials)


def test_hotwords_reach_riva_as_word_boosting(relays: RelayHost) -> None:
    caller = relays.caller()
    clip = recordings.librivox("0880")
    resp = caller.transcribe(clip.wav, language_hint="en", hotwords="ill-disposed,\n Dashwood, ill-disposed")
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["backend_used"] == "B"
    # Comma/line separated phrases, repeats dropped, at the relay's score (BOOST_SCORE, 20).
    assert relays.riva_boosts()[-1] == [{"phrases": ["ill-disposed", "Dashwood"], "boost": 20.0}]
    assert caller.transcribe(clip.wav, language_hint="en").status_code == 200
    assert relays.riva_boosts()[-1] == []  # no hotwords: no boosting
    # Bounded and validated as for Whisper, before any relay is called.
    calls = len(relays.riva_boosts())
    resp = caller.transcribe(clip.wav, language_hint="en", hotwords="y" * 501)
    assert resp.status_code == 400 and resp.json()["error"]["details"] == {"field": "hotwords"}
    assert len(relays.riva_boosts()) == calls


def test_live_hotwords_reach_riva_as_the_streams_word_boosting(relays: RelayHost) -> None:
    caller = relays.caller()
    samples, _ = speech_samples("0880")
    open_frame = {"type": "open", "language_hint": "en", "media_type": "audio/pcm",
                  "hotwords": "ill-disposed,\n Dashwood", "prompt": "Sense and Sensibility."}  # fmt: skip
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=False, open_frame=open_frame)
    assert result.close_code == 1000, result.frames[-3:]
    assert result.of("ready")[0]["backend_used"] == "B"
    # The stream's config carries the boosting (the prompt is Backend A's, never sent), and
    # the peer, honouring it as Riva does, hears the boosted word.
    assert relays.riva_boosts()[-1] == [{"phrases": ["ill-disposed", "Dashwood"], "boost": 20.0}]
    assert "ill-disposed" in result.text.lower().replace(" disposed", "-disposed"), result.text


def test_openai_compatible_relay_transcribes_files_and_live_audio(relays: RelayHost) -> None:
    caller = relays.caller("oai")
    resp = caller.transcribe(recordings.librivox("0870").wav, language_hint="en")
    data = resp.json()["data"]
    assert (data["backend_used"], data["model"], data["language"]) == ("B", "openai:whisper-1", "en")
    assert wer(_reference("0870"), data["transcript"]) <= 0.15, data["transcript"]
    assert len(data["segments"]) >= 1
    samples, _ = speech_samples("0870", "0930")
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=False, frame_ms=200)
    assert result.close_code == 1000
    assert result.of("ready")[0]["backend_used"] == "B"
    assert not result.partials  # the API has no streaming: finals only, one request per utterance
    assert wer(_reference("0870", "0930"), result.text) <= 0.15, result.text


def test_long_file_on_b_is_queued_and_completes_on_the_relay(relays: RelayHost) -> None:
    caller = relays.caller()
    path, _ = recordings.long_speech(1)
    answered = len(relays.riva_answers())
    resp = caller.transcribe(path, language_hint="en")
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["data"]["job_id"]
    deadline = time.monotonic() + 180
    while (job := caller.job(job_id))["status"] not in {"completed", "failed"}:
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert (job["status"], job["backend_used"]) == ("completed", "B"), job
    assert job["model"].startswith("riva:")
    segments = job["segments"]
    assert segments, job
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts), starts
    assert all(0 <= s["start"] <= s["end"] <= job["duration_seconds"] + 0.5 for s in segments), segments
    # The job's transcript is exactly what the relay answered, piece after piece, in order:
    # nothing dropped, repeated or reordered on the way through the job runner.
    returned = [text for answer in relays.riva_answers()[answered:] for text in answer]
    assert len(returned) == len(segments)
    assert " ".join(job["transcript"].split()) == " ".join(" ".join(returned).split())
    # Loose bound over the whole file (LibriVox half + conversation): catches audio sent at the
    # wrong rate, scale or offset (WER near 1), not one small model's wording. tiny.en on the
    # locked set scores about 0.2 here.
    assert wer(recordings.long_speech_text(1), job["transcript"]) <= 0.45, job["transcript"]


@pytest.mark.parametrize("relay", ["down", "broken", "oaibroken"])
def test_a_failing_relay_falls_back_to_a_for_any_and_is_503_otherwise(relays: RelayHost, relay: str) -> None:
    wav = recordings.librivox("0930").wav
    flexible = relays.caller(relay, AB_B_DEFAULT)
    started = time.monotonic()
    resp = flexible.transcribe(wav, backend_preference="any")
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["backend_used"] == "A"
    assert time.monotonic() - started < 15
    resp = flexible.transcribe(wav, backend_preference="prefer_relay")
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "BACKEND_UNAVAILABLE"
    relays.caller(relay, B_ONLY)
    resp = flexible.transcribe(wav, backend_preference="prefer_self_hosted")
    assert (resp.status_code, resp.json()["error"]["code"]) == (503, "BACKEND_UNAVAILABLE")


@pytest.mark.parametrize("relay", ["slow", "oaislow"])
def test_a_relay_slower_than_its_deadline_is_503_not_a_hang(relays: RelayHost, relay: str) -> None:
    caller = relays.caller(relay, B_ONLY)
    started = time.monotonic()
    resp = caller.transcribe(recordings.librivox("0930").wav)
    assert (resp.status_code, resp.json()["error"]["code"]) == (503, "BACKEND_UNAVAILABLE")
    assert time.monotonic() - started < 10  # the 2 s deadline, not the relay's minute


@pytest.mark.parametrize("relay", ["gone", "oaigone"])
def test_live_session_on_an_unreachable_relay_falls_back_or_closes_4502(
    relays: RelayHost, relay: str
) -> None:
    # No cooldown on these relays: each open finds it unreachable anew, before any audio is spent.
    caller = relays.caller(relay, AB_B_DEFAULT)
    samples, _ = speech_samples("0930")
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=False)
    assert result.of("ready")[0]["backend_used"] == "A"
    assert result.close_code == 1000
    pinned = {"type": "open", "media_type": "audio/pcm", "backend_preference": "prefer_relay"}
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=False, open_frame=pinned)
    assert result.close_code == 4502
    assert result.error_code == "BACKEND_UNAVAILABLE"


def test_relay_dropping_a_live_stream_moves_an_any_session_to_a_losing_nothing(relays: RelayHost) -> None:
    caller = relays.caller("drop", AB_B_DEFAULT)
    samples, ends = speech_samples("0870", "0930")
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=True)
    assert result.of("ready")[0]["backend_used"] == "B"
    assert result.close_code == 1000, result.frames[-3:]
    # BEHIND/CAUGHT_UP may come too: A decodes the replay while new audio waits.
    [switched] = [i for i in result.of("info") if i["code"] not in {"BEHIND", "CAUGHT_UP"}]
    assert (switched["code"], switched["backend_used"]) == ("BACKEND_SWITCHED", "A")
    # The relay dropped the stream 3 s into the first sentence, before any final: A hears
    # the whole session again from the start, and each sentence is final exactly once.
    assert len(result.finals) == 2, result.finals
    assert wer(_reference("0870", "0930"), result.text) <= 0.15, result.text
    for final, end in zip(result.finals, ends, strict=True):
        assert abs(final["end"] - end) < 1.0, (final, end)
    [event] = [
        r for r in audit_rows(relays.server.database_url, caller.tenant_id) if r.action.endswith("failover")
    ]
    assert (event.details["from"], event.details["to"]) == ("B", "A")


def test_relay_dropping_a_live_stream_closes_it_with_4502(relays: RelayHost) -> None:
    caller = relays.caller("drop", B_ONLY)
    samples, _ = speech_samples("0870", "0930")
    started = time.monotonic()
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=True)
    assert result.of("ready")[0]["backend_used"] == "B"
    assert result.close_code == 4502, result.frames[-3:]
    assert result.error_code == "BACKEND_UNAVAILABLE"
    assert time.monotonic() - started < 30


def test_a_stalled_live_stream_ends_within_the_deadline(relays: RelayHost) -> None:
    caller = relays.caller("slow", B_ONLY)
    samples, _ = speech_samples("0930")
    started = time.monotonic()
    result = stream_pcm(relays.server.api, caller.key, samples, realtime=False)
    assert result.close_code == 4502
    assert time.monotonic() - started < 15


def test_backend_a_with_no_healthy_node_falls_back_to_the_relay(relays: RelayHost, tmp_path: Path) -> None:
    with closed_port() as nothing_listens:
        _backend_a_down_falls_back(relays, tmp_path, nothing_listens)


def _backend_a_down_falls_back(relays: RelayHost, tmp_path: Path, nothing_listens: int) -> None:
    env = {
        "SCAIECHO_INPROCESS_NODE": "false",
        "SCAIECHO_NODES": f"gpu1=grpc://127.0.0.1:{nothing_listens}",
        **riva_relay_env(relays.riva, RIVA_KEY),
    }
    with stub_server(f"sqlite+aiosqlite:///{tmp_path / 'a-down.db'}", tmp_path, env) as server:
        caller = caller_factory(server)()
        with caller.client() as client:
            policy = client.put(
                "/tenant-policy", json={"allowed_backends": ["A", "B"], "default_backend": "A"}
            )
        assert policy.json()["data"]["backends_available"] == {"A": False, "B": True}
        wav = recordings.librivox("0930").wav
        resp = caller.transcribe(wav, language_hint="en", backend_preference="any")
        assert resp.json()["data"]["backend_used"] == "B"
        assert wer(_reference("0930"), resp.json()["data"]["transcript"]) <= 0.15
        resp = caller.transcribe(wav, backend_preference="prefer_self_hosted")
        assert (resp.status_code, resp.json()["error"]["details"]) == (503, {"backend": "A"})
        samples, _ = speech_samples("0930")
        result = stream_pcm(server.api, caller.key, samples, realtime=False)
        assert result.of("ready")[0]["backend_used"] == "B"
        assert result.close_code == 1000


def test_relay_credentials_never_reach_callers(relays: RelayHost) -> None:
    caller = relays.caller("badkey", B_ONLY)
    resp = caller.transcribe(recordings.librivox("0930").wav)
    assert (resp.status_code, resp.json()["error"]["code"]) == (503, "BACKEND_UNAVAILABLE")
    with caller.client() as client:
        bodies = [resp.text, client.get("/tenant-policy").text, client.get("/nodes").text]
    metrics = httpx.get(relays.metrics_url, timeout=5).text
    for text in [*bodies, metrics]:
        assert not any(secret in text for secret in SECRETS)
    assert 'scaiecho_relay_failures_total{category="rejected_credentials",relay="badkey"} 1.0' in metrics
    assert 'scaiecho_relay_request_seconds_count{relay="riva"}' in metrics
    # The host's log is checked for every credential when the module's servers stop.
    assert "rejected_credentials" in relays.server.log_text()


def test_relay_configuration_errors_are_reported_at_startup(tmp_path: Path) -> None:
    cases = {
        "SCAIECHO_RELAY_X_KIND": ("x", {"SCAIECHO_RELAY_X_KIND": "watson", "SCAIECHO_RELAY_X_URL": "h:1"}),
        "SCAIECHO_RELAY_X_URL": ("x", {"SCAIECHO_RELAY_X_KIND": "riva"}),
        "SCAIECHO_RELAY_DEFAULT": ("x", {"SCAIECHO_RELAY_X_KIND": "riva", "SCAIECHO_RELAY_X_URL": "h:1",
                                         "SCAIECHO_RELAY_DEFAULT": "y"}),
        "SCAIECHO_TENANT_RELAYS": ("x", {"SCAIECHO_RELAY_X_KIND": "riva", "SCAIECHO_RELAY_X_URL": "h:1",
                                         "SCAIECHO_TENANT_RELAYS": "t1=nope"}),
    }  # fmt: skip
    for variable, (names, extra) in cases.items():
        env = server_env(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", tmp_path, tmp_path)
        env.update({"SCAIECHO_RELAYS": names, **extra, "SCAIECHO_RELAY_X_API_KEY": WRONG_KEY})
        done = subprocess.run(
            [str(VENV_BIN / "scaigrid-stub"), "serve", "--port", str(free_port())],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode != 0
        assert variable in done.stderr + done.stdout, (variable, done.stderr[-2000:])
        assert WRONG_KEY not in done.stderr + done.stdout


def test_live_controls_on_the_relays(relays: RelayHost) -> None:
    """Backend B applies what it can: interim_results everywhere, Finalize and KeepAlive
    without harm on Riva (it decides its own finals), endpointing_ms on the OpenAI relay
    (our VAD cuts its utterances)."""
    from tests.support.ws import StreamResult, collect, open_socket

    caller = relays.caller()
    samples, _ = speech_samples("0870", "0930")
    result = StreamResult()
    with open_socket(relays.server.api, caller.key) as ws:
        ws.send(json.dumps({"type": "open", "language_hint": "en", "media_type": "audio/pcm",
                            "interim_results": False}))  # fmt: skip
        for index, begin in enumerate(range(0, len(samples), 3200)):
            ws.send(samples[begin : begin + 3200].astype("<i2").tobytes())
            if index == 20:
                ws.send(json.dumps({"type": "KeepAlive"}))
                ws.send(json.dumps({"type": "Finalize"}))
            time.sleep(0.05)  # about twice real time: Riva sends interim results
        ws.send(json.dumps({"type": "close"}))
        collect(ws, result, [time.monotonic()])
    assert result.close_code == 1000, result.frames[-3:]
    assert result.of("ready")[0]["backend_used"] == "B"
    assert result.partials == [] and result.finals
    assert wer(_reference("0870", "0930"), result.text) <= 0.15, result.text

    oai = relays.caller("oai")
    joined, _ = speech_samples("0870", "0930", gap_seconds=1.0)
    open_frame = {"type": "open", "language_hint": "en", "media_type": "audio/pcm", "endpointing_ms": 2500}
    long_pause = stream_pcm(
        relays.server.api, oai.key, joined, realtime=False, frame_ms=200, open_frame=open_frame
    )
    assert long_pause.close_code == 1000
    assert len(long_pause.finals) == 1, long_pause.finals  # the 1 s gap no longer ends the first
