"""Engagement for the demo: recipients opening and clicking a campaign through a running service.

:func:`serve_in_background` runs the tracking service in this process (uvicorn in a thread, on
127.0.0.1, port 0); :func:`simulate_engagement` plays recipients against it over real HTTP: some
open (a share of them through Apple's privacy proxy, which the service flags), some click a link
of the message, a few hit every link at once like a scanner, a few unsubscribe with one click.
The same seed plays the same recipients.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine

from aicmo.settings import Settings, TrackingSettings
from aicmo.storage.lake import Lake
from aicmo.tasks.tracking.tokens import CLICK, OPEN, UNSUBSCRIBE, TrackingToken, signer_from_settings

BROWSER_UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
APPLE_PROXY_UA = "Mozilla/5.0"
SCANNER_UA = "Mozilla/5.0 (compatible; Barracuda Sentinel URL scanner)"


@dataclass
class EngagementReport:
    """What was played and what the service acknowledged."""

    opens: int = 0
    machine_opens: int = 0
    clicks: int = 0
    scanner_clicks: int = 0
    unsubscribes: int = 0
    failed: int = 0

    @property
    def human_opens(self) -> int:
        """Opens by people."""
        return self.opens - self.machine_opens

    @property
    def human_clicks(self) -> int:
        """Clicks by people."""
        return self.clicks - self.scanner_clicks


@contextmanager
def serve_in_background(
    settings: Settings, engine: Engine | None = None, lake: Lake | None = None
) -> Iterator[str]:
    """Run the service on 127.0.0.1 (any free port) until the block ends; yields its base URL.

    The public base URL of the links is this server's, so the links the demo builds reach it.
    """
    from aicmo.tasks.tracking.listener import bind, uvicorn_server
    from aicmo.tasks.tracking.service import create_app

    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    tracking = TrackingSettings.model_validate({**settings.tracking.model_dump(), "base_url": url})
    local = settings.model_copy(update={"tracking": tracking})
    server = uvicorn_server(create_app(local, engine=engine, lake=lake))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="tracking-demo", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the tracking service did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True  # its shutdown flushes the spool into the lake
        thread.join(timeout=120)


def simulate_engagement(
    base_url: str,
    campaign_id: int,
    contact_ids: Sequence[int],
    *,
    tracking: TrackingSettings,
    channel: str = "email",
    links: Sequence[str] = ("https://example.com/offer", "https://example.com/blog"),
    sent_at: datetime | None = None,
    open_rate: float = 0.45,
    apple_share: float = 0.3,
    click_rate: float = 0.3,
    scanner_rate: float = 0.05,
    unsubscribe_rate: float = 0.01,
    seed: int = 7,
    concurrency: int = 16,
) -> EngagementReport:
    """Play recipients of one campaign against the service at ``base_url``; returns what was acknowledged.

    ``sent_at`` (default an hour ago) is when the message went out: clicks from people come later
    than the scanner window, so only the simulated scanners are flagged.
    """
    signer = signer_from_settings(tracking)
    issued = int((sent_at or datetime.now(UTC) - timedelta(hours=1)).timestamp())
    rng = random.Random(seed)
    plan: list[tuple[str, str, str, str | None]] = []  # (kind, path, user agent, body)
    for cid in contact_ids:
        token = signer.sign(TrackingToken(OPEN, campaign_id, cid, channel, None, issued))
        if rng.random() < scanner_rate:
            for link in links:
                click = signer.sign(TrackingToken(CLICK, campaign_id, cid, channel, link, issued))
                plan.append(("scanner_click", f"/c/{click}", SCANNER_UA, None))
            continue
        if rng.random() < open_rate:
            apple = rng.random() < apple_share
            plan.append(
                (
                    "machine_open" if apple else "open",
                    f"/o/{token}.gif",
                    APPLE_PROXY_UA if apple else BROWSER_UA,
                    None,
                )
            )
            if rng.random() < click_rate:
                link = links[rng.randrange(len(links))]
                click = signer.sign(TrackingToken(CLICK, campaign_id, cid, channel, link, issued))
                plan.append(("click", f"/c/{click}", BROWSER_UA, None))
            if rng.random() < unsubscribe_rate:
                unsub = signer.sign(TrackingToken(UNSUBSCRIBE, campaign_id, cid, channel, None, issued))
                plan.append(("unsubscribe", f"/u/{unsub}", BROWSER_UA, "List-Unsubscribe=One-Click"))
    return asyncio.run(_play(base_url, plan, concurrency))


async def _play(
    base_url: str, plan: list[tuple[str, str, str, str | None]], concurrency: int
) -> EngagementReport:
    report = EngagementReport()
    queue = list(reversed(plan))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            kind, path, agent, body = queue.pop()
            headers = {"User-Agent": agent}
            try:
                if body is None:
                    response = await client.get(path, headers=headers)
                else:
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                    response = await client.post(path, content=body, headers=headers)
            except httpx.HTTPError:
                report.failed += 1
                continue
            if response.status_code not in (200, 302):
                report.failed += 1
                continue
            if kind in ("open", "machine_open"):
                report.opens += 1
                report.machine_opens += kind == "machine_open"
            elif kind in ("click", "scanner_click"):
                report.clicks += 1
                report.scanner_clicks += kind == "scanner_click"
            else:
                report.unsubscribes += 1

    async with httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=False) as client:
        await asyncio.gather(*(worker(client) for _ in range(max(1, concurrency))))
    return report
