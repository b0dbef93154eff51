"""The quickstart's examples in docs/examples/ run as written against a served stub host."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Caller
from tests.support import recordings
from tests.support.text import wer

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _run(caller: Caller, tmp_path: Path, command: list[str]) -> str:
    shutil.copy(recordings.librivox("0870").wav, tmp_path / "meeting.wav")
    env = dict(os.environ, SCAIGRID_HOST=caller.server.base_url, SCAIGRID_API_KEY=caller.key)
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_curl_example_transcribes_meeting_wav(caller: Caller, tmp_path: Path) -> None:
    import json

    out = json.loads(_run(caller, tmp_path, ["bash", str(EXAMPLES / "transcribe.sh")]))
    assert out["data"]["backend_used"] == "A"
    assert wer(recordings.librivox("0870").text, out["data"]["transcript"]) <= 0.15


def test_httpx_example_prints_the_transcript(caller: Caller, tmp_path: Path) -> None:
    out = _run(caller, tmp_path, [sys.executable, str(EXAMPLES / "transcribe_httpx.py")])
    assert wer(recordings.librivox("0870").text, out) <= 0.15


@pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by the test command")
def test_javascript_fetch_example_prints_the_transcript(caller: Caller, tmp_path: Path) -> None:
    out = _run(caller, tmp_path, ["node", str(EXAMPLES / "transcribe_fetch.mjs")])
    assert wer(recordings.librivox("0870").text, out) <= 0.15


def test_tenant_policy_example_reads_the_policy(caller: Caller, tmp_path: Path) -> None:
    import json

    out = json.loads(_run(caller, tmp_path, ["bash", str(EXAMPLES / "tenant_policy.sh")]))
    assert out["data"]["tenant_id"] == caller.tenant_id
