"""Measuring an experiment: the metric per send of each variant, from the ledger and the lake.

Sends come from the ledger (who got which variant, when). Opens and clicks come from the lake's
events of the campaign, without the machine ones (Apple Mail Privacy Protection opens, link
scanners' clicks: ``is_machine``), counted once per contact. Conversions and revenue come from
the lake's orders a contact placed after the message was sent, so a holdout, which got no
message, is measured by the same rule from the experiment's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from aicmo.models.lake import schema
from aicmo.storage.experiments import SentRow
from aicmo.storage.lake import Lake
from aicmo.tasks.experiments.stats import Arm

_SENDS_SCHEMA = schema({"contact_id": pl.Int64, "variant_id": pl.Int64, "sent_at": pl.Datetime("us", "UTC")})
_OUTCOMES_SCHEMA = schema({"contact_id": pl.Int64, "ts": pl.Datetime("us", "UTC"), "value": pl.Float64})


def sends_frame(rows: Sequence[SentRow]) -> pl.DataFrame:
    """The sent messages as a frame: contact_id, variant_id, sent_at."""
    return pl.DataFrame(
        {
            "contact_id": [r.contact_id for r in rows],
            "variant_id": [r.variant_id for r in rows],
            "sent_at": [r.sent_at for r in rows],
        },
        schema=_SENDS_SCHEMA,
    )


def outcomes(
    lake: Lake, campaign_id: int, metric: str, contact_ids: Sequence[int], until: datetime
) -> pl.DataFrame:
    """What counts toward ``metric``: contact_id, ts, value (1 per human open/click/order, or the amount)."""
    empty = pl.DataFrame(schema=_OUTCOMES_SCHEMA)
    if metric in ("open", "click"):
        if not lake.partitions("events"):
            return empty
        return (
            lake.scan("events")
            .filter(
                (pl.col("campaign_id") == campaign_id)
                & (pl.col("type") == metric)
                & pl.col("contact_id").is_not_null()
                & ~pl.col("is_machine").fill_null(False)
                & (pl.col("ts") <= until)
            )
            .group_by("contact_id")
            .agg(pl.col("ts").min())
            .with_columns(pl.lit(1.0).alias("value"))
            .select(list(_OUTCOMES_SCHEMA))
            .collect()
            .cast(_OUTCOMES_SCHEMA)
        )
    return orders(lake, contact_ids, until)


def orders(lake: Lake, contact_ids: Sequence[int], until: datetime) -> pl.DataFrame:
    """The contacts' orders up to ``until``: contact_id, ts, value (the amount)."""
    if not lake.partitions("orders") or not contact_ids:
        return pl.DataFrame(schema=_OUTCOMES_SCHEMA)
    return (
        lake.scan("orders")
        .filter(pl.col("contact_id").is_in(list(contact_ids)) & (pl.col("ts") <= until))
        .select("contact_id", "ts", pl.col("amount").alias("value"))
        .collect()
        .cast(_OUTCOMES_SCHEMA)
    )


def per_contact(sends: pl.DataFrame, found: pl.DataFrame, metric: str, at: datetime) -> pl.DataFrame:
    """Each contact sent to by ``at``: its variant and its metric value counted by ``at``."""
    sent = sends.filter(pl.col("sent_at") <= at)
    hits = (
        found.join(sent.select("contact_id", "sent_at"), on="contact_id")
        .filter((pl.col("ts") >= pl.col("sent_at")) & (pl.col("ts") <= at))
        .group_by("contact_id")
        .agg((pl.col("value").sum() if metric == "revenue" else pl.lit(1.0)).alias("value"))
    )
    return sent.join(hits, on="contact_id", how="left").with_columns(pl.col("value").fill_null(0.0))


def arms(values: pl.DataFrame, variants: int) -> list[Arm]:
    """Per variant: sends, sum and sum of squares of the metric (from :func:`per_contact`)."""
    grouped = {
        int(row["variant_id"]): Arm(int(row["n"]), float(row["s"]), float(row["ss"]))
        for row in values.filter(pl.col("variant_id").is_not_null())
        .group_by("variant_id")
        .agg(pl.len().alias("n"), pl.col("value").sum().alias("s"), (pl.col("value") ** 2).sum().alias("ss"))
        .iter_rows(named=True)
    }
    return [grouped.get(i, Arm(0, 0.0, 0.0)) for i in range(variants)]


def series(
    sends: pl.DataFrame, found: pl.DataFrame, metric: str, variants: int, start: datetime, end: datetime
) -> list[dict[str, object]]:
    """The metric per send of each variant at every hour from ``start`` to ``end`` (at most 240 points)."""
    hours = max(1, int((end - start).total_seconds() // 3600))
    step = max(1, -(-hours // 240))
    points: list[dict[str, object]] = []
    for h in [*range(step, hours + 1, step), *([] if hours % step == 0 else [hours])]:
        at = start + timedelta(hours=h)
        for index, arm in enumerate(arms(per_contact(sends, found, metric, min(at, end)), variants)):
            points.append({"hour": h, "variant": index, "sends": arm.sends, "metric": arm.mean})
    return points
