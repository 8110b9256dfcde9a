"""Owned-channel campaign events: send, deliver/bounce, open, click, convert, unsubscribe, complaint.

One row per (campaign, recipient) is drawn with every stage's outcome and time at once (numpy,
no loop over people), then unpivoted into one event per stage that happened. Stages nest: only
a delivery can be opened, only an open clicked (email, push; sms clicks follow delivery), only a
click converts. On the anomaly day email sends bounce ``BOUNCE_MULTIPLIER`` times as often. A
contact who unsubscribed or complained on a channel gets nothing more on it.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

from aicmo.models.lake import EVENT_TYPES
from aicmo.tasks.sample.params import GammaGammaParams
from aicmo.tasks.sample.plan import BOUNCE_MULTIPLIER, OWNED_CHANNELS, CampaignPlan
from aicmo.tasks.sample.purchases import US_PER_DAY, day_start_us

IntArray = npt.NDArray[np.int64]
US_PER_MIN = 60_000_000
US_PER_HOUR = 3_600_000_000
STAGES = EVENT_TYPES  # the funnel stages, in the order their codes use


def _lognormal_us(rng: np.random.Generator, median_us: float, sigma: float, n: int, cap_us: int) -> IntArray:
    return np.minimum(rng.lognormal(np.log(median_us), sigma, n), cap_us).astype(np.int64)


def draw_audiences(
    rng: np.random.Generator, plan: CampaignPlan, eligible: dict[str, IntArray]
) -> pl.DataFrame:
    """One row per send: ``camp`` (plan index) and ``contact`` (contact index), audiences without repeats."""
    camps, contacts = [], []
    for k in range(len(plan)):
        pool = eligible[OWNED_CHANNELS[int(plan.channel[k])]]
        size = min(len(pool), max(1, round(plan.share[k] * len(pool))))
        if size == 0:
            continue
        chosen = rng.choice(pool, size=size, replace=False) if size < len(pool) else pool
        camps.append(np.full(size, k, dtype=np.int64))
        contacts.append(np.sort(chosen).astype(np.int64))
    if not camps:
        return pl.DataFrame(schema={"camp": pl.Int64, "contact": pl.Int64})
    return pl.DataFrame({"camp": np.concatenate(camps), "contact": np.concatenate(contacts)})


def simulate_campaign_events(
    rng: np.random.Generator,
    plan: CampaignPlan,
    sends: pl.DataFrame,
    gamma_gamma: GammaGammaParams,
    end_us: int,
    bounce_multiplier: float = BOUNCE_MULTIPLIER,
) -> pl.DataFrame:
    """Every owned-channel event, as codes: ``camp, contact, ch`` (OWNED_CHANNELS index), ``type``
    (STAGES index), ``ts`` (microseconds), ``revenue`` (conversions only).

    Email sends on the plan's anomaly day bounce ``bounce_multiplier`` times as often (1 = no spike)."""
    camp = sends["camp"].to_numpy()
    n = len(camp)
    ch = plan.channel[camp]
    spread = np.where(ch == 1, 30 * US_PER_MIN, 120 * US_PER_MIN)
    send_ts = plan.send_us[camp] + (rng.random(n) * spread).astype(np.int64)

    deliver_p = plan.deliver[camp]
    on_anomaly = (ch == 0) & (send_ts // US_PER_DAY == day_start_us(plan.anomaly_day) // US_PER_DAY)
    deliver_p = np.where(on_anomaly, np.maximum(0.0, 1 - bounce_multiplier * (1 - deliver_p)), deliver_p)
    delivered = rng.random(n) < deliver_p
    deliver_ts = send_ts + _lognormal_us(rng, 4e6, 1.0, n, 10 * US_PER_MIN)

    has_open_stage = np.isin(ch, (0, 2))
    open_p = plan.open[camp]
    opened = delivered & has_open_stage & (rng.random(n) < open_p)
    open_ts = deliver_ts + _lognormal_us(rng, 3 * US_PER_HOUR, 1.3, n, 7 * US_PER_DAY)
    # Clicks are a share of deliveries; where opens exist, clickers are drawn among openers.
    click_given = np.where(has_open_stage, plan.click[camp] / np.maximum(open_p, 1e-9), plan.click[camp])
    clicked = np.where(has_open_stage, opened, delivered) & (rng.random(n) < np.minimum(click_given, 1.0))
    click_base = np.where(has_open_stage, open_ts, deliver_ts)
    click_ts = click_base + _lognormal_us(rng, 2 * US_PER_MIN, 1.2, n, 2 * US_PER_DAY)
    converted = clicked & (rng.random(n) < plan.convert[camp])
    convert_ts = click_ts + _lognormal_us(rng, 40 * US_PER_MIN, 1.5, n, 5 * US_PER_DAY)
    nu = rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.gamma, n)
    revenue = np.round(rng.gamma(gamma_gamma.p, 1.0 / nu), 2)
    unsubscribed = delivered & (rng.random(n) < plan.unsubscribe[camp])
    unsub_ts = deliver_ts + _lognormal_us(rng, 2 * US_PER_HOUR, 1.5, n, 7 * US_PER_DAY)
    complained = delivered & (rng.random(n) < plan.complaint[camp])
    complaint_ts = deliver_ts + _lognormal_us(rng, 6 * US_PER_HOUR, 1.2, n, 7 * US_PER_DAY)

    # Nothing more on a channel after a contact opted out of it there.
    contact = sends["contact"].to_numpy()
    opted = unsubscribed | complained
    out_ts = np.where(unsubscribed, unsub_ts, np.where(complained, complaint_ts, 0))
    first_out = (
        pl.DataFrame(
            {
                "contact": contact[opted],
                "ch": ch[opted],
                "out": np.where(unsubscribed & complained, np.minimum(unsub_ts, complaint_ts), out_ts)[opted],
            }
        )
        .group_by("contact", "ch")
        .agg(pl.col("out").min())
    )
    keep = (
        pl.DataFrame({"contact": contact, "ch": ch, "send": send_ts})
        .join(first_out, on=["contact", "ch"], how="left", maintain_order="left")
        .select(pl.col("out").is_null() | (pl.col("send") <= pl.col("out")))
        .to_series()
        .to_numpy()
    )
    stages = {
        "send": (np.ones(n, dtype=bool), send_ts),
        "deliver": (delivered, deliver_ts),
        "bounce": (~delivered, deliver_ts),
        "open": (opened, open_ts),
        "click": (clicked, click_ts),
        "convert": (converted, convert_ts),
        "unsubscribe": (unsubscribed, unsub_ts),
        "complaint": (complained, complaint_ts),
    }
    parts = []
    for code, (mask, ts) in enumerate(stages.values()):
        take = mask & keep & (ts < end_us)
        parts.append(
            pl.DataFrame(
                {
                    "camp": camp[take],
                    "contact": contact[take],
                    "ch": ch[take].astype(np.int8),
                    "type": np.full(int(take.sum()), code, dtype=np.int8),
                    "ts": ts[take],
                    "revenue": revenue[take]
                    if STAGES[code] == "convert"
                    else np.full(int(take.sum()), np.nan),
                }
            )
        )
    return pl.concat(parts).with_columns(pl.col("revenue").fill_nan(None))


def window_end_us(end: date) -> int:
    """Microseconds at the end of ``end`` (exclusive), UTC."""
    return day_start_us(end) + US_PER_DAY
