"""Contact scores onto the SQL store in bulk, recording tier changes.

The current ``(id, tier, tier_changed_at)`` of the contacts is read, the scores joined to it
(which contacts change tier, and when), and the store updated in one transaction: every scored
contact by primary key, plus one ``tier_changes`` row per contact whose tier moved (the SQL is in
:mod:`aicmo.storage.analytics`). Scores of contact ids missing from the store are counted and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import Engine

from aicmo.storage.analytics import current_tiers, write_contact_scores

SCORE_COLUMNS = (
    "engagement_score",
    "historical_ltv",
    "predicted_ltv",
    "p_alive",
    "tier",
    "rfm_segment",
    "last_activity_at",
)


@dataclass(frozen=True)
class ScoreWrite:
    """What a write did."""

    updated: int
    tier_changes: int
    unknown_contacts: int

    def as_dict(self) -> dict[str, int]:
        """Plain values."""
        return {
            "updated": self.updated,
            "tier_changes": self.tier_changes,
            "unknown_contacts": self.unknown_contacts,
        }


def plan_changes(scores: pl.DataFrame, current: pl.DataFrame, scored_at: datetime) -> pl.DataFrame:
    """Scores joined to the store's current tiers, with ``tier_changed`` and the new ``tier_changed_at``.

    A null new tier keeps the old one (a contact with no purchases yet is not demoted to nothing).
    """
    at = pl.lit(scored_at).cast(pl.Datetime("us", "UTC"))
    joined = scores.join(current, on="contact_id", how="inner").with_columns(
        pl.coalesce("tier", "old_tier").alias("tier")
    )
    changed = pl.col("tier").is_not_null() & pl.col("tier").ne_missing(pl.col("old_tier"))
    return joined.with_columns(
        changed.alias("tier_changed"),
        pl.when(changed).then(at).otherwise(pl.col("old_tier_changed_at")).alias("tier_changed_at"),
    )


def write_scores(
    engine: Engine, scores: pl.DataFrame, scored_at: datetime, *, reason: str = "scoring run"
) -> ScoreWrite:
    """Update the score columns of every contact in ``scores`` and record tier changes, in one transaction.

    ``scores`` has ``contact_id`` and any of ``SCORE_COLUMNS``; a missing column is written as null
    except ``tier`` (kept). Returns counts of updated contacts, tier changes and unknown ids.
    """
    for col in SCORE_COLUMNS:
        if col not in scores.columns:
            scores = scores.with_columns(pl.lit(None).alias(col))
    scores = scores.select("contact_id", *SCORE_COLUMNS).unique("contact_id", keep="last")
    plan = plan_changes(scores, current_tiers(engine), scored_at)
    unknown = scores.height - plan.height

    rows = plan.select(
        pl.col("contact_id").alias("b_id"),
        *(pl.col(c).alias(f"b_{c}") for c in SCORE_COLUMNS),
        pl.col("tier_changed_at").alias("b_tier_changed_at"),
        pl.lit(scored_at).cast(pl.Datetime("us", "UTC")).alias("b_scored_at"),
    ).to_dicts()
    changes = (
        plan.filter("tier_changed")
        .select(
            "contact_id",
            pl.col("old_tier").alias("from_tier"),
            pl.col("tier").alias("to_tier"),
            pl.lit(reason).alias("reason"),
            pl.lit(scored_at).cast(pl.Datetime("us", "UTC")).alias("changed_at"),
        )
        .to_dicts()
    )
    write_contact_scores(engine, SCORE_COLUMNS, rows, changes)
    return ScoreWrite(updated=len(rows), tier_changes=len(changes), unknown_contacts=unknown)
