"""Daily ad-platform reports: one row per day and ad with impressions, clicks, spend and conversions.

Impressions follow the weekday profile with day-to-day noise; each ad's click-through rate rises
with its creative's hidden quality; spend is clicks times a noisy cost per click; conversions are
a share of clicks and their value a sum of Gamma-Gamma order values.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from aicmo.tasks.sample.params import GammaGammaParams
from aicmo.tasks.sample.plan import WEEKDAY_WEIGHTS
from aicmo.tasks.sample.touches import AdsSetup

FloatArray = npt.NDArray[np.float64]


def simulate_ad_spend(
    rng: np.random.Generator,
    ads: AdsSetup,
    asset_quality: FloatArray,
    n_contacts: int,
    start: date,
    days: int,
    gamma_gamma: GammaGammaParams,
) -> pl.DataFrame:
    """The AD_SPEND rows of every ad on every day (``campaign_id`` filled in later from ``ads_idx``)."""
    table = ads.ads.join(ads.campaigns, on="ads_idx", how="left", maintain_order="left")
    n_ads = table.height
    per_campaign = table.group_by("ads_idx").len().rename({"len": "ads_in_campaign"})
    table = table.join(per_campaign, on="ads_idx", how="left", maintain_order="left")
    quality = asset_quality[table["asset"].to_numpy()]
    base = (
        table["impressions_per_contact"].to_numpy()
        * max(n_contacts, 1000)
        / table["ads_in_campaign"].to_numpy()
        * rng.lognormal(0, 0.4, n_ads)
    )
    ctr = table["ctr"].to_numpy() * (0.6 + 0.8 * quality)
    cpc = table["cpc"].to_numpy()
    cvr = table["cvr"].to_numpy()

    day = np.repeat(np.arange(days), n_ads)
    ad = np.tile(np.arange(n_ads), days)
    weekday = np.asarray([WEEKDAY_WEIGHTS[(start + timedelta(days=int(d))).weekday()] for d in range(days)])
    impressions = rng.poisson(base[ad] * weekday[day] * rng.lognormal(0, 0.15, len(ad)))
    clicks = rng.binomial(impressions, np.minimum(ctr[ad], 1.0))
    spend = np.round(clicks * cpc[ad] * rng.lognormal(0, 0.1, len(ad)), 2)
    conversions = rng.binomial(clicks, cvr[ad])
    value = np.where(
        conversions > 0,
        rng.gamma(np.maximum(conversions, 1) * gamma_gamma.p, gamma_gamma.mean_order_value / gamma_gamma.p),
        0.0,
    )
    dates = pl.Series([start + timedelta(days=int(d)) for d in range(days)], dtype=pl.Date).gather(day)
    return pl.DataFrame(
        {
            "date": dates,
            "platform": table["platform"].gather(ad),
            "ads_idx": table["ads_idx"].gather(ad).cast(pl.Int64),
            "campaign": table["name"].gather(ad),
            "ad_set": table["ad_set"].gather(ad),
            "ad": table["ad"].gather(ad),
            "impressions": impressions.astype(np.int64),
            "clicks": clicks.astype(np.int64),
            "spend": spend,
            "conversions": conversions.astype(np.int64),
            "conversion_value": np.round(value, 2),
        }
    )
