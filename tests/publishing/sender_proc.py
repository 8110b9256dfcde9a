"""A sender in its own process (``python -m tests.publishing.sender_proc URL CAMPAIGN_ID PORT RATE``), to be killed."""

from __future__ import annotations

import sys

from aicmo.settings import PublishingSettings
from aicmo.storage.db import make_engine
from aicmo.tasks.publishing.sender import send_campaign
from tests.publishing.helpers import LINKS


def main() -> None:
    url, campaign_id, port, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    settings = PublishingSettings(
        smtp_host="127.0.0.1", smtp_port=port, rate_limit_per_s=rate, handover_window=5, claim_batch=40
    )
    report = send_campaign(make_engine(url), campaign_id, settings=settings, links=LINKS, poll_s=0.2)
    print(f"sent {report.sent} unknown {len(report.unknown)} status {report.status}", flush=True)


if __name__ == "__main__":
    main()
