"""Tiers by thresholds and quantiles, RFM segments, and bulk score writes with tier-change history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import Engine, event, insert, select

from aicmo.errors import ConfigError
from aicmo.models.analytics import TierChange
from aicmo.models.crm import Contact
from aicmo.tasks.analytics.contact_scores import write_scores
from aicmo.tasks.analytics.tiers import (
    RFM_SEGMENTS,
    assign_tiers,
    quantile_thresholds,
    rfm_segment_expr,
    rfm_segments,
    tier_expr,
)

THRESHOLDS = {"silver": 100.0, "gold": 500.0, "platinum": 2000.0}


def test_threshold_tiers_include_the_lower_bound() -> None:
    df = pl.DataFrame({"v": [0.0, 99.99, 100.0, 499.0, 500.0, 1999.0, 2000.0, 1e6, None]})
    out = df.select(tier_expr(pl.col("v"), THRESHOLDS)).to_series().to_list()
    assert out == ["bronze", "bronze", "silver", "silver", "gold", "gold", "platinum", "platinum", None]


def test_bad_thresholds_name_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"AICMO_ANALYTICS_TIER_THRESHOLDS.*increase"):
        tier_expr(pl.col("v"), {"silver": 500.0, "gold": 100.0})
    with pytest.raises(ConfigError, match="unknown tier"):
        tier_expr(pl.col("v"), {"diamond": 1.0})


def test_quantile_tiers_split_the_population() -> None:
    values = pl.DataFrame({"ltv_value": [float(i) for i in range(1, 1001)]})
    out = assign_tiers(values.lazy(), quantiles={"silver": 0.5, "gold": 0.8, "platinum": 0.95}).collect()
    counts = dict(out.group_by("tier").len().iter_rows())
    assert counts == {"bronze": 500, "silver": 300, "gold": 150, "platinum": 50}
    # Heavy ties at a quantile still give increasing bounds.
    tied = quantile_thresholds(pl.Series([0.0] * 90 + [5.0] * 10))
    assert tied["silver"] < tied["gold"] < tied["platinum"]


def test_rfm_grid_covers_every_score_pair_with_the_standard_corners() -> None:
    grid = pl.DataFrame(
        {"r": [r for r in range(1, 6) for _ in range(5)], "f": [f for _ in range(5) for f in range(1, 6)]}
    )
    seg = grid.with_columns(rfm_segment_expr(pl.col("r"), pl.col("f")).alias("s"))
    lookup = {(r, f): s for r, f, s in seg.iter_rows()}
    assert set(lookup.values()) <= set(RFM_SEGMENTS)
    assert lookup[(5, 5)] == "champions"
    assert lookup[(5, 1)] == "new"
    assert lookup[(1, 1)] == "lost"
    assert lookup[(1, 5)] == "cant_lose_them"
    assert lookup[(2, 4)] == "at_risk"
    assert lookup[(4, 5)] == "loyal"
    assert lookup[(4, 2)] == "potential_loyalist"
    assert lookup[(2, 2)] == "hibernating"


def test_rfm_segments_from_a_summary() -> None:
    as_of = date(2025, 6, 30)
    n = 100
    summary = pl.DataFrame(
        {
            "contact_id": range(n),
            # contact i bought last i*3 days ago, made 1 + i % 10 orders, spent 10 * (i % 7 + 1)
            "last_purchase": [as_of - timedelta(days=3 * i) for i in range(n)],
            "orders": [1 + (i % 10) for i in range(n)],
            "revenue": [10.0 * (i % 7 + 1) for i in range(n)],
        }
    )
    out = rfm_segments(summary.lazy(), as_of).collect().sort("contact_id")
    assert out["r_score"].to_list()[:20] == [5] * 20  # the most recent fifth
    assert out["r_score"].to_list()[-20:] == [1] * 20
    # Equal order counts share an F score.
    per_orders = out.group_by("orders").agg(pl.col("f_score").n_unique().alias("k"))
    assert per_orders["k"].max() == 1
    assert out.filter(pl.col("contact_id") == 9)["rfm_segment"].item() == "champions"  # recent, 10 orders
    assert out.filter(pl.col("contact_id") == 90)["rfm_segment"].item() == "lost"  # 270 days ago, 1 order
    assert out["rfm_score"][0] == f"{out['r_score'][0]}{out['f_score'][0]}{out['m_score'][0]}"


def _contacts(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Contact.__table__), [{"email": f"c{i}@example.com"} for i in range(1, n + 1)])


def test_scores_written_in_bulk_and_tier_changes_recorded(engine: Engine) -> None:
    _contacts(engine, 5)
    first = datetime(2025, 6, 1, tzinfo=UTC)
    scores = pl.DataFrame(
        {
            "contact_id": [1, 2, 3, 4, 99],
            "engagement_score": [10.0, 20.0, 30.0, 40.0, 50.0],
            "historical_ltv": [50.0, 150.0, 600.0, 0.0, 1.0],
            "predicted_ltv": [1.0, 2.0, 3.0, 4.0, 5.0],
            "p_alive": [0.5, 0.6, 0.7, 0.8, 0.9],
            "tier": ["bronze", "silver", "gold", None, "gold"],
            "rfm_segment": ["lost", "loyal", "champions", None, "new"],
        }
    )
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    result = write_scores(engine, scores, first)
    assert result.as_dict() == {"updated": 4, "tier_changes": 3, "unknown_contacts": 1}
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) <= 2  # one executemany, not a round trip per contact (psycopg may batch in pages)

    second = first + timedelta(days=1)
    moved = scores.with_columns(
        pl.Series("tier", ["bronze", "gold", "gold", "silver", "gold"]),
        pl.Series("engagement_score", [11.0, 21.0, 31.0, 41.0, 51.0]),
    )
    assert write_scores(engine, moved, second).tier_changes == 2

    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(Contact.__table__)).all()}
        changes = conn.execute(
            select(
                TierChange.contact_id, TierChange.from_tier, TierChange.to_tier, TierChange.changed_at
            ).order_by(TierChange.id)
        ).all()
    assert rows[1].tier == "bronze" and rows[1].tier_changed_at == first  # unchanged since the first run
    assert rows[2].tier == "gold" and rows[2].tier_changed_at == second
    assert rows[4].tier == "silver" and rows[4].engagement_score == 41.0
    assert rows[3].historical_ltv == 600.0 and rows[3].rfm_segment == "champions"
    assert rows[3].scored_at == second
    assert rows[5].tier is None and rows[5].scored_at is None  # not scored, untouched
    assert [(c.contact_id, c.from_tier, c.to_tier) for c in changes] == [
        (1, None, "bronze"),
        (2, None, "silver"),
        (3, None, "gold"),
        (2, "silver", "gold"),
        (4, None, "silver"),
    ]


def test_a_contact_without_a_new_tier_keeps_the_old_one(sqlite_engine: Engine) -> None:
    _contacts(sqlite_engine, 1)
    at = datetime(2025, 6, 1, tzinfo=UTC)
    write_scores(sqlite_engine, pl.DataFrame({"contact_id": [1], "tier": ["gold"]}), at)
    later = at + timedelta(days=3)
    result = write_scores(
        sqlite_engine, pl.DataFrame({"contact_id": [1], "tier": [None], "engagement_score": [5.0]}), later
    )
    assert result.tier_changes == 0
    with sqlite_engine.connect() as conn:
        row = conn.execute(select(Contact.tier, Contact.tier_changed_at, Contact.engagement_score)).one()
    assert tuple(row) == ("gold", at, 5.0)
