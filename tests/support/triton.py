"""A real Triton Inference Server for tests: the `tritonserver` binary from the nvidia-pytriton
wheel (installed with --no-deps by the test command), serving ``triton_models/`` on CPU.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.servers import ROOT, VENV_BIN, free_port, stop

CPU_MODEL = "scaiecho_stt_cpu"
SPEAKER_MODEL = "scaiecho_speaker"


def _pytriton_dir() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise RuntimeError("nvidia-pytriton is not installed (make test installs it with --no-deps)")
    return Path(spec.origin).parent / "tritonserver"


def _backend_dir() -> Path:
    """Triton's Python backend laid out as it expects, with the stub for this Python."""
    source = _pytriton_dir()
    target = Path(tempfile.mkdtemp(prefix="scaiecho-triton-backends-")) / "python"
    target.mkdir(parents=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        (target / name).symlink_to(source / "backends" / "python" / name)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (target / "triton_python_backend_stub").symlink_to(
        source / "python_backend_stubs" / version / "triton_python_backend_stub"
    )
    return target.parent


@dataclass
class TritonServer:
    grpc_url: str
    http_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    args: list[str]
    env: dict[str, str]
    models: tuple[str, ...] = (CPU_MODEL,)

    def kill(self) -> None:
        """A node dying: the server and its Python backend stubs (killed alone, the server
        leaves its stubs running, orphaned, for good)."""
        _kill_group(self.process)
        self.process.wait(timeout=10)

    def restart(self) -> None:
        self.process = _start(self.args, self.env, self.log_path, "ab")
        wait_ready(self)


def _start(args: list[str], env: dict[str, str], log_path: Path, mode: str) -> subprocess.Popen[bytes]:
    # A process group of its own, so that the stubs it forks can be stopped with it.
    with log_path.open(mode) as log:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def wait_ready(server: TritonServer, timeout: float = 60) -> None:
    # The speaker model imports torch in the backend stub: seconds alone, a minute and more on a
    # loaded 2-core machine.
    if SPEAKER_MODEL in server.models:
        timeout = max(timeout, 240)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"tritonserver exited:\n{server.log_path.read_text()[-3000:]}")
        try:
            urls = [f"{server.http_url}/v2/models/{model}/ready" for model in server.models]
            if all(httpx.get(url, timeout=1).status_code == 200 for url in urls):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"tritonserver not ready:\n{server.log_path.read_text()[-3000:]}")


@contextmanager
def triton_server(
    workdir: Path, repository: Path = ROOT / "triton_models", models: tuple[str, ...] = (CPU_MODEL,)
) -> Iterator[TritonServer]:
    """``models``: what the server loads (the STT model by default; ``SPEAKER_MODEL`` too or alone)."""
    workdir.mkdir(parents=True, exist_ok=True)
    loads = [arg for model in models for arg in ("--load-model", model)]
    http, grpc, metrics = free_port(), free_port(), free_port()
    args = [
        str(_pytriton_dir() / "bin" / "tritonserver"),
        "--model-repository", str(repository),
        "--backend-directory", str(_backend_dir()),
        "--model-control-mode", "explicit", *loads,
        "--http-address", "127.0.0.1", "--http-port", str(http),
        "--grpc-address", "127.0.0.1", "--grpc-port", str(grpc),
        "--metrics-address", "127.0.0.1", "--metrics-port", str(metrics),
        "--log-verbose", "0",
    ]  # fmt: skip
    env = dict(os.environ)
    # The backend stub runs the venv's Python (it ignores PYTHONPATH) and needs libpython.
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    env["LD_LIBRARY_PATH"] = f"{sysconfig.get_config_var('LIBDIR')}:{env.get('LD_LIBRARY_PATH', '')}"
    log_path = workdir / "triton.log"
    process = _start(args, env, log_path, "wb")
    server = TritonServer(
        f"grpc://127.0.0.1:{grpc}", f"http://127.0.0.1:{http}", process, log_path, args, env, models
    )
    try:
        wait_ready(server)
        yield server
    finally:
        if server.process.poll() is None:
            stop(server.process, 20)
        _kill_group(server.process)  # any stub still running
