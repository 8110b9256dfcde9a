"""Performance with Wilson intervals, and the suggestions drawn from it, on simulated events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from sqlalchemy import Engine

from aicmo.settings import MediaSettings
from aicmo.storage.campaigns import upsert_campaigns
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.media import latest_suggestions, record_usage
from aicmo.tasks.media.ingest import ingest_bytes
from aicmo.tasks.media.library import suggest
from aicmo.tasks.media.performance import performance, wilson
from tests.media.images import encode, photo, resized

START = datetime(2026, 10, 1, 9, tzinfo=UTC)
DAYS = 28


def _events(
    rng: np.random.Generator, asset_id: int, campaign_id: int, ctr_by_day: list[float], per_day: int
) -> list[dict]:
    rows: list[dict] = []
    for d, ctr in enumerate(ctr_by_day):
        ts = START + timedelta(days=d)
        for k in range(per_day):
            contact = asset_id * 1_000_000 + d * 1000 + k
            base = {
                "contact_id": contact,
                "campaign_id": campaign_id,
                "channel": "email",
                "asset_id": asset_id,
            }
            rows.append({**base, "ts": ts, "type": "send"})
            rows.append({**base, "ts": ts + timedelta(minutes=1), "type": "deliver"})
            if rng.random() < ctr:
                rows.append({**base, "ts": ts + timedelta(hours=30), "type": "click"})  # clicks land next day
                if rng.random() < 0.2:
                    rows.append({**base, "ts": ts + timedelta(hours=31), "type": "convert", "revenue": 40.0})
    return rows


def _lake(tmp_path, plan: dict[int, list[float]], per_day: int = 120) -> Lake:
    rng = np.random.default_rng(42)
    rows = [
        r for asset_id, ctrs in plan.items() for r in _events(rng, asset_id, 500 + asset_id, ctrs, per_day)
    ]
    df = (
        pl.DataFrame(rows)
        .with_row_index("n")
        .with_columns(pl.format("e{}", pl.col("n")).alias("event_id"))
        .drop("n")
    )
    lake = Lake(str(tmp_path / "lake"))
    lake.write("events", df)
    return lake


def test_wilson_intervals_cover_the_true_rate() -> None:
    rng = np.random.default_rng(3)
    for p, n in ((0.02, 50), (0.05, 200), (0.3, 30)):
        x = rng.binomial(n, p, 4000)
        lo, hi = wilson(pl.col("x"), pl.col("n"), 1.96)
        bounds = pl.DataFrame({"x": x, "n": np.full(len(x), n)}).select(lo.alias("lo"), hi.alias("hi"))
        covered = ((bounds["lo"] <= p) & (p <= bounds["hi"])).mean()
        assert 0.92 <= float(covered) <= 0.985, (p, n, covered)
        assert (bounds["lo"] >= 0).all() and (bounds["hi"] <= 1).all()


def test_performance_per_asset_channel_and_campaign(tmp_path) -> None:
    lake = _lake(tmp_path, {1: [0.1] * 5, 2: [0.02] * 5}, per_day=200)
    df = performance(lake, 1.96)
    assert df.select("asset_id", "channel", "campaign_id").rows() == [(1, "email", 501), (2, "email", 502)]
    one = df.row(0, named=True)
    assert one["deliveries"] == one["sends"] == 1000
    assert 0.08 < one["ctr"] < 0.12 and one["ctr_lo"] < one["ctr"] < one["ctr_hi"]
    assert one["revenue"] == 40.0 * one["conversions"]
    assert one["revenue_per_send"] == one["revenue"] / one["sends"]


def test_retire_promote_and_fatigue(sqlite_engine: Engine, media: MediaSettings, tmp_path) -> None:
    ids = [ingest_bytes(sqlite_engine, encode(photo(s, (60, 40))), f"{s}.png", f"t:{s}", media=media).added[0]
           for s in range(6)]  # fmt: skip
    winner, loser, steady, tired, other, tiny = ids
    decline = list(np.linspace(0.08, 0.015, DAYS))
    lake = _lake(
        tmp_path,
        {
            winner: [0.10] * DAYS,
            loser: [0.012] * DAYS,
            steady: [0.04] * DAYS,
            tired: decline,
            other: [0.04] * DAYS,
        },
    )
    small = _lake(tmp_path / "small", {tiny: [0.0] * 2}, per_day=40)
    lake.write("events", small.scan("events").collect().drop("dt"))
    result = suggest(sqlite_engine, lake, media)
    kinds: dict[str, set[int]] = {}
    for s in result["suggestions"]:
        kinds.setdefault(s["kind"], set()).add(s["asset_id"])
    assert loser in kinds["retire"] and not {winner, steady, other} & kinds["retire"]
    assert kinds["promote"] == {winner}
    assert kinds.get("fatigue") == {tired}
    assert tiny not in set().union(*kinds.values())  # 80 deliveries are not judged
    fatigue = next(s for s in result["suggestions"] if s["kind"] == "fatigue")
    assert (
        fatigue["numbers"]["ctr_recent"] < fatigue["numbers"]["ctr_early"]
        and fatigue["numbers"]["trend_z"] < -2.33
    )
    retire = next(s for s in result["suggestions"] if s["kind"] == "retire")
    assert (
        retire["numbers"]["ctr_hi"] < retire["numbers"]["baseline_ctr"]
        and "below the email baseline" in retire["reason"]
    )
    with transaction(sqlite_engine) as session:
        stored = latest_suggestions(session)
    assert sorted((s.kind, s.asset_id) for s in stored) == sorted(
        (s["kind"], s["asset_id"]) for s in result["suggestions"]
    )


def test_consolidate_and_spec_misfits(sqlite_engine: Engine, media: MediaSettings, tmp_path) -> None:
    big = photo(11, (1200, 600))
    original = ingest_bytes(
        sqlite_engine, encode(big, "JPEG", quality=90), "hero.jpg", "t:hero", media=media
    ).added[0]
    copy = ingest_bytes(
        sqlite_engine, encode(resized(big, 0.5), "JPEG", quality=70), "hero-small.jpg", "t:copy", media=media
    ).added[0]
    square = ingest_bytes(
        sqlite_engine, encode(photo(12, (400, 400))), "square.png", "t:sq", media=media
    ).added[0]
    with transaction(sqlite_engine) as session:
        campaigns = upsert_campaigns(
            session, [{"name": "mail", "channel": "email"}, {"name": "app", "channel": "push"}]
        )
        record_usage(session, original, campaigns["mail"], "email")
        record_usage(session, square, campaigns["app"], "push")
        record_usage(session, square, campaigns["mail"], "email")
    result = suggest(sqlite_engine, Lake(str(tmp_path / "empty-lake")), media)
    found = {(s["kind"], s["asset_id"], s["channel"]): s for s in result["suggestions"]}
    consolidate = found[("consolidate", copy, None)]
    assert (
        consolidate["numbers"]["keep"] == original
        and f"near-duplicate of asset {original}" in consolidate["reason"]
    )
    push = found[("spec_misfit", square, "push")]
    assert "aspect ratio 1.00 is outside 1.5-2.5" in push["reason"]
    assert "400x400 is smaller than the minimum 600x1" in found[("spec_misfit", square, "email")]["reason"]
    assert ("spec_misfit", original, "email") not in found
