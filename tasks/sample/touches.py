"""Touches outside owned campaigns (ads, search, social, referrals, direct) and the journeys they form.

A *source* is where a touch comes from: one per ad (its ads campaign, creative and UTM tags) and
one per organic source (``google / organic``, ``linkedin / social``, ...). Three kinds of touch
events are drawn, all of type ``click``:

- background visits that lead nowhere;
- journeys of 1-5 touches ending in a conversion, whose ``convert`` event carries the last
  touch's channel, campaign and UTM tags (last-click as the tracking pixel sees it);
- touches before a campaign conversion (an ad seen before the email was clicked),

so attribution has multi-touch paths to share credit over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from aicmo.models.lake import EVENT_TYPES
from aicmo.tasks.sample.params import GammaGammaParams
from aicmo.tasks.sample.plan import WEEKDAY_WEIGHTS
from aicmo.tasks.sample.purchases import US_PER_DAY

IntArray = npt.NDArray[np.int64]
US_PER_HOUR = 3_600_000_000
CLICK, CONVERT = EVENT_TYPES.index("click"), EVENT_TYPES.index("convert")

# (platform, campaign, utm_source, utm_medium, daily impressions per contact, ctr, cpc, cvr)
ADS_CAMPAIGNS = (
    ("google_ads", "Brand Search", "google", "cpc", 0.8, 0.045, 1.10, 0.050),
    ("google_ads", "Shopping", "google", "cpc", 1.6, 0.012, 0.65, 0.030),
    ("meta", "Prospecting", "facebook", "paid_social", 3.0, 0.010, 0.55, 0.015),
    ("meta", "Retargeting", "instagram", "paid_social", 1.2, 0.016, 0.80, 0.040),
    ("linkedin", "B2B Leads", "linkedin", "paid_social", 0.5, 0.006, 4.80, 0.020),
    ("tiktok", "Awareness", "tiktok", "paid_social", 2.5, 0.008, 0.35, 0.008),
)
AD_SETS = ("lookalike", "interests", "remarketing", "broad")
ADS_PER_SET = 2
ORGANIC_SOURCES = (  # (channel, utm_source, utm_medium, weight within channel)
    ("search", "google", "organic", 0.80),
    ("search", "bing", "organic", 0.15),
    ("search", "duckduckgo", "organic", 0.05),
    ("social", "facebook", "social", 0.30),
    ("social", "instagram", "social", 0.30),
    ("social", "linkedin", "social", 0.25),
    ("social", "x", "social", 0.15),
    ("organic", "blog", "referral", 0.50),
    ("organic", "partner-site", "referral", 0.30),
    ("organic", "review-site", "referral", 0.20),
    ("direct", None, None, 1.0),
)
CHANNEL_WEIGHTS = {"ads": 0.35, "search": 0.25, "social": 0.15, "organic": 0.10, "direct": 0.15}
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 7, 9, 9, 8, 8, 7, 7, 7, 7, 7, 8, 9, 9, 8, 5, 2)
JOURNEY_LENGTHS = (0.35, 0.30, 0.20, 0.10, 0.05)  # P(1 touch) .. P(5 touches)
BACKGROUND_TOUCHES_PER_CONTACT_DAY = 0.015
CONVERSIONS_PER_CONTACT_DAY = 0.0005
PRE_CAMPAIGN_TOUCH_SHARE = 0.4


def slug(text: str) -> str:
    """Lowercase, dash-separated, for UTM values."""
    return "-".join(text.lower().replace("&", "and").split())


@dataclass(frozen=True)
class AdsSetup:
    """The ads campaigns (one row each) and every ad (one row each, with its creative)."""

    campaigns: pl.DataFrame  # ads_idx, platform, name, utm_campaign, utm_source, utm_medium, ...
    ads: pl.DataFrame  # ads_idx, ad_set, ad, asset


def make_ads(rng: np.random.Generator, creative_names: list[str]) -> AdsSetup:
    """The ads campaigns, two ad sets each, two ads per set with a creative each."""
    rows, ads = [], []
    for k, (platform, name, source, medium, impressions, ctr, cpc, cvr) in enumerate(ADS_CAMPAIGNS):
        rows.append(
            {
                "ads_idx": k,
                "platform": platform,
                "name": f"ads {platform} {name}",
                "utm_campaign": f"{slug(platform)}-{slug(name)}",
                "utm_source": source,
                "utm_medium": medium,
                "impressions_per_contact": impressions,
                "ctr": ctr,
                "cpc": cpc,
                "cvr": cvr,
            }
        )
        sets = rng.choice(len(AD_SETS), size=2, replace=False)
        for s in sets:
            for _ in range(ADS_PER_SET):
                asset = int(rng.integers(0, len(creative_names)))
                ads.append(
                    {
                        "ads_idx": k,
                        "ad_set": f"{slug(name)}-{AD_SETS[int(s)]}",
                        "ad": creative_names[asset].rsplit(".", 1)[0],
                        "asset": asset,
                    }
                )
    ads_frame = pl.DataFrame(ads).unique(["ads_idx", "ad_set", "ad"], keep="first", maintain_order=True)
    return AdsSetup(campaigns=pl.DataFrame(rows), ads=ads_frame)


def touch_sources(ads: AdsSetup) -> pl.DataFrame:
    """Every touch source with its channel, UTM tags, ads campaign, creative and draw weight."""
    ad_rows = ads.ads.join(ads.campaigns, on="ads_idx", how="left", maintain_order="left").with_columns(
        pl.col("impressions_per_contact") * pl.col("ctr")
    )
    total = float(ad_rows["impressions_per_contact"].sum())
    ad_sources = ad_rows.select(
        pl.lit("ads").alias("channel"),
        "utm_source",
        "utm_medium",
        "utm_campaign",
        pl.col("ad").alias("utm_content"),
        pl.col("ads_idx").cast(pl.Int64),
        pl.col("asset").cast(pl.Int64),
        (pl.col("impressions_per_contact") / total * CHANNEL_WEIGHTS["ads"]).alias("weight"),
    )
    organic = pl.DataFrame(
        {
            "channel": [s[0] for s in ORGANIC_SOURCES],
            "utm_source": [s[1] for s in ORGANIC_SOURCES],
            "utm_medium": [s[2] for s in ORGANIC_SOURCES],
            "utm_campaign": [None] * len(ORGANIC_SOURCES),
            "utm_content": [None] * len(ORGANIC_SOURCES),
            "ads_idx": [None] * len(ORGANIC_SOURCES),
            "asset": [None] * len(ORGANIC_SOURCES),
            "weight": [s[3] * CHANNEL_WEIGHTS[s[0]] for s in ORGANIC_SOURCES],
        },
        schema=ad_sources.schema,
    )
    return (
        pl.concat([ad_sources, organic])
        .with_row_index("source")
        .with_columns(pl.col("source").cast(pl.Int64))
    )


def random_times(rng: np.random.Generator, n: int, start_us: int, days: int) -> IntArray:
    """``n`` timestamps in the window, days weighted by weekday and hours by a daily profile."""
    first_weekday = int(((start_us // US_PER_DAY) + 3) % 7)  # 1970-01-01 was a Thursday
    day_w = np.asarray([WEEKDAY_WEIGHTS[(first_weekday + d) % 7] for d in range(days)])
    day = rng.choice(days, size=n, p=day_w / day_w.sum())
    hour_w = np.asarray(HOUR_WEIGHTS, dtype=np.float64)
    hour = rng.choice(24, size=n, p=hour_w / hour_w.sum())
    return start_us + day * US_PER_DAY + hour * US_PER_HOUR + rng.integers(0, US_PER_HOUR, n)


def simulate_touches(
    rng: np.random.Generator,
    sources: pl.DataFrame,
    n_contacts: int,
    start_us: int,
    days: int,
    campaign_conversions: pl.DataFrame,
    gamma_gamma: GammaGammaParams,
) -> pl.DataFrame:
    """Touch and journey-conversion events: ``source, contact, type`` (EVENT_TYPES index), ``ts, revenue``.

    ``campaign_conversions`` (``contact``, ``ts``) get touches before them too.
    """
    weights = sources["weight"].to_numpy()
    p = weights / weights.sum()
    size = n_contacts * days

    n_bg = int(rng.poisson(BACKGROUND_TOUCHES_PER_CONTACT_DAY * size))
    background = pl.DataFrame(
        {
            "source": rng.choice(len(p), size=n_bg, p=p),
            "contact": rng.integers(0, n_contacts, n_bg),
            "ts": random_times(rng, n_bg, start_us, days),
        }
    )

    n_conv = int(rng.poisson(CONVERSIONS_PER_CONTACT_DAY * size))
    conv_contact = rng.integers(0, n_contacts, n_conv)
    conv_ts = random_times(rng, n_conv, start_us, days)
    length = rng.choice(len(JOURNEY_LENGTHS), size=n_conv, p=JOURNEY_LENGTHS) + 1
    owner = np.repeat(np.arange(n_conv), length)
    pos = np.arange(len(owner)) - np.repeat(np.cumsum(length) - length, length)  # 0 = last touch
    gap = np.where(
        pos == 0, rng.exponential(0.5 * US_PER_HOUR, len(owner)), rng.exponential(2 * US_PER_DAY, len(owner))
    )
    # A touch sits the sum of its journey's gaps up to it before the conversion.
    csum = np.cumsum(gap)
    first = np.cumsum(length) - length
    back = csum - np.repeat(csum[first] - gap[first], length)
    journey = pl.DataFrame(
        {
            "source": rng.choice(len(p), size=len(owner), p=p),
            "contact": conv_contact[owner],
            "ts": conv_ts[owner] - back.astype(np.int64),
            "pos": pos,
            "owner": owner,
        }
    )
    last_source = journey.filter(pl.col("pos") == 0).sort("owner")["source"].to_numpy()
    nu = rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.gamma, n_conv)
    conversions = pl.DataFrame(
        {
            "source": last_source,
            "contact": conv_contact,
            "ts": conv_ts,
            "revenue": np.round(rng.gamma(gamma_gamma.p, 1.0 / nu), 2),
        }
    ).with_columns(pl.lit(CONVERT).alias("type"))

    cc = campaign_conversions
    pre = cc.filter(pl.Series(rng.random(cc.height) < PRE_CAMPAIGN_TOUCH_SHARE))
    n_pre = pre.height
    pre_touches = pl.DataFrame(
        {
            "source": rng.choice(len(p), size=n_pre, p=p),
            "contact": pre["contact"].to_numpy(),
            "ts": pre["ts"].to_numpy()
            - (US_PER_HOUR + rng.exponential(2 * US_PER_DAY, n_pre)).astype(np.int64),
        }
    )
    touches = pl.concat(
        [background, journey.select("source", "contact", "ts"), pre_touches], how="vertical"
    ).with_columns(pl.lit(CLICK).alias("type"), pl.lit(None, dtype=pl.Float64).alias("revenue"))
    out = pl.concat([touches.select("source", "contact", "type", "ts", "revenue"),
                     conversions.select("source", "contact", "type", "ts", "revenue")])  # fmt: skip
    return out.filter(pl.col("ts") >= start_us).with_columns(
        pl.col("source").cast(pl.Int64),
        pl.col("contact").cast(pl.Int64),
        pl.col("ts").cast(pl.Int64),
        pl.col("type").cast(pl.Int8),
    )
