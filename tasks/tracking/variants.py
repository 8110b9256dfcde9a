"""Opens, clicks and other tracked events carry the experiment variant their message was sent with.

The token in a tracking link names the campaign and the contact, not the variant; the ledger
knows which variant each (campaign, contact) got, so the flusher looks them up in one query per
flush and fills ``variant_id`` where it is empty.
"""

from __future__ import annotations

import polars as pl
from sqlalchemy import Engine

from aicmo.storage.db import transaction
from aicmo.storage.experiments import variants_of


def with_variants(engine: Engine, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (lake events) with ``variant_id`` filled from the send ledger where it is known."""
    if "variant_id" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias("variant_id"))
    keyed = frame.filter(
        pl.col("campaign_id").is_not_null()
        & pl.col("contact_id").is_not_null()
        & pl.col("variant_id").is_null()
    )
    if keyed.is_empty():
        return frame
    pairs = [(int(c), int(k)) for c, k in keyed.select("campaign_id", "contact_id").unique().iter_rows()]
    with transaction(engine) as session:
        found = variants_of(session, pairs)
    if not found:
        return frame
    lookup = pl.DataFrame(
        {
            "campaign_id": [c for c, _ in found],
            "contact_id": [k for _, k in found],
            "_variant": list(found.values()),
        },
        schema={"campaign_id": pl.Int64, "contact_id": pl.Int64, "_variant": pl.Int64},
    )
    return (
        frame.join(lookup, on=["campaign_id", "contact_id"], how="left")
        .with_columns(pl.coalesce("variant_id", "_variant").alias("variant_id"))
        .drop("_variant")
        .select(frame.columns)
    )
