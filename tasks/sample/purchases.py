"""Order logs simulated from BG/NBD purchases and Gamma-Gamma spend, vectorized with numpy.

Each customer makes a first purchase at their acquisition time, then, while alive, buys as a
Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after each repeat purchase they drop out
for good with probability ``p ~ Beta(a, b)``. Every order's value is ``Gamma(p, nu)`` with the
customer's ``nu ~ Gamma(q, gamma)``. This is exactly the process the BG/NBD and Gamma-Gamma
models assume, so fitting them to the log should give the parameters back.

Vectorization: a customer who would make ``n ~ Poisson(lambda T)`` purchases in their window and
at most ``K ~ Geometric(p)`` before dropping out makes ``c = min(n, K)``; their times are the
first ``c`` order statistics of ``n`` uniforms on the window, drawn from exponential spacings
(``U_(k) = S_k / S_(n+1)``) without materializing the other ``n - c``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import hyp2f1

from aicmo.models.lake import ORDERS
from aicmo.tasks.sample.params import BgNbdParams, GammaGammaParams

US_PER_DAY = 86_400_000_000
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def day_start_us(day: date) -> int:
    """Microseconds since the epoch at 00:00 UTC of ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


@dataclass(frozen=True)
class SimulatedOrders:
    """The order log as arrays, plus each customer's drawn parameters (the hidden truth)."""

    contact_id: IntArray  # per order
    ts_us: IntArray  # per order
    amount: FloatArray  # per order
    seq: IntArray  # per order: 0 for the first purchase, 1.. for repeats
    lam: FloatArray  # per customer: purchase rate per day
    p_drop: FloatArray  # per customer
    nu: FloatArray  # per customer
    repeats: IntArray  # per customer: repeat purchases made


def simulate_order_arrays(
    rng: np.random.Generator,
    contact_ids: IntArray,
    first_purchase_us: IntArray,
    end_us: int,
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
) -> SimulatedOrders:
    """Simulate each customer's orders from their first purchase until ``end_us`` (exclusive).

    Orders come first purchases first, then repeats grouped by customer in time order; sort by
    time where that matters (the lake writes by day either way).
    """
    n = len(contact_ids)
    if np.any(first_purchase_us >= end_us):
        raise ValueError("every first purchase must happen before the end of the window")
    t_days = (end_us - first_purchase_us) / US_PER_DAY
    lam = rng.gamma(bgnbd.r, 1.0 / bgnbd.alpha, n)
    p_drop = np.clip(rng.beta(bgnbd.a, bgnbd.b, n), 1e-9, 1.0)
    nu = rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.gamma, n)
    would_buy = rng.poisson(lam * t_days)
    max_repeats = rng.geometric(p_drop)
    repeats = np.minimum(would_buy, max_repeats).astype(np.int64)

    # First c of n sorted uniforms: cumulative exponential spacings over the total of n + 1 spacings.
    total = int(repeats.sum())
    owner = np.repeat(np.arange(n), repeats)
    spacings = rng.exponential(1.0, total)
    csum = np.cumsum(spacings)
    ends = np.cumsum(repeats)
    starts = ends - repeats
    before = np.where(starts > 0, csum[np.maximum(starts - 1, 0)] if total else 0.0, 0.0)
    within = csum - np.repeat(before, repeats)
    rest = rng.gamma(np.maximum(would_buy - repeats + 1, 1).astype(np.float64), 1.0)
    grand = (within[ends - 1] if total else np.zeros(n)) * (repeats > 0) + rest
    frac = within / np.repeat(grand, repeats)
    repeat_ts = first_purchase_us[owner] + (frac * (end_us - first_purchase_us[owner])).astype(np.int64)
    repeat_ts = np.minimum(repeat_ts, end_us - 1)
    repeat_seq = np.arange(total) - np.repeat(starts, repeats) + 1

    cust = np.concatenate([np.arange(n), owner])
    ts = np.concatenate([first_purchase_us, repeat_ts])
    seq = np.concatenate([np.zeros(n, dtype=np.int64), repeat_seq])
    amount = np.round(rng.standard_gamma(gamma_gamma.p, len(cust)) / nu[cust], 2)
    return SimulatedOrders(
        contact_id=contact_ids[cust],
        ts_us=ts,
        amount=np.maximum(amount, 0.01),
        seq=seq,
        lam=lam,
        p_drop=p_drop,
        nu=nu,
        repeats=repeats,
    )


def orders_frame(sim: SimulatedOrders, *, currency: str = "USD", source: str = "shop") -> pl.DataFrame:
    """The simulated orders as a frame of the lake's ORDERS schema (order ids ``o<contact>-<n>``)."""
    df = pl.DataFrame(
        {
            "contact_id": sim.contact_id,
            "seq": sim.seq,
            "ts": sim.ts_us,
            "amount": sim.amount,
        }
    )
    return (
        df.sort("ts", "contact_id", "seq")
        .select(
            pl.format("o{}-{}", pl.col("contact_id"), pl.col("seq")).alias("order_id"),
            pl.col("contact_id"),
            pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            pl.col("amount"),
            pl.lit(currency).alias("currency"),
            pl.lit(source).alias("source"),
        )
        .cast(ORDERS)
    )


def simulate_bgnbd_orders(
    n_customers: int,
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    start: date,
    end: date,
    seed: int,
    *,
    first_contact_id: int = 1,
    all_start_at_start: bool = False,
) -> pl.DataFrame:
    """An order log (ORDERS schema) for ``n_customers`` with known BG/NBD and Gamma-Gamma parameters.

    Customers get ids ``first_contact_id ..`` and a first purchase uniformly in ``[start, end]``
    (or at 00:00 of ``start`` for all with ``all_start_at_start``); the window ends at the end of
    ``end`` (UTC). Deterministic in ``seed``.
    """
    if n_customers < 0:
        raise ValueError(f"n_customers must be >= 0, not {n_customers}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    rng = np.random.default_rng(seed)
    start_us = day_start_us(start)
    end_us = day_start_us(end + timedelta(days=1))
    if all_start_at_start:
        first = np.full(n_customers, start_us, dtype=np.int64)
    else:
        first = rng.integers(start_us, end_us, n_customers, dtype=np.int64)
    ids = np.arange(first_contact_id, first_contact_id + n_customers, dtype=np.int64)
    return orders_frame(simulate_order_arrays(rng, ids, first, end_us, bgnbd, gamma_gamma))


def expected_repeat_purchases(t: FloatArray | float, bgnbd: BgNbdParams) -> FloatArray:
    """BG/NBD closed form of E[X(t)], the expected repeat purchases in ``t`` days after the first.

    Fader, Hardie and Lee (2005), equation (7).
    """
    t_arr = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    z = t_arr / (alpha + t_arr)
    result = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t_arr)) ** r * hyp2f1(r, b, a + b - 1, z))
    return np.asarray(result, dtype=np.float64)
