"""The scaigrid-stub CLI: help everywhere, keys printed once, idempotent dev setup, budgets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.servers import VENV_BIN, server_env, stub_server

CLI = str(VENV_BIN / "scaigrid-stub")
COMMANDS = [
    ["key"],
    ["key", "list"],
    ["key", "revoke"],
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


def test_unknown_permission_or_unit_is_refused(env: dict[str, str]) -> None:
    assert _cli(env, "migrate").returncode == 0
    bad = _cli(
        env, "user", "create", "--tenant", "a", "--email", "a@a.test", "--permission", "scaiecho:transcibe"
    )
    assert bad.returncode != 0
    assert "scaiecho:transcribe" in bad.stderr  # the valid names are listed
    assert _cli(env, "tenant", "create", "a").returncode == 0
    assert _cli(env, "budget", "set", "--tenant", "a", "--unit", "seconds", "--limit", "1").returncode != 0


def test_revoked_key_no_longer_authenticates(env: dict[str, str], tmp_path: Path) -> None:
    assert _cli(env, "migrate").returncode == 0
    created = _cli(
        env, "user", "create", "--tenant", "acme", "--email", "a@acme.test", "--permission", "scaiecho:admin"
    )
    key = created.stdout.strip()
    listed = _cli(env, "key", "list", "--tenant", "acme").stdout
    assert key[:12] in listed
    assert key not in listed
    with stub_server(env["SCAIGRID_DATABASE_URL"], tmp_path / "srv") as srv:
        url, headers = f"{srv.api}/tenant-policy", {"Authorization": f"Bearer {key}"}
        assert httpx.get(url, headers=headers).status_code == 200
        revoked = _cli(env, "key", "revoke", key[:12])
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(url, headers=headers).status_code == 401
    assert _cli(env, "key", "revoke", key[:12]).returncode != 0  # nothing active matches any more


def test_bad_port_setting_is_a_clear_error(env: dict[str, str]) -> None:
    result = _cli(dict(env, SCAIGRID_PORT="eighty"), "migrate")
    assert result.returncode != 0
    assert "SCAIGRID_PORT" in result.stderr
    assert "Traceback" not in result.stderr
