"""Builders of small event and ad-spend frames whose KPIs can be worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
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
