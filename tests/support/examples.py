"""Run a docs/examples script as a reader would: in a folder with its files, with env vars set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def run_example(caller: Any, cwd: Path, command: list[str], env: dict[str, str] | None = None) -> str:
    program, script = command
    program = sys.executable if program == "python" else program
    full_env = dict(
        os.environ, SCAIGRID_HOST=caller.server.base_url, SCAIGRID_API_KEY=caller.key, **(env or {})
    )
    result = subprocess.run(
        [program, str(EXAMPLES / script)], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout
