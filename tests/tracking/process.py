"""``aicmo serve`` as a real child process, for crash (kill -9) and load tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVE = [sys.executable, "-c", "from aicmo.cli import main; main()", "serve", "--port", "0"]


class ServerProcess:
    """One run of the service on 127.0.0.1 with the given environment."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = {**os.environ, **env, "AICMO_HOME": str(home)}
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout_s: float = 120) -> str:
        """Start and wait until /healthz answers; returns the base URL."""
        port_file = self.home / f"port-{time.monotonic_ns()}"
        log = (self.home / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [*SERVE, "--port-file", str(port_file)], env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"aicmo serve exited: {(self.home / 'serve.log').read_text()[-2000:]}")
            if port_file.exists() and port_file.read_text():
                self.url = f"http://127.0.0.1:{port_file.read_text()}"
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                        return self.url
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        self.kill9()
        raise RuntimeError("aicmo serve did not become healthy")

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook, no final flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def wait_drained(self, timeout_s: float = 60) -> None:
        """Wait until the flusher has moved every acknowledged event into the lake."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if httpx.get(f"{self.url}/healthz", timeout=5).json()["queue_depth"] == 0:
                return
            time.sleep(0.1)
        raise AssertionError("the spool did not drain")
