"""Node pool configuration: what operators write in SCAIECHO_NODES, and what is refused."""

from __future__ import annotations

import pytest

from scaiecho_module.config import ScaiEchoSettings
from scaiecho_module.errors import ConfigurationError


def test_nodes_parse_and_turn_the_in_process_node_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_NODES", "gpu1=grpc://10.0.0.5:8001, gpu2=10.0.0.6:8001")
    nodes = ScaiEchoSettings.from_env().nodes
    assert nodes.triton == (("gpu1", "grpc://10.0.0.5:8001"), ("gpu2", "10.0.0.6:8001"))
    assert nodes.in_process is False  # "auto": off once nodes are configured
    monkeypatch.setenv("SCAIECHO_INPROCESS_NODE", "true")
    assert ScaiEchoSettings.from_env().nodes.in_process is True


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("SCAIECHO_NODES", "gpu1"),
        ("SCAIECHO_NODES", "a=grpc://h:1,a=grpc://h:2"),
        ("SCAIECHO_NODES", "a=http://h:8000"),
        ("SCAIECHO_INPROCESS_NODE", "maybe"),
        ("SCAIECHO_NODE_POLL_SECONDS", "0"),
    ],
)
def test_bad_node_settings_stop_startup(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigurationError):
        ScaiEchoSettings.from_env()


def test_no_node_at_all_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAIECHO_INPROCESS_NODE", "false")
    with pytest.raises(ConfigurationError):
        ScaiEchoSettings.from_env()
