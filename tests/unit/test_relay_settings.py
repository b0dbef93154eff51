"""Relay settings from SCAIECHO_RELAY* variables: names, kinds, URLs, credentials, tenants."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from scaiecho_module.backends.relay.settings import RelayDirectorySettings, Secret
from scaiecho_module.errors import ConfigurationError

Env = Callable[..., RelayDirectorySettings]


@pytest.fixture
def relays(monkeypatch: pytest.MonkeyPatch) -> Env:
    """``relays(NAME=value, ...)``: the relay directory read from exactly these SCAIECHO_ values."""
    for name in list(os.environ):
        if name.startswith("SCAIECHO_"):
            monkeypatch.delenv(name)

    def read(**values: str) -> RelayDirectorySettings:
        for name, value in values.items():
            monkeypatch.setenv(f"SCAIECHO_{name}", value)
        return RelayDirectorySettings.from_env()

    return read


RIVA = {"RELAYS": "cloud", "RELAY_CLOUD_KIND": "riva", "RELAY_CLOUD_URL": "grpc.example.com:443"}
OPENAI = {"RELAYS": "oa", "RELAY_OA_KIND": "openai", "RELAY_OA_URL": "https://stt.example.com/v1/"}


def _refused(relays: Env, **values: str) -> str:
    with pytest.raises(ConfigurationError) as info:
        relays(**values)
    return str(info.value)


def test_no_relays_configured_means_none_and_no_default(relays: Env) -> None:
    directory = relays()
    assert (directory.relays, directory.default, directory.tenants) == ({}, None, {})


def test_a_riva_relay_takes_its_defaults(relays: Env) -> None:
    relay = relays(**RIVA).relays["cloud"]
    assert (relay.kind, relay.url, relay.tls, relay.api_key, relay.model) == (
        "riva", "grpc.example.com:443", False, None, None
    )  # fmt: skip
    assert (relay.retries, relay.timeout_seconds, relay.cooldown_seconds, relay.piece_seconds) == (
        2,
        30.0,
        10.0,
        60.0,
    )
    assert relay.language == "en-US"


def test_an_openai_relay_defaults_to_whisper_1_long_pieces_and_a_url_without_trailing_slash(
    relays: Env,
) -> None:
    relay = relays(**OPENAI).relays["oa"]
    assert (relay.model, relay.piece_seconds, relay.url) == ("whisper-1", 600.0, "https://stt.example.com/v1")


def test_the_first_relay_listed_is_the_default_unless_one_is_named(relays: Env) -> None:
    both = {**RIVA, **OPENAI, "RELAYS": "cloud, oa"}
    assert relays(**both).default == "cloud"
    assert relays(**both, RELAY_DEFAULT="OA").default == "oa"
    assert "SCAIECHO_RELAY_DEFAULT" in _refused(relays, **both, RELAY_DEFAULT="eu")


def test_relay_names_are_case_insensitive_and_unique(relays: Env) -> None:
    assert set(relays(**{**RIVA, "RELAYS": "Cloud"}).relays) == {"cloud"}
    assert "twice" in _refused(relays, **{**RIVA, "RELAYS": "cloud,CLOUD"})


@pytest.mark.parametrize("name", ["eu-west", "a.b", "relay one", "é"])
def test_relay_names_are_letters_digits_and_underscores(relays: Env, name: str) -> None:
    assert "SCAIECHO_RELAYS" in _refused(relays, RELAYS=name)


@pytest.mark.parametrize(
    ("extra", "variable"),
    [({"RELAY_CLOUD_KIND": "azure"}, "KIND"), ({"RELAY_CLOUD_KIND": ""}, "KIND"),
     ({"RELAY_CLOUD_URL": ""}, "URL"), ({"RELAY_CLOUD_URL": "grpcs://host:443"}, "URL"),
     ({"RELAY_CLOUD_KIND": "openai", "RELAY_CLOUD_URL": "stt.example.com"}, "URL")],
)  # fmt: skip
def test_a_kind_or_url_that_does_not_fit_names_the_variable(
    relays: Env, extra: dict[str, str], variable: str
) -> None:
    assert f"SCAIECHO_RELAY_CLOUD_{variable}" in _refused(relays, **{**RIVA, **extra})


@pytest.mark.parametrize(
    ("name", "value"),
    [("TIMEOUT_SECONDS", "soon"), ("RETRIES", "1.5"), ("TIMEOUT_SECONDS", "0"), ("RETRIES", "-1"),
     ("COOLDOWN_SECONDS", "-1"), ("PIECE_SECONDS", "9.9"), ("PIECE_SECONDS", "1501"),
     ("PIECE_SECONDS", "nan")],
)  # fmt: skip
def test_numbers_that_are_not_numbers_or_out_of_range_are_refused(relays: Env, name: str, value: str) -> None:
    assert "SCAIECHO_RELAY_CLOUD_" in _refused(relays, **RIVA, **{f"RELAY_CLOUD_{name}": value})


def test_numbers_at_the_edges_of_their_ranges_are_accepted(relays: Env) -> None:
    edges = {
        "RELAY_CLOUD_RETRIES": "0",
        "RELAY_CLOUD_COOLDOWN_SECONDS": "0",
        "RELAY_CLOUD_PIECE_SECONDS": "10",
    }
    relay = relays(**RIVA, **edges).relays["cloud"]
    assert (relay.retries, relay.cooldown_seconds, relay.piece_seconds) == (0, 0.0, 10.0)
    assert relays(**RIVA, RELAY_CLOUD_PIECE_SECONDS="1500").relays["cloud"].piece_seconds == 1500.0


def test_the_connect_timeout_is_at_most_five_seconds(relays: Env) -> None:
    assert relays(**RIVA).relays["cloud"].connect_seconds == 5.0
    assert relays(**RIVA, RELAY_CLOUD_TIMEOUT_SECONDS="2").relays["cloud"].connect_seconds == 2.0


@pytest.mark.parametrize("name", ["TIMEOUT_SECONDS", "COOLDOWN_SECONDS"])
def test_nan_is_refused_for_the_relay_timeouts(relays: Env, name: str) -> None:
    _refused(relays, **RIVA, **{f"RELAY_CLOUD_{name}": "nan"})


# -- credentials ----------------------------------------------------------------------------


def test_the_api_key_is_a_secret_that_never_shows_its_value(relays: Env) -> None:
    directory = relays(**RIVA, RELAY_CLOUD_API_KEY=" nvapi-s3cret ")
    key = directory.relays["cloud"].api_key
    assert key is not None
    assert key.reveal() == "nvapi-s3cret"
    for shown in (repr(key), str(key), repr(directory), str(directory.relays["cloud"])):
        assert "s3cret" not in shown


def test_the_api_key_can_come_from_a_file(relays: Env, tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("from-file\n")
    key = relays(**RIVA, RELAY_CLOUD_API_KEY_FILE=str(path)).relays["cloud"].api_key
    assert key == Secret("from-file")
    # A key given directly wins over the file.
    direct = relays(**RIVA, RELAY_CLOUD_API_KEY="direct", RELAY_CLOUD_API_KEY_FILE=str(path)).relays["cloud"]
    assert direct.api_key == Secret("direct")


def test_an_unreadable_key_file_is_refused_naming_its_variable(relays: Env, tmp_path: Path) -> None:
    message = _refused(relays, **RIVA, RELAY_CLOUD_API_KEY_FILE=str(tmp_path / "missing"))
    assert "SCAIECHO_RELAY_CLOUD_API_KEY_FILE" in message


def test_metadata_is_name_value_pairs_held_as_secrets(relays: Env) -> None:
    relay = relays(**RIVA, RELAY_CLOUD_METADATA="X-Org = acme; Authorization=Bearer tok;").relays["cloud"]
    assert [(name, value.reveal()) for name, value in relay.metadata] == [
        ("x-org", "acme"), ("authorization", "Bearer tok")
    ]  # fmt: skip
    assert "tok" not in repr(relay)


@pytest.mark.parametrize("raw", ["novalue", "=value", "a=1;broken"])
def test_metadata_entries_without_a_name_or_equals_are_refused(relays: Env, raw: str) -> None:
    assert "METADATA" in _refused(relays, **RIVA, RELAY_CLOUD_METADATA=raw)


def test_secrets_compare_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))


# -- tenants --------------------------------------------------------------------------------


def test_tenants_can_be_put_on_another_relay(relays: Env) -> None:
    both = {**RIVA, **OPENAI, "RELAYS": "cloud,oa"}
    directory = relays(**both, TENANT_RELAYS=" t-1 = OA , t-2=cloud,")
    assert directory.tenants == {"t-1": "oa", "t-2": "cloud"}


@pytest.mark.parametrize("raw", ["t-1", "t-1=", "=cloud", "t-1=eu"])
def test_a_tenant_entry_must_name_a_tenant_and_a_configured_relay(relays: Env, raw: str) -> None:
    assert "SCAIECHO_TENANT_RELAYS" in _refused(relays, **RIVA, TENANT_RELAYS=raw)


def test_riva_word_boosting_takes_the_hotwords_as_phrases_at_the_boost_score(relays: Env) -> None:
    from scaiecho_module.backends.relay.backend import boost_phrases
    from scaiecho_module.backends.relay.riva import RivaClient

    assert relays(**RIVA).relays["cloud"].boost_score == 20.0
    relay = relays(**RIVA, RELAY_CLOUD_BOOST_SCORE="-5").relays["cloud"]
    phrases = boost_phrases("Dashwood, Norland Park\nDashwood,, ")
    assert phrases == ("Dashwood", "Norland Park")
    assert boost_phrases(None) == boost_phrases(" , ") == ()
    config = RivaClient(relay).config("en", phrases)
    assert [(list(c.phrases), c.boost) for c in config.speech_contexts] == [
        (["Dashwood", "Norland Park"], -5.0)
    ]
    assert not RivaClient(relay).config("en").speech_contexts
    assert "BOOST_SCORE" in _refused(relays, **RIVA, RELAY_CLOUD_BOOST_SCORE="nan")
