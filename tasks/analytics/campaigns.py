"""The campaigns analytics reports on: the known ids (events naming others are flagged) and their names."""

from __future__ import annotations

import polars as pl
from sqlalchemy import Engine

from aicmo.storage.campaigns import campaign_ids, campaign_names


def known_campaign_ids(engine: Engine) -> list[int]:
    """Every campaign id in the store, ascending."""
    return campaign_ids(engine)


def campaign_names_frame(engine: Engine) -> pl.DataFrame:
    """``campaign_id``/``campaign`` (name) of every campaign, to join onto KPI tables."""
    return pl.DataFrame(
        list(campaign_names(engine).items()),
        schema={"campaign_id": pl.Int64, "campaign": pl.String},
        orient="row",
    )
