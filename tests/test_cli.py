"""The scaigrid-stub CLI: help everywhere, keys printed once, idempotent dev setup, budgets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.servers import VENV_BIN, server_env, stub_server

CLI = str(VENV_BIN / "scaigrid-stub")
COMMANDS = [
    [],
    ["migrate"],
    ["tenant"],
    ["tenant", "create"],
    ["user"],
    ["user", "create"],
    ["budget"],
    ["budget", "set"],
    ["dev-setup"],
    ["serve"],
]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return server_env(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", tmp_path / "data", tmp_path)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(env: dict[str, str], command: list[str]) -> None:
    result = _cli(env, *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_dev_setup_is_idempotent_and_prints_a_working_key(env: dict[str, str], tmp_path: Path) -> None:
    assert _cli(env, "migrate").returncode == 0
    first = _cli(env, "dev-setup")
    second = _cli(env, "dev-setup")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key.startswith("sgk_")
    assert second.stdout.strip() == key
    assert oct((tmp_path / "data" / "dev-api-key").stat().st_mode & 0o777) == "0o600"
    with stub_server(
        env["SCAIGRID_DATABASE_URL"], tmp_path / "srv", {"SCAIGRID_DATA_DIR": env["SCAIGRID_DATA_DIR"]}
    ) as srv:
        resp = httpx.get(f"{srv.api}/tenant-policy", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200
    assert resp.json()["data"]["source"] == "default"


def test_user_create_prints_a_key_once_and_stores_only_its_hash(env: dict[str, str], tmp_path: Path) -> None:
    assert _cli(env, "migrate").returncode == 0
    result = _cli(
        env,
        "user",
        "create",
        "--tenant",
        "acme",
        "--email",
        "a@acme.test",
        "--permission",
        "scaiecho:transcribe",
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("sgk_")
    db_bytes = (tmp_path / "cli.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("cli.db-*")
    )
    assert key.encode() not in db_bytes
    assert key[4:].encode() not in db_bytes


def test_budget_set_needs_exactly_one_of_limit_or_unlimited(env: dict[str, str]) -> None:
    assert _cli(env, "migrate").returncode == 0
    assert _cli(env, "tenant", "create", "acme").returncode == 0
    assert _cli(env, "budget", "set", "--tenant", "acme").returncode != 0
    assert _cli(env, "budget", "set", "--tenant", "acme", "--limit", "5", "--unlimited").returncode != 0
    ok = _cli(env, "budget", "set", "--tenant", "acme", "--limit", "60")
    assert ok.returncode == 0, ok.stderr
    assert "60" in ok.stdout
    missing = _cli(env, "budget", "set", "--tenant", "nobody", "--limit", "60")
    assert missing.returncode != 0
    assert "no tenant" in missing.stderr
