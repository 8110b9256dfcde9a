"""The campaign plan: which campaigns run when, to how many people, at which funnel rates.

Owned channels (email, sms, push, webhook) get campaigns on days weighted by weekday (weekends
lower), with power-law audience sizes (a truncated Pareto share of the eligible contacts, most
small, a few to everyone). Each campaign's funnel rates are drawn from its channel's ranges
(:data:`FUNNELS`); a campaign's click rate rises with its creative's hidden quality. The plan also
places the two injected anomalies: a day whose email bounces spike and a campaign whose
tracking is broken (deliveries, but no opens or clicks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from aicmo.tasks.sample.params import FunnelRates

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OWNED_CHANNELS = ("email", "sms", "push", "webhook")
CAMPAIGNS_PER_DAY = {"email": 0.9, "sms": 0.15, "push": 0.25, "webhook": 0.1}
WEEKDAY_WEIGHTS = (1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.35)  # Monday .. Sunday
PARETO_ALPHA = 1.1
PARETO_MIN_SHARE = 0.03
BOUNCE_MULTIPLIER = 10.0
SEND_COST = {"email": 0.0008, "sms": 0.0079, "push": 0.0001, "webhook": 0.0}
THEMES = (
    "Spring Sale", "New Arrivals", "Free Shipping", "Last Chance", "Members Only", "Back in Stock",
    "Weekend Deal", "Product Update", "Webinar Invite", "Customer Stories", "Loyalty Rewards", "Win-back",
)  # fmt: skip

FUNNELS: dict[str, FunnelRates] = {
    # email: clickers are openers; conversions are a share of clicks (the usual click-to-order rate).
    "email": FunnelRates(
        deliver=(0.95, 0.98), open=(0.20, 0.40), click=(0.02, 0.05), convert=(0.01, 0.03),
        unsubscribe=(0.001, 0.005), complaint=(0.0001, 0.0005),
    ),
    # sms: no open tracking; clicks on the link in the text; STOP replies are unsubscribes.
    "sms": FunnelRates(
        deliver=(0.97, 0.995), open=None, click=(0.04, 0.09), convert=(0.01, 0.03),
        unsubscribe=(0.005, 0.015), complaint=(0.0, 0.0),
    ),
    # push: an open is a tap on the notification; clicks are taps through to a product page.
    "push": FunnelRates(
        deliver=(0.85, 0.95), open=(0.04, 0.10), click=(0.01, 0.03), convert=(0.01, 0.03),
        unsubscribe=(0.001, 0.005), complaint=(0.0, 0.0),
    ),
    # webhook: partner syncs; delivered or failed, nothing downstream.
    "webhook": FunnelRates(
        deliver=(0.98, 0.998), open=None, click=(0.0, 0.0), convert=(0.0, 0.0),
        unsubscribe=(0.0, 0.0), complaint=(0.0, 0.0),
    ),
}  # fmt: skip


@dataclass
class CampaignPlan:
    """One row per owned-channel campaign, as parallel arrays (index = campaign number)."""

    name: list[str]
    theme: list[str]
    channel: IntArray  # index into OWNED_CHANNELS
    send_day: list[date]
    send_us: IntArray  # campaign send start, microseconds since the epoch
    share: FloatArray  # share of the channel's eligible contacts in the audience
    asset: IntArray  # creative index, -1 for none
    deliver: FloatArray
    open: FloatArray
    click: FloatArray
    convert: FloatArray
    unsubscribe: FloatArray
    complaint: FloatArray
    broken: int  # index of the broken campaign
    anomaly_day: date

    def __len__(self) -> int:
        return len(self.name)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float] | None, n: int) -> FloatArray:
    if bounds is None:
        return np.zeros(n)
    return rng.uniform(bounds[0], bounds[1], n)


def pick_days(rng: np.random.Generator, days: list[date], n: int) -> list[date]:
    """``n`` days from ``days`` weighted by weekday."""
    w = np.asarray([WEEKDAY_WEIGHTS[d.weekday()] for d in days])
    idx = rng.choice(len(days), size=n, p=w / w.sum())
    return [days[i] for i in idx]


def plan_campaigns(
    rng: np.random.Generator,
    start: date,
    days: int,
    asset_quality: FloatArray,
    day_start_us: int,
) -> CampaignPlan:
    """Plan the owned-channel campaigns of ``days`` days from ``start``, with the anomalies placed."""
    window = [start + timedelta(days=i) for i in range(days)]
    counts = {ch: max(1, round(rate * days)) for ch, rate in CAMPAIGNS_PER_DAY.items()}
    counts["email"] = max(3, counts["email"])
    channel = np.concatenate([np.full(counts[ch], i) for i, ch in enumerate(OWNED_CHANNELS)]).astype(np.int64)
    n = len(channel)
    send_day = pick_days(rng, window, n)
    # Truncated Pareto share: most campaigns go to a few percent, a few to everyone; weekend ones smaller.
    share = np.minimum(1.0, PARETO_MIN_SHARE * rng.random(n) ** (-1.0 / PARETO_ALPHA))
    share *= np.asarray([min(1.0, WEEKDAY_WEIGHTS[d.weekday()]) for d in send_day])
    hour = rng.integers(8, 18, n)
    minute = rng.integers(0, 60, n)

    emails = np.flatnonzero(channel == 0)
    weekday_days = [
        d for d in window[days // 3 : max(days // 3 + 1, 2 * days // 3)] if d.weekday() < 5
    ] or window
    anomaly_day = weekday_days[int(rng.integers(0, len(weekday_days)))]
    anomaly_campaign, broken = int(emails[0]), int(emails[1])
    send_day[anomaly_campaign] = anomaly_day
    share[anomaly_campaign] = max(share[anomaly_campaign], 0.35)
    if send_day[broken] == anomaly_day:
        send_day[broken] = window[(window.index(anomaly_day) + 1) % len(window)]
    share[broken] = max(share[broken], 0.15)

    offsets = np.asarray([(d - start).days for d in send_day], dtype=np.int64)
    send_us = day_start_us + offsets * 86_400_000_000 + (hour * 3600 + minute * 60) * 1_000_000

    has_asset = np.isin(channel, (0, 2))
    asset = np.where(has_asset, rng.integers(0, len(asset_quality), n), -1)
    quality = np.where(asset >= 0, asset_quality[np.maximum(asset, 0)], rng.random(n))
    rates: dict[str, FloatArray] = {}
    for stage in ("deliver", "open", "click", "convert", "unsubscribe", "complaint"):
        rates[stage] = np.zeros(n)
        for i, ch in enumerate(OWNED_CHANNELS):
            mask = channel == i
            bounds = getattr(FUNNELS[ch], stage)
            if stage == "click" and bounds is not None:
                lo, hi = bounds
                pos = np.clip(0.7 * quality[mask] + 0.3 * rng.random(int(mask.sum())), 0, 1)
                rates[stage][mask] = lo + (hi - lo) * pos
            else:
                rates[stage][mask] = _uniform(rng, bounds, int(mask.sum()))
    for stage in ("open", "click", "convert"):
        rates[stage][broken] = 0.0

    theme_idx = rng.integers(0, len(THEMES), n)
    themes = [THEMES[i] for i in theme_idx]
    names = [
        f"{d.isoformat()} {OWNED_CHANNELS[c]} {t} #{k + 1:04d}"
        for k, (d, c, t) in enumerate(zip(send_day, channel, themes, strict=True))
    ]
    return CampaignPlan(
        name=names,
        theme=themes,
        channel=channel,
        send_day=send_day,
        send_us=send_us,
        share=share,
        asset=asset,
        deliver=rates["deliver"],
        open=rates["open"],
        click=rates["click"],
        convert=rates["convert"],
        unsubscribe=rates["unsubscribe"],
        complaint=rates["complaint"],
        broken=broken,
        anomaly_day=anomaly_day,
    )
