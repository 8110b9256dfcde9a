"""A sender in its own process (``python -m tests.publishing.sender_proc URL CAMPAIGN_ID PORT RATE``), to be killed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.settings import PublishingSettings
from aicmo.storage.db import make_engine
from aicmo.tasks.publishing.sender import send_campaign
from tests.publishing.helpers import LINKS

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    url, campaign_id, port, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    settings = PublishingSettings(
        smtp_host="127.0.0.1", smtp_port=port, rate_limit_per_s=rate, handover_window=5, claim_batch=40
    )
    report = send_campaign(make_engine(url), campaign_id, settings=settings, links=LINKS, poll_s=0.2)
    print(f"sent {report.sent} unknown {len(report.unknown)} status {report.status}", flush=True)


def kill_mid_send_then_finish(
    url: str, campaign_id: int, smtp: LocalSmtpServer, rate: float, *, kills: int, seed: int
) -> tuple[int, str]:
    """Start this sender ``kills`` times, each killed with SIGKILL at a random point once it is
    sending, then run it to the end; returns how many runs were killed mid-send and the last run's output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "tests.publishing.sender_proc",
        url,
        str(campaign_id),
        str(smtp.port),
        str(rate),
    ]
    rng = random.Random(seed)
    killed = 0
    for _ in range(kills):
        before = smtp.count
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while smtp.count == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.15))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(30)
    final = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr[-2000:]
    return killed, final.stdout


if __name__ == "__main__":
    main()
