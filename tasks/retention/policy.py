"""Apply the retention settings to the lake and the store, or report what applying them would remove.

Three kinds of ageing, each per the ``AICMO_RETENTION_*`` settings and measured from ``today``:

- whole lake partitions older than their table's age are dropped (with their written-at records);
  in a monthly table (``ad_spend``) the expired days' rows are cut from their month's file, so a
  month whose later days are still young keeps them;
- raw events older than the personal-data age keep their counts, types, channels, campaigns,
  costs and revenue but lose what points at a person (contact id, clicked URL, provider event id),
  so KPIs and other aggregates stay true while the person is no longer in the raw log;
- the store's provider cache, finished run records and the send ledgers of long-settled campaigns
  are pruned.

A dry run reads exactly what an applied run would change and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
from sqlalchemy import Engine

from aicmo.errors import ConfigError
from aicmo.models.lake import TABLES
from aicmo.settings import RetentionSettings
from aicmo.storage.lake import Lake, table_lock
from aicmo.storage.retention import StoreCutoffs, forget_partitions, prune_store

PERSONAL_EVENT_COLUMNS = ("contact_id", "url", "provider_event_id")


@dataclass(frozen=True)
class RetentionLine:
    """One line of the summary: what kind of data, where, how many rows (and partitions), up to when."""

    action: str
    target: str
    rows: int
    partitions: int
    before: date

    def as_row(self) -> dict[str, str | int]:
        """A table row for the CLI and the artifact."""
        return {
            "action": self.action,
            "target": self.target,
            "rows": self.rows,
            "partitions": self.partitions,
            "older than": self.before.isoformat(),
        }


def check_tables(settings: RetentionSettings) -> None:
    """Refuse a retention age for a lake table that does not exist, naming the setting."""
    unknown = sorted(set(settings.lake_days) - set(TABLES))
    if unknown:
        raise ConfigError(
            f"AICMO_RETENTION_LAKE_DAYS names unknown lake table(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(TABLES))}"
        )


def _rows(lake: Lake, table: str, days: list[date], condition: pl.Expr | None = None) -> int:
    if not days:
        return 0
    frame = lake.scan(table, min(days), max(days))
    if condition is not None:
        frame = frame.filter(condition)
    return int(frame.select(pl.len()).collect().item())


def _drop_old_partitions(
    engine: Engine, lake: Lake, settings: RetentionSettings, today: date, apply: bool
) -> list[RetentionLine]:
    lines = []
    for table, days in sorted(settings.lake_days.items()):
        cutoff = today - timedelta(days=days)
        old = [dt for dt in lake.partitions(table) if dt < cutoff]
        rows = _rows(lake, table, old)
        if apply and old:
            with table_lock(lake, table):
                lake.drop_days(table, old)
            forget_partitions(engine, table, old)
        lines.append(RetentionLine("drop lake partitions", table, rows, len(old), cutoff))
    return lines


def _strip_personal_events(
    lake: Lake, settings: RetentionSettings, today: date, apply: bool
) -> list[RetentionLine]:
    if settings.event_personal_days is None:
        return []
    cutoff = today - timedelta(days=settings.event_personal_days)
    personal = pl.any_horizontal(pl.col(c).is_not_null() for c in PERSONAL_EVENT_COLUMNS)
    kept_days = settings.lake_days.get("events")
    dropped_before = today - timedelta(days=kept_days) if kept_days is not None else date.min
    candidates = [dt for dt in lake.partitions("events") if dropped_before <= dt < cutoff]
    days = (
        lake.scan("events", min(candidates), max(candidates))
        .filter(personal)
        .select(pl.col("dt").unique())
        .collect()["dt"]
        .to_list()
        if candidates
        else []
    )
    rows = _rows(lake, "events", days, personal) if days else 0
    if apply and days:
        strip = [pl.lit(None).alias(c) for c in PERSONAL_EVENT_COLUMNS]
        with table_lock(lake, "events"):
            lake.rewrite_partitions("events", lambda df: df.with_columns(strip), days)
    return [RetentionLine("remove personal data from raw events", "events", rows, len(days), cutoff)]


def _prune_store(
    engine: Engine, settings: RetentionSettings, now: datetime, apply: bool
) -> list[RetentionLine]:
    ages = {
        "provider_cache": settings.provider_cache_days,
        "flow_runs": settings.run_log_days,
        "outbox": settings.ledger_days,
    }
    cutoffs = StoreCutoffs(
        now=now,
        cache_fetched_before=now - timedelta(days=ages["provider_cache"]),
        runs_finished_before=now - timedelta(days=ages["flow_runs"]),
        campaigns_settled_before=now - timedelta(days=ages["outbox"]),
    )
    found = prune_store(engine, cutoffs, apply=apply)
    return [
        RetentionLine("prune store rows", table, rows, 0, (now - timedelta(days=ages[table])).date())
        for table, rows in found.items()
    ]


def apply_retention(
    engine: Engine, lake: Lake, settings: RetentionSettings, today: date, *, apply: bool
) -> list[RetentionLine]:
    """Age the lake and the store per ``settings`` as of ``today``; with ``apply=False`` only count."""
    check_tables(settings)
    now = datetime(today.year, today.month, today.day, tzinfo=UTC)
    return [
        *_drop_old_partitions(engine, lake, settings, today, apply),
        *_strip_personal_events(lake, settings, today, apply),
        *_prune_store(engine, settings, now, apply),
    ]
