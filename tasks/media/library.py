"""The library's use cases composed from the parts: add a URL, suggest, and describe assets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine

from aicmo.models.base import utcnow
from aicmo.settings import MediaSettings
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.media import get_assets, usage, write_suggestions
from aicmo.tasks.media.dupes import find_dupe_groups
from aicmo.tasks.media.fetch import Resolver, fetch_url, system_resolver
from aicmo.tasks.media.ingest import IngestReport, Labels, ingest_bytes
from aicmo.tasks.media.suggestions import (
    Suggestion,
    consolidate_suggestions,
    performance_suggestions,
    spec_suggestions,
)

KIND_ORDER = {"retire": 0, "fatigue": 1, "promote": 2, "consolidate": 3, "spec_misfit": 4}


def add_url(
    engine: Engine,
    url: str,
    media: MediaSettings,
    labels: Labels = Labels(),
    *,
    resolver: Resolver = system_resolver,
) -> IngestReport:
    """Download ``url`` safely and add it like a file (``InputError`` when the fetch is refused)."""
    download = fetch_url(url, media, resolver=resolver)
    return ingest_bytes(engine, download.data, download.name, download.url, labels, media=media)


def suggest(
    engine: Engine, lake: Lake, media: MediaSettings, run_at: datetime | None = None
) -> dict[str, Any]:
    """Compute every suggestion, store them as one run, and return them with the performance table."""
    run_at = run_at or utcnow()
    per_channel, found = performance_suggestions(lake, media)
    groups = find_dupe_groups(engine, media.dupe_distance)
    found += consolidate_suggestions(groups)
    with transaction(engine) as session:
        rows = usage(session)
        used_on: dict[int, set[str]] = {}
        for r in rows:
            used_on.setdefault(r["asset_id"], set()).add(r["channel"])
        assets = get_assets(session, used_on)
        found += spec_suggestions(assets, used_on, media.channel_specs)
        known = {
            i: a
            for i, a in get_assets(session, [s["asset_id"] for s in found]).items()
            if a.status != "archived"
        }
        found = [s for s in found if s["asset_id"] in known]  # events may name deleted or archived assets
        found.sort(key=lambda s: (KIND_ORDER[s["kind"]], s["asset_id"], s["channel"] or ""))
        write_suggestions(session, run_at, found)
        names = {i: a.name for i, a in known.items()}
    return {
        "run_at": run_at,
        "suggestions": [{**s, "asset": names[s["asset_id"]]} for s in found],
        "performance": per_channel,
        "dupe_groups": groups,
    }


def suggestion_rows(suggestions: Sequence[Suggestion]) -> list[dict[str, Any]]:
    """Flat rows (kind, asset, channel, reason) for tables and artifacts."""
    return [
        {"kind": s["kind"], "asset_id": s["asset_id"], "asset": s.get("asset", ""), "channel": s["channel"] or "",
         "reason": s["reason"]}
        for s in suggestions
    ]  # fmt: skip


def performance_rows(per_channel: pl.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    """Rounded rows of the performance table."""
    cols = [
        "asset_id",
        "channel",
        "deliveries",
        "clickers",
        "ctr",
        "ctr_lo",
        "ctr_hi",
        "cvr",
        "revenue_per_send",
    ]
    df = per_channel.select([c for c in cols if c in per_channel.columns])
    rows = df.head(limit).to_dicts() if limit else df.to_dicts()
    return [{k: round(v, 5) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
