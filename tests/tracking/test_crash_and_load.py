"""Load with kill -9 in the middle: every acknowledged event is in the lake exactly once.

Bounded in count and time: a few thousand requests over a few seconds from 16 concurrent
connections on 127.0.0.1, mixing open pixels (each with its own contact id) and Mailgun webhooks,
every one of which is delivered twice (the redelivery a provider makes when an answer is lost).
The service is killed with SIGKILL while traffic and flushes run, restarted on the same spool,
given more traffic (and redeliveries of acknowledged webhooks), drained and killed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from aicmo.storage.db import make_engine
from aicmo.storage.lake import Lake
from aicmo.storage.migrate import upgrade
from aicmo.tasks.tracking.tokens import OPEN, TokenSigner, TrackingToken
from tests.tracking.conftest import BROWSER, KEY
from tests.tracking.process import ServerProcess

MAILGUN_KEY = "mailgun-signing-key-for-tests"
CONTACTS_PER_PHASE = 3_000


def _mailgun_body(i: int) -> bytes:
    ts, token = str(int(time.time())), f"tok{i:046d}"
    signature = hmac.new(MAILGUN_KEY.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": ts, "token": token, "signature": signature},
            "event-data": {
                "event": "delivered",
                "id": f"mg-{i}",
                "timestamp": time.time(),
                "recipient": f"p{i}@example.com",
                "user-variables": {"aicmo_campaign_id": "1", "aicmo_contact_id": str(i)},
            },
        }
    ).encode()


async def _traffic(
    url: str, ids: list[int], acked: set[int], deadline: float, stop_after: int | None = None
) -> None:
    """Send one request per id (pixel for even ids, Mailgun webhook twice for odd ones) until the deadline."""
    signer = TokenSigner([KEY])
    queue = list(ids)
    done = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while queue and time.monotonic() < deadline and (stop_after is None or done < stop_after):
            i = queue.pop()
            try:
                if i % 2 == 0:
                    token = signer.sign(TrackingToken(OPEN, 1, i, "email", None, None))
                    ok = (await client.get(f"/o/{token}.gif")).status_code == 200
                else:
                    body = _mailgun_body(i)
                    headers = {"Content-Type": "application/json"}
                    first = await client.post("/webhooks/mailgun", content=body, headers=headers)
                    again = await client.post("/webhooks/mailgun", content=_mailgun_body(i), headers=headers)
                    ok = first.status_code == 200 or again.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                acked.add(i)
            done += 1

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(
        base_url=url, timeout=10, limits=limits, headers={"User-Agent": BROWSER}
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(16)), return_exceptions=True)


@pytest.mark.slow
def test_kill_9_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    engine = make_engine(f"sqlite:///{home / 'aicmo.db'}")
    upgrade(engine)
    engine.dispose()
    env = {
        "AICMO_TRACKING_KEYS": json.dumps([KEY]),
        "AICMO_TRACKING_FLUSH_INTERVAL_S": "0.05",  # flushes all the time, so the kill can land in one
        "AICMO_TRACKING_FLUSH_BATCH": "200",
        "AICMO_TRACKING_MAILGUN_SIGNING_KEY": MAILGUN_KEY,
    }
    server = ServerProcess(home, env)
    acked: set[int] = set()
    rng = random.Random(13)

    url = server.start()
    first = list(range(CONTACTS_PER_PHASE))
    rng.shuffle(first)

    async def phase_one() -> None:
        traffic = asyncio.create_task(_traffic(url, first, acked, time.monotonic() + 8))
        await asyncio.sleep(rng.uniform(0.8, 1.6))
        server.kill9()  # mid-traffic, mid-flush: no shutdown hook runs
        await traffic

    asyncio.run(phase_one())
    assert acked, "no request was acknowledged before the kill"
    assert len(acked) < len(first), "the kill did not interrupt the traffic"
    acked_before_kill = set(acked)

    url = server.start()  # same spool: recovers what the dead process acknowledged
    second = list(range(CONTACTS_PER_PHASE, CONTACTS_PER_PHASE + 600))
    redeliveries = [i for i in sorted(acked_before_kill) if i % 2 == 1][:100]
    asyncio.run(_traffic(url, second + redeliveries, acked, time.monotonic() + 6))
    server.wait_drained()
    server.kill9()

    events = Lake(str(home / "lake")).scan("events").collect()
    assert events.get_column("event_id").is_duplicated().sum() == 0
    per_contact = events.group_by("contact_id").len()
    assert per_contact.filter(pl.col("len") > 1).is_empty(), "an event landed twice"
    in_lake = set(events.get_column("contact_id").to_list())
    missing = acked - in_lake
    assert not missing, f"{len(missing)} acknowledged events are not in the lake"
    assert len(acked) >= 300
