"""A real TURN server (coturn's ``turnserver``) on loopback for WebRTC tests.

One static long-term user, or (``rest_secret``) the TURN REST scheme: credentials minted from
a shared secret, checked by coturn (``--use-auth-secret``). No TLS, no CLI, relay ports in a
bounded range; loopback peers allowed, since both WebRTC peers in a test live on 127.0.0.1
(coturn refuses them by default).
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port, stop


@dataclass(frozen=True)
class Turn:
    url: str
    username: str
    credential: str
    relay_ports: tuple[int, int]
    log: Path
    secret: str | None = None

    @property
    def ice_server(self) -> dict[str, object]:
        """The entry for ``SCAIECHO_WEBRTC_ICE_SERVERS``."""
        if self.secret is not None:
            return {"urls": self.url, "secret": self.secret, "ttl_seconds": 600}
        return {"urls": self.url, "username": self.username, "credential": self.credential}


@contextmanager
def turn_server(workdir: Path, rest_secret: bool = False) -> Iterator[Turn]:
    binary = shutil.which("turnserver")
    if binary is None:
        raise RuntimeError("coturn's turnserver is missing (scripts/install-system-deps.sh installs it)")
    port = free_port()
    low = random.randrange(50000, 59000, 100)  # a relay port range away from other runs
    relay = (low, low + 49)
    log = workdir / "turnserver.log"
    # The password is fixed per run but random, so nothing but this test knows it.
    user, password = "scaiecho-test", f"p{random.randrange(10**9)}"
    secret = f"s{random.randrange(10**9)}" if rest_secret else None
    auth = (
        ["--use-auth-secret", f"--static-auth-secret={secret}"]
        if secret
        else ["--lt-cred-mech", "--user", f"{user}:{password}"]
    )
    cmd = [
        binary, "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", str(port),
        "--min-port", str(relay[0]), "--max-port", str(relay[1]), *auth,
        "--realm", "scaiecho", "--no-tls", "--no-dtls", "--no-cli",
        "--allow-loopback-peers", "--no-multicast-peers", "--fingerprint", "--log-file", "stdout",
        "--pidfile", str(workdir / "turnserver.pid"),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:  # it listens on TCP and UDP on the same port: TCP says it is up
            if process.poll() is not None:
                raise RuntimeError(f"turnserver exited {process.returncode}: see {log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("turnserver did not start listening in 15 s") from None
                time.sleep(0.1)
        yield Turn(f"turn:127.0.0.1:{port}?transport=udp", user, password, relay, log, secret)
    finally:
        stop(process, 5)
