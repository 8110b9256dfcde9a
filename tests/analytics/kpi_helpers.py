"""Builders of small event and ad-spend frames whose KPIs can be worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from aicmo.models.lake import AD_SPEND, EVENTS

D1 = date(2026, 3, 2)
D2 = date(2026, 3, 3)
D3 = date(2026, 3, 4)


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """A UTC timestamp on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


class EventLog:
    """Appends events with unique ids; ``frame()`` returns them in the lake's schema."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        kind: str,
        contact: int | None,
        when: datetime,
        *,
        campaign: int | None = 1,
        channel: str = "email",
        revenue: float | None = None,
        cost: float | None = None,
        event_id: str | None = None,
    ) -> EventLog:
        self.rows.append(
            {
                "event_id": event_id or f"e{len(self.rows)}",
                "ts": when,
                "contact_id": contact,
                "campaign_id": campaign,
                "channel": channel,
                "type": kind,
                "revenue": revenue,
                "cost": cost,
            }
        )
        return self

    def frame(self) -> pl.DataFrame:
        df = pl.DataFrame(self.rows, schema={k: EVENTS[k] for k in self.rows[0]})
        return df.with_columns(
            pl.lit(None).cast(EVENTS[c]).alias(c) for c in EVENTS if c not in df.columns
        ).select(EVENTS.names())


def spend(rows: list[tuple[date, int | None, float]]) -> pl.DataFrame:
    """Ad-spend rows: (day, campaign id, spend)."""
    return pl.DataFrame(
        [
            {
                "date": d,
                "platform": "meta",
                "campaign_id": c,
                "campaign": f"c{c}",
                "ad_set": "s",
                "ad": f"a{i}",
                "spend": s,
            }
            for i, (d, c, s) in enumerate(rows)
        ]
    ).with_columns(
        pl.lit(None).cast(AD_SPEND[c]).alias(c)
        for c in ("impressions", "clicks", "conversions", "conversion_value")
    )


def email_and_ads_log() -> EventLog:
    """Day 1: campaign 1 (email) to contacts 1-4 and campaign 2 (ads) clicks; day 2: late opens.

    Day 1, campaign 1: 4 sends (0.01 each), 3 deliveries, 1 bounce; contact 1 opens twice and clicks
    twice, contact 2 opens once; contact 1 converts for 50; contact 3 unsubscribes.
    Day 1, campaign 2 (ads): contacts 5 and 6 click, contact 5 converts for 300.
    Day 2, campaign 1: contact 1 and contact 3 open (no sends, no deliveries that day).
    """
    log = EventLog()
    for c in (1, 2, 3, 4):
        log.add("send", c, at(D1, 8), cost=0.01)
    for c in (1, 2, 3):
        log.add("deliver", c, at(D1, 8, 1))
    log.add("bounce", 4, at(D1, 8, 1))
    log.add("open", 1, at(D1, 9)).add("open", 1, at(D1, 10)).add("open", 2, at(D1, 11))
    log.add("click", 1, at(D1, 9, 5)).add("click", 1, at(D1, 10, 5))
    log.add("convert", 1, at(D1, 12), revenue=50.0)
    log.add("unsubscribe", 3, at(D1, 13))
    log.add("click", 5, at(D1, 14), campaign=2, channel="ads")
    log.add("click", 6, at(D1, 14), campaign=2, channel="ads")
    log.add("convert", 5, at(D1, 15), campaign=2, channel="ads", revenue=300.0)
    log.add("open", 1, at(D2, 9)).add("open", 3, at(D2, 9))
    return log


def synthetic_events(
    first: date, days: int, *, seed: int = 0, spike: date | None = None, contacts: int = 400
) -> pl.DataFrame:
    """Event-level data for one email campaign (id 1) and one ads campaign (id 2) over ``days``.

    Volume dips on weekends; email bounces ~3 % of sends, 15 % on ``spike``. Vectorised numpy,
    deterministic per seed.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    volume = [1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.3]
    parts: list[pl.DataFrame] = []
    for i in range(days):
        day = first + timedelta(days=i)
        base = datetime(day.year, day.month, day.day, tzinfo=UTC)
        n = int(rng.poisson(300 * volume[day.weekday()]))
        who = rng.integers(1, contacts, n)
        bounce_p = 0.15 if day == spike else 0.03
        delivered = rng.random(n) > bounce_p
        opened = delivered & (rng.random(n) < 0.3)
        clicked = opened & (rng.random(n) < 0.25)
        converted = clicked & (rng.random(n) < 0.3)
        ad_clicks = int(rng.poisson(60 * volume[day.weekday()]))
        ad_who = rng.integers(1, contacts, ad_clicks)
        ad_conv = rng.random(ad_clicks) < 0.05
        blocks = [
            ("send", who, 8, 1, "email", 0.0),
            ("deliver", who[delivered], 8, 1, "email", 0.0),
            ("bounce", who[~delivered], 8, 1, "email", 0.0),
            ("open", who[opened], 10, 1, "email", 0.0),
            ("click", who[clicked], 11, 1, "email", 0.0),
            ("convert", who[converted], 12, 1, "email", 40.0),
            ("click", ad_who, 14, 2, "ads", 0.0),
            ("convert", ad_who[ad_conv], 16, 2, "ads", 80.0),
        ]
        for kind, ids, hour, campaign, channel, revenue in blocks:
            if len(ids) == 0:
                continue
            parts.append(
                pl.DataFrame(
                    {
                        "event_id": [f"{day.isoformat()}-{kind}-{campaign}-{j}" for j in range(len(ids))],
                        "ts": [base + timedelta(hours=hour, seconds=j) for j in range(len(ids))],
                        "contact_id": ids.astype("int64"),
                        "campaign_id": [campaign] * len(ids),
                        "channel": [channel] * len(ids),
                        "type": [kind] * len(ids),
                        "revenue": [revenue if kind == "convert" else None] * len(ids),
                        "cost": [0.001 if kind == "send" else None] * len(ids),
                    },
                    schema_overrides={"ts": EVENTS["ts"], "revenue": pl.Float64, "cost": pl.Float64},
                )
            )
    df = pl.concat(parts)
    return df.with_columns(
        pl.lit(None).cast(EVENTS[c]).alias(c) for c in EVENTS if c not in df.columns
    ).select(EVENTS.names())
