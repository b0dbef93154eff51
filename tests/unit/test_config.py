"""ScaiEchoSettings.from_env: SCAIECHO_* values parsed, defaults filled, bad values refused at startup."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.errors import ConfigurationError

Env = Callable[..., ScaiEchoSettings]


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Env:
    """``settings(NAME=value, ...)``: the settings read from exactly these SCAIECHO_ values."""
    for name in list(os.environ):
        if name.startswith("SCAIECHO_"):
            monkeypatch.delenv(name)

    def read(**values: str) -> ScaiEchoSettings:
        for name, value in values.items():
            monkeypatch.setenv(f"SCAIECHO_{name}", value)
        return ScaiEchoSettings.from_env()

    return read


def _refused(settings: Env, **values: str) -> str:
    with pytest.raises(ConfigurationError) as info:
        settings(**values)
    return str(info.value)


def test_no_variables_give_the_documented_defaults(settings: Env) -> None:
    config = settings()
    assert config.default_allowed_backends == frozenset("AB")
    assert config.default_backend == "B"
    assert config.inline_max_bytes == 5 * 1024 * 1024
    assert config.jobs.window_seconds == 120.0
    assert config.jobs.keep_audio is False
    assert config.stream.chunk_seconds == 15.0
    assert config.stream.min_silence == 0.5
    assert config.stt.name == "base"
    assert config.stt.beam_size == 5
    assert config.nodes.triton == ()
    assert config.nodes.in_process is True
    assert config.relays.relays == {}


@pytest.mark.parametrize(
    ("raw", "allowed"), [("A", "A"), ("b", "B"), ("AB", "AB"), ("a, b", "AB"), ("B,A", "AB")]
)
def test_allowed_backends_accept_a_b_or_both_in_any_spelling(settings: Env, raw: str, allowed: str) -> None:
    default = sorted(allowed)[0]
    config = settings(DEFAULT_ALLOWED_BACKENDS=raw, DEFAULT_BACKEND=default.lower())
    assert config.default_allowed_backends == frozenset(allowed)
    assert config.default_backend == default


@pytest.mark.parametrize("raw", ["", " ", "C", "AC", "A;B", "self"])
def test_allowed_backends_other_than_a_and_b_are_refused(settings: Env, raw: str) -> None:
    assert "SCAIECHO_DEFAULT_ALLOWED_BACKENDS" in _refused(settings, DEFAULT_ALLOWED_BACKENDS=raw)


def test_the_default_backend_must_be_an_allowed_one(settings: Env) -> None:
    assert "SCAIECHO_DEFAULT_BACKEND" in _refused(settings, DEFAULT_ALLOWED_BACKENDS="A")
    assert settings(DEFAULT_ALLOWED_BACKENDS="A", DEFAULT_BACKEND="A").default_backend == "A"


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAX_UPLOAD_BYTES", "2GB"), ("INLINE_MAX_BYTES", "1.5"), ("JOB_RETRIES", "three"),
     ("JOB_WINDOW_SECONDS", "2m"), ("STREAM_CHUNK_SECONDS", ""), ("STT_CPU_THREADS", "auto")],
)  # fmt: skip
def test_a_value_that_is_not_a_number_names_its_variable(settings: Env, name: str, value: str) -> None:
    assert f"SCAIECHO_{name}" in _refused(settings, **{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("JOB_WINDOW_SECONDS", "4.9"), ("JOB_HEARTBEAT_SECONDS", "0"), ("JOB_RETRIES", "-1"),
     ("JOB_RECOVERY_SECONDS", "0"), ("MAX_UPLOAD_BYTES", "0"), ("STREAM_CHUNK_SECONDS", "1.9"),
     ("STREAM_CHUNK_SECONDS", "30.1"), ("STREAM_CHUNK_SECONDS", "nan"),
     ("STREAM_PARTIAL_INTERVAL_SECONDS", "0"), ("STREAM_MIN_SILENCE_SECONDS", "-0.5"),
     ("STREAM_MAX_BACKLOG_SECONDS", "0.5"), ("STREAM_IDLE_SECONDS", "0"),
     ("STREAM_METERING_SECONDS", "0"), ("NODE_POLL_SECONDS", "0"), ("NODE_TIMEOUT_SECONDS", "-1"),
     ("JOB_SLICE_SECONDS", "9.9"), ("JOB_SLICE_SECONDS", "nan"), ("JOB_SHORT_SLICE_SECONDS", "9.9"),
     ("JOB_SHORT_SLICE_SECONDS", "31"), ("JOB_SHORT_SLICE_SECONDS", "nan")],
)  # fmt: skip
def test_a_value_out_of_range_is_refused(settings: Env, name: str, value: str) -> None:
    _refused(settings, **{name: value})


def test_values_at_the_edges_of_their_ranges_are_accepted(settings: Env) -> None:
    config = settings(
        JOB_WINDOW_SECONDS="5", JOB_RETRIES="0", STREAM_CHUNK_SECONDS="2", STREAM_MAX_BACKLOG_SECONDS="1"
    )
    assert (config.jobs.window_seconds, config.jobs.retries) == (5.0, 0)
    assert (config.stream.chunk_seconds, config.stream.max_backlog_seconds) == (2.0, 1.0)
    assert settings(STREAM_CHUNK_SECONDS="30").stream.chunk_seconds == 30.0
    # A slice at least as long as the window is no slicing: accepted, as a short window is.
    assert settings(JOB_SLICE_SECONDS="120").jobs.slice_seconds == 120.0
    assert settings(JOB_SLICE_SECONDS="10").jobs.slice_seconds == 10.0
    assert config.jobs.slice_seconds == 30.0
    # Short slices (while interactive work is near) may be as long as slices: never shorter.
    assert config.jobs.short_slice_seconds == 10.0
    same = settings(JOB_SLICE_SECONDS="30", JOB_SHORT_SLICE_SECONDS="30")
    assert same.jobs.short_slice_seconds == 30.0
    assert settings(JOB_SLICE_SECONDS="120", JOB_SHORT_SLICE_SECONDS="120").jobs.short_slice_seconds == 120.0


@pytest.mark.parametrize(
    ("raw", "keep"), [("1", True), ("true", True), ("YES", True), ("0", False), ("no", False)]
)
def test_keep_job_audio_is_a_boolean(settings: Env, raw: str, keep: bool) -> None:
    assert settings(KEEP_JOB_AUDIO=raw).jobs.keep_audio is keep


@pytest.mark.parametrize("name", ["JOB_WINDOW_SECONDS", "JOB_RECOVERY_SECONDS", "NODE_POLL_SECONDS"])
def test_nan_is_refused_where_a_minimum_is_checked(settings: Env, name: str) -> None:
    _refused(settings, **{name: "nan"})


# -- the STT model --------------------------------------------------------------------------


def test_the_tiny_english_model_defaults_to_greedy_decoding(settings: Env) -> None:
    config = settings(STT_MODEL="tiny.en")
    assert (config.stt.name, config.stt.beam_size) == ("tiny.en", 1)


def test_a_model_path_needs_the_path_model_and_an_explicit_directory(settings: Env, tmp_path: Path) -> None:
    assert "SCAIECHO_STT_MODEL_PATH" in _refused(settings, STT_MODEL="path")
    assert settings(STT_MODEL="path", STT_MODEL_PATH=str(tmp_path)).stt.model_path == tmp_path


@pytest.mark.parametrize("name", ["large-v3", "Base", "tiny", ""])
def test_an_unknown_model_name_is_refused(settings: Env, name: str) -> None:
    assert "SCAIECHO_STT_MODEL" in _refused(settings, STT_MODEL=name)


# -- nodes ----------------------------------------------------------------------------------


def test_nodes_are_id_equals_url_pairs_and_turn_the_in_process_node_off_by_default(settings: Env) -> None:
    config = settings(NODES=" n1 = grpc://a:8001 , n2=b:8001,")
    assert config.nodes.triton == (("n1", "grpc://a:8001"), ("n2", "b:8001"))
    assert config.nodes.in_process is False
    assert settings(NODES="n1=a:1", INPROCESS_NODE="true").nodes.in_process is True


@pytest.mark.parametrize("raw", ["a:8001", "=a:8001", "n1=", "n1= "])
def test_a_node_entry_without_an_id_or_url_is_refused(settings: Env, raw: str) -> None:
    assert "SCAIECHO_NODES" in _refused(settings, NODES=raw)


def test_a_node_id_may_appear_only_once(settings: Env) -> None:
    assert "twice" in _refused(settings, NODES="n1=a:1,n1=b:1")


@pytest.mark.parametrize("url", ["http://a:8000", "https://a:8001", "tcp://a:8001"])
def test_a_node_url_other_than_grpc_is_refused(settings: Env, url: str) -> None:
    _refused(settings, NODES=f"n1={url}")


def test_no_in_process_node_needs_triton_nodes(settings: Env) -> None:
    assert "SCAIECHO_NODES" in _refused(settings, INPROCESS_NODE="false")
    assert settings(INPROCESS_NODE="0", NODES="n1=a:1").nodes.in_process is False
    assert "SCAIECHO_INPROCESS_NODE" in _refused(settings, INPROCESS_NODE="maybe")


def test_triton_nodes_discover_their_model_unless_one_is_named(settings: Env) -> None:
    assert settings(NODES="n1=a:1").nodes.triton_model is None
    assert settings(TRITON_MODEL=" ").nodes.triton_model is None
    assert settings(TRITON_MODEL="scaiecho_stt_cpu").nodes.triton_model == "scaiecho_stt_cpu"


def test_speaker_settings_are_read_and_non_positive_values_refused(settings: Env) -> None:
    defaults = settings().speakers
    assert (defaults.max_upload_bytes, defaults.max_recording_seconds, defaults.reconcile_seconds) == (
        25 * 1024 * 1024,
        300.0,
        10.0,
    )
    assert settings(SPEAKER_RECONCILE_SECONDS="1.5").speakers.reconcile_seconds == 1.5
    for name in ("SPEAKER_MAX_UPLOAD_BYTES", "SPEAKER_MAX_RECORDING_SECONDS", "SPEAKER_RECONCILE_SECONDS"):
        assert "SCAIECHO_SPEAKER_" in _refused(settings, **{name: "0"})


def test_speaker_engine_forwards_default_to_the_cores_up_to_two_within_one_to_sixteen(settings: Env) -> None:
    engine = settings().speaker_engine
    assert engine.cpu_threads == 1
    assert engine.forwards == min(os.cpu_count() or 1, 2)
    assert settings(SPEAKER_FORWARDS="4").speaker_engine.forwards == 4
    for bad in ("0", "17"):
        assert "SCAIECHO_SPEAKER_FORWARDS" in _refused(settings, SPEAKER_FORWARDS=bad)
    assert "SCAIECHO_SPEAKER_CPU_THREADS" in _refused(settings, SPEAKER_CPU_THREADS="0")


def test_webrtc_jitter_packets_default_to_none_and_stay_inside_the_buffer(settings: Env) -> None:
    assert settings().webrtc.jitter_packets == 0
    assert settings(WEBRTC_JITTER_PACKETS="4").webrtc.jitter_packets == 4
    for bad in ("-1", "16"):
        assert "JITTER_PACKETS" in _refused(settings, WEBRTC_JITTER_PACKETS=bad)


def test_the_live_encoder_window_defaults_to_ten_seconds_within_five_to_thirty(settings: Env) -> None:
    assert settings().stream.window_seconds == 10.0
    assert settings(STREAM_WINDOW_SECONDS="30").stream.window_seconds == 30.0  # Whisper's own: off
    for bad in ("4.9", "31"):
        assert "window 5-30 s" in _refused(settings, STREAM_WINDOW_SECONDS=bad)
    assert "STREAM_WINDOW_SECONDS" in _refused(settings, STREAM_WINDOW_SECONDS="nan")
