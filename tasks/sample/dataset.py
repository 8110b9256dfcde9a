"""``generate_dataset``: write a whole, deterministic sample dataset into the store and the lake.

Order of work: creatives (files), the purchase process (orders, which decide who is a customer),
companies and contacts (store), campaigns and assets (store), then the lake: campaign funnels and
other touches as ``events``, BG/NBD ``orders`` and daily ``ad_spend``, each day's rows
overwritten (so a rerun with the same arguments replaces, never duplicates). Each part
draws from its own random stream, ``default_rng([seed, part])``, so the same seed and arguments
give the same data.

Orders and conversions are two views, as in real life: ``orders`` is the shop's order log,
simulated from BG/NBD and Gamma-Gamma with the parameters recorded in the truth (so LTV models can
be checked against it); ``convert`` events are what tracking sees, at the end of campaign funnels
(1-3 % of clicks) and of non-campaign journeys, each with a Gamma-Gamma revenue. They are not
matched one to one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from aicmo import clock
from aicmo.errors import InputError
from aicmo.models.lake import EVENT_TYPES
from aicmo.storage.campaigns import upsert_campaigns
from aicmo.storage.crm import all_contact_ids_by_email, upsert_contacts
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.runs import record_partitions
from aicmo.storage.sample import add_asset_usage, upsert_assets, upsert_sample_companies
from aicmo.tasks.sample.adspend import simulate_ad_spend
from aicmo.tasks.sample.creatives import Creative, make_creatives
from aicmo.tasks.sample.eventlog import EventLog, build_event_log
from aicmo.tasks.sample.funnel import draw_audiences, simulate_campaign_events, window_end_us
from aicmo.tasks.sample.params import (
    BgNbdParams,
    CampaignTruth,
    DatasetSummary,
    GammaGammaParams,
    GroundTruth,
    NearDuplicate,
)
from aicmo.tasks.sample.people import ContactDraw, IntArray, make_companies, make_contacts
from aicmo.tasks.sample.plan import (
    BOUNCE_MULTIPLIER,
    FUNNELS,
    OWNED_CHANNELS,
    WEEKDAY_WEIGHTS,
    CampaignPlan,
    plan_campaigns,
)
from aicmo.tasks.sample.purchases import SimulatedOrders, day_start_us, simulate_order_arrays
from aicmo.tasks.sample.touches import AdsSetup, make_ads, simulate_touches, slug, touch_sources

ProgressFn = Callable[[str, int, int], None]

CUSTOMER_SHARE = 0.3
CONTACTS_PER_COMPANY = 25
CONTACT_BATCH = 20_000
LAKE_TABLES = ("events", "orders", "ad_spend")

# Independent random streams, one per part of the dataset.
_CREATIVES, _ORDERS, _COMPANIES, _CONTACTS, _PLAN, _SENDS, _FUNNEL, _TOUCHES, _ADS = range(9)


def _rng(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([seed, part])


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _validate(contacts: int, days: int, seed: int, bounce_multiplier: float) -> None:
    if contacts < 10:
        raise InputError(f"contacts: need at least 10, got {contacts}")
    if days < 7:
        raise InputError(f"days: need at least 7 (a week, for weekly seasonality), got {days}")
    if seed < 0:
        raise InputError(f"seed: must be >= 0, got {seed}")
    if bounce_multiplier < 1.0:
        raise InputError(f"bounce_multiplier: must be >= 1 (1 = no bounce spike), got {bounce_multiplier}")


class _Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._t, 3)
        self._t = now


def _upsert_companies(engine: Engine, companies: pl.DataFrame, start: date) -> pl.DataFrame:
    rows = companies.with_columns(pl.lit(_utc(start) - timedelta(days=730)).alias("created_at")).to_dicts()
    found = upsert_sample_companies(engine, rows)
    return pl.DataFrame(found, schema={"company_domain": pl.String, "company_id": pl.Int64}, orient="row")


def _upsert_contacts(engine: Engine, contacts: pl.DataFrame, progress: ProgressFn) -> np.ndarray[Any, Any]:
    """Upsert in batches (one transaction each); returns the store id of each contact, in order."""
    total = contacts.height
    done = 0
    progress("contacts", 0, total)
    for offset in range(0, total, CONTACT_BATCH):
        batch = contacts.slice(offset, CONTACT_BATCH).to_dicts()
        with transaction(engine) as session:
            upsert_contacts(session, batch)
        done += len(batch)
        progress("contacts", done, total)
    with transaction(engine) as session:
        found = list(all_contact_ids_by_email(session).items())
    ids = pl.DataFrame(found, schema={"email": pl.String, "id": pl.Int64}, orient="row")
    mapped = contacts.select("email").join(ids, on="email", how="left", maintain_order="left")["id"]
    if mapped.null_count():
        raise RuntimeError(
            f"{mapped.null_count()} generated contacts were not found in the store after upsert"
        )
    return mapped.to_numpy()


def _upsert_assets(engine: Engine, creatives: list[Creative], start: date) -> list[int]:
    rows = [
        {
            "sha256": c.sha256,
            "phash": c.phash,
            "name": c.name,
            "path": str(c.path),
            "mime_type": c.mime_type,
            "width": c.width,
            "height": c.height,
            "size_bytes": c.size_bytes,
            "status": "approved",
            "created_at": _utc(start) - timedelta(days=14),
        }
        for c in creatives
    ]
    ids = upsert_assets(engine, rows)
    return [ids[c.sha256] for c in creatives]


def _campaign_rows(plan: CampaignPlan, ads: AdsSetup, start: date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k in range(len(plan)):
        channel = OWNED_CHANNELS[int(plan.channel[k])]
        theme = plan.theme[k]
        rows.append(
            {
                "name": plan.name[k],
                "channel": channel,
                "channels": [channel],
                "status": "sent",
                "subject": f"{theme}: picked for you" if channel == "email" else None,
                "body": f"{theme}. See what is new this week.",
                "utm_campaign": f"{slug(theme)}-{plan.send_day[k]:%Y%m%d}-{k + 1}",
                "budget": None,
                "starts_on": plan.send_day[k],
                "ends_on": plan.send_day[k],
                "created_at": _utc(plan.send_day[k]) - timedelta(days=3),
            }
        )
    for row in ads.campaigns.iter_rows(named=True):
        rows.append(
            {
                "name": row["name"],
                "channel": "ads",
                "channels": ["ads"],
                "status": "active",
                "subject": None,
                "body": None,
                "utm_campaign": row["utm_campaign"],
                "budget": None,
                "starts_on": start,
                "ends_on": None,
                "created_at": _utc(start) - timedelta(days=7),
            }
        )
    return rows


def _write_lake(
    engine: Engine,
    lake: Lake,
    table: str,
    df: pl.DataFrame,
    window: list[date],
    progress: ProgressFn,
) -> dict[date, int]:
    """Overwrite the table's day partitions in the window; days without rows lose their partition."""
    total = len(window)
    done = 0
    progress(f"lake {table}", 0, total)

    def on_partition(_dt: date, _rows: int) -> None:
        nonlocal done
        done += 1
        progress(f"lake {table}", done, total)

    written = lake.write(table, df, mode="overwrite", on_partition=on_partition)
    present = set(lake.partitions(table))
    lake.drop_days(table, [day for day in window if day not in written and day in present])
    progress(f"lake {table}", total, total)
    with transaction(engine) as session:
        record_partitions(session, table, written)
    return written


def _write_event_days(
    engine: Engine, lake: Lake, events: EventLog, window: list[date], progress: ProgressFn
) -> dict[date, int]:
    """Overwrite each window day's events partition (one day in memory at a time)."""
    written: dict[date, int] = {}
    progress("lake events", 0, len(window))
    for done, (day, rows) in enumerate(events.days(window), start=1):
        if rows.height:
            written[day] = lake.write_partition("events", day, rows, mode="overwrite")
        else:
            lake.drop_partition("events", day)
        progress("lake events", done, len(window))
    with transaction(engine) as session:
        record_partitions(session, "events", written)
    return written


def _lookup(col: str, values: np.ndarray[Any, Any]) -> pl.Expr:
    """``values[col]`` for a small lookup table (null stays null)."""
    return pl.col(col).replace_strict(
        list(range(len(values))), [int(v) for v in values], default=None, return_dtype=pl.Int64
    )


def _ts(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def generate_dataset(
    engine: Engine,
    lake: Lake,
    *,
    contacts: int = 5000,
    days: int = 90,
    seed: int = 7,
    end: date | None = None,
    assets_dir: Path,
    progress: ProgressFn | None = None,
    bgnbd: BgNbdParams | None = None,
    gamma_gamma: GammaGammaParams | None = None,
    bounce_multiplier: float = BOUNCE_MULTIPLIER,
) -> DatasetSummary:
    """Generate ``contacts`` contacts and ``days`` days of activity ending ``end`` (default: yesterday, UTC).

    Writes companies, contacts, campaigns, assets and asset usage into the store (upserts), creative
    files into ``assets_dir``, the ``events``, ``orders`` and ``ad_spend`` day partitions of the
    window into the lake (overwritten), and the ground truth to ``assets_dir/../truth.json``.
    Email bounces on the truth's anomaly day are ``bounce_multiplier`` times the usual (1 = no
    spike, for measuring an anomaly detector's false alarms); the broken campaign is always there.
    """
    _validate(contacts, days, seed, bounce_multiplier)
    end = end or (clock.today() - timedelta(days=1))
    run = _Run(
        seed=seed,
        contacts=contacts,
        start=end - timedelta(days=days - 1),
        end=end,
        days=days,
        report=progress or (lambda _stage, _done, _total: None),
        bgnbd=bgnbd or BgNbdParams(),
        gamma_gamma=gamma_gamma or GammaGammaParams(),
    )

    # Creatives: real image files, with a hidden quality each.
    run.report("assets", 0, 1)
    creatives = make_creatives(_rng(seed, _CREATIVES), Path(assets_dir))
    quality = np.asarray([c.quality for c in creatives])
    run.report("assets", 1, 1)
    run.stopwatch.lap("creatives")

    purchases = _simulate_purchases(run)
    companies, draw, contact_ids = _store_people(engine, run, purchases)
    campaigns = _store_campaigns(engine, run, creatives, quality)
    events, sends = _simulate_events(run, draw, campaigns, creatives, contact_ids, bounce_multiplier)

    partitions: dict[str, int] = {}
    partitions["events"] = len(_write_event_days(engine, lake, events, run.window, run.report))
    run.stopwatch.lap("lake events")
    orders = _orders_frame(contact_ids, purchases.sim)
    partitions["orders"] = len(_write_lake(engine, lake, "orders", orders, run.window, run.report))
    ad_spend = simulate_ad_spend(
        _rng(seed, _ADS + 100), campaigns.ads, quality, contacts, run.start, days, run.gamma_gamma
    )
    ad_spend = ad_spend.with_columns(_lookup("ads_idx", campaigns.ads_ids).alias("campaign_id")).drop(
        "ads_idx"
    )
    partitions["ad_spend"] = len(_write_lake(engine, lake, "ad_spend", ad_spend, run.window, run.report))
    run.stopwatch.lap("lake orders and ad_spend")

    truth = _truth(
        seed, run.start, end, contacts, run.bgnbd, run.gamma_gamma, campaigns.plan, campaigns.owned_ids,
        campaigns.asset_ids, creatives, events, sends, purchases.customers, orders, bounce_multiplier,
    )  # fmt: skip
    return DatasetSummary(
        seed=seed,
        start=run.start,
        end=end,
        days=days,
        contacts=contacts,
        companies=companies.height,
        campaigns=len(campaigns.plan) + campaigns.ads.campaigns.height,
        assets=len(creatives),
        events=events.height,
        events_by_type={str(k): int(v) for k, v in events.counts_by_type().items()},
        orders=orders.height,
        ad_spend_rows=ad_spend.height,
        partitions=partitions,
        truth_path=str(truth.write(Path(assets_dir).parent / "truth.json")),
        assets_dir=str(Path(assets_dir).resolve()),
        seconds=run.stopwatch.seconds,
        truth=truth,
    )


@dataclass
class _Run:
    """What every step of one generation shares: the seed, the window, progress and timings."""

    seed: int
    contacts: int
    start: date
    end: date
    days: int
    report: ProgressFn
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    stopwatch: _Stopwatch = field(default_factory=lambda: _Stopwatch())

    @property
    def window(self) -> list[date]:
        """Every day of the window, in order."""
        return [self.start + timedelta(days=i) for i in range(self.days)]

    @property
    def start_us(self) -> int:
        return day_start_us(self.start)

    @property
    def end_us(self) -> int:
        return window_end_us(self.end)


@dataclass(frozen=True)
class _Purchases:
    """Who buys (contact indexes), their first purchase and every simulated order."""

    customers: IntArray
    sim: SimulatedOrders
    first_order_us: IntArray
    order_counts: IntArray


def _simulate_purchases(run: _Run) -> _Purchases:
    """Purchases: who buys, when, how much (BG/NBD + Gamma-Gamma)."""
    run.report("orders", 0, 1)
    rng = _rng(run.seed, _ORDERS)
    n = run.contacts
    customers = np.sort(rng.choice(n, size=max(1, round(CUSTOMER_SHARE * n)), replace=False))
    first_purchase = rng.integers(run.start_us, run.end_us, len(customers), dtype=np.int64)
    sim = simulate_order_arrays(
        rng, customers.astype(np.int64), first_purchase, run.end_us, run.bgnbd, run.gamma_gamma
    )
    first_order_us = np.full(n, -1, dtype=np.int64)
    first_order_us[customers] = first_purchase
    order_counts = np.bincount(sim.contact_id, minlength=n).astype(np.int64)
    run.report("orders", 1, 1)
    run.stopwatch.lap("orders")
    return _Purchases(customers, sim, first_order_us, order_counts)


def _store_people(
    engine: Engine, run: _Run, purchases: _Purchases
) -> tuple[pl.DataFrame, ContactDraw, np.ndarray[Any, Any]]:
    """Companies and contacts drawn and upserted; returns them and each contact's store id."""
    run.report("contacts", 0, run.contacts)
    companies = make_companies(_rng(run.seed, _COMPANIES), max(5, run.contacts // CONTACTS_PER_COMPANY))
    draw = make_contacts(
        _rng(run.seed, _CONTACTS),
        run.contacts,
        companies,
        end_us=run.end_us,
        first_order_us=purchases.first_order_us,
        order_counts=purchases.order_counts,
    )
    run.stopwatch.lap("people")
    company_ids = _upsert_companies(engine, companies, run.start)
    contact_rows = draw.frame.join(company_ids, on="company_domain", how="left", maintain_order="left").drop(
        "company_domain"
    )
    contact_ids = _upsert_contacts(engine, contact_rows, run.report)
    run.stopwatch.lap("store contacts")
    return companies, draw, contact_ids


@dataclass(frozen=True)
class _Campaigns:
    """The planned owned-channel campaigns and ad campaigns, with their store ids and the assets'."""

    plan: CampaignPlan
    ads: AdsSetup
    rows: list[dict[str, Any]]
    owned_ids: IntArray
    ads_ids: IntArray
    asset_ids: IntArray


def _store_campaigns(engine: Engine, run: _Run, creatives: list[Creative], quality: Any) -> _Campaigns:
    """Campaigns and assets planned and upserted, with which campaign uses which asset where."""
    plan = plan_campaigns(_rng(run.seed, _PLAN), run.start, run.days, quality, run.start_us)
    ads = make_ads(_rng(run.seed, _ADS), [c.name for c in creatives])
    asset_ids = np.asarray(_upsert_assets(engine, creatives, run.start), dtype=np.int64)
    total = len(plan) + ads.campaigns.height
    run.report("campaigns", 0, total)
    start = run.start
    with transaction(engine) as session:
        campaign_rows = _campaign_rows(plan, ads, start)
        campaign_ids = upsert_campaigns(session, campaign_rows)
        owned_ids = np.asarray([campaign_ids[n] for n in plan.name], dtype=np.int64)
        ads_ids = np.asarray([campaign_ids[n] for n in ads.campaigns["name"]], dtype=np.int64)
        usage = [
            {"asset_id": int(asset_ids[plan.asset[k]]), "campaign_id": int(owned_ids[k]),
             "channel": OWNED_CHANNELS[int(plan.channel[k])], "created_at": _utc(plan.send_day[k])}
            for k in range(len(plan)) if plan.asset[k] >= 0
        ] + [
            {"asset_id": int(asset_ids[a]), "campaign_id": int(ads_ids[i]), "channel": "ads", "created_at": _utc(start)}
            for i, a in ads.ads.select("ads_idx", "asset").unique().sort("ads_idx", "asset").iter_rows()
        ]  # fmt: skip
        add_asset_usage(session, usage)
    run.report("campaigns", total, total)
    run.stopwatch.lap("store campaigns")
    return _Campaigns(plan, ads, campaign_rows, owned_ids, ads_ids, asset_ids)


def _simulate_events(
    run: _Run,
    draw: ContactDraw,
    campaigns: _Campaigns,
    creatives: list[Creative],
    contact_ids: np.ndarray[Any, Any],
    bounce_multiplier: float,
) -> tuple[EventLog, Any]:
    """Events: owned-channel funnels, then touches and journeys; returns the log and the sends."""
    run.report("events", 0, 3)
    plan, ads = campaigns.plan, campaigns.ads
    eligible = {
        "email": np.flatnonzero(draw.email_ok),
        "sms": np.flatnonzero(draw.sms_ok),
        "push": np.flatnonzero(draw.push_ok),
        "webhook": np.arange(run.contacts),
    }
    sends = draw_audiences(_rng(run.seed, _SENDS), plan, eligible)
    campaign_events = simulate_campaign_events(
        _rng(run.seed, _FUNNEL), plan, sends, run.gamma_gamma, run.end_us, bounce_multiplier
    )
    run.report("events", 1, 3)
    sources = touch_sources(ads)
    touch_events = simulate_touches(
        _rng(run.seed, _TOUCHES),
        sources,
        run.contacts,
        run.start_us,
        run.days,
        campaign_events.filter(pl.col("type") == EVENT_TYPES.index("convert")).select("contact", "ts"),
        run.gamma_gamma,
    ).filter(pl.col("ts") < run.end_us)
    run.report("events", 2, 3)
    events = build_event_log(
        campaign_events,
        touch_events,
        plan,
        sources,
        [row["utm_campaign"] for row in campaigns.rows[: len(plan)]],
        [c.name.rsplit(".", 1)[0] for c in creatives],
        campaigns.owned_ids.tolist(),
        campaigns.ads_ids.tolist(),
        campaigns.asset_ids.tolist(),
        contact_ids,
        run.seed,
    )
    del campaign_events, touch_events
    run.report("events", 3, 3)
    run.stopwatch.lap("simulate events")
    return events, sends


def _orders_frame(contact_ids: np.ndarray[Any, Any], sim: SimulatedOrders) -> pl.DataFrame:
    """The simulated orders as lake rows, keyed by store contact id."""
    return (
        pl.DataFrame(
            {"contact_id": contact_ids[sim.contact_id], "seq": sim.seq, "ts": sim.ts_us, "amount": sim.amount}
        )
        .sort("ts", "contact_id", "seq")
        .select(
            pl.format("o{}-{}", "contact_id", "seq").alias("order_id"),
            "contact_id",
            _ts("ts"),
            "amount",
            pl.lit("USD").alias("currency"),
            pl.lit("shop").alias("source"),
        )
    )


def _truth(
    seed: int,
    start: date,
    end: date,
    contacts: int,
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    plan: CampaignPlan,
    owned_ids: np.ndarray[Any, Any],
    asset_ids: np.ndarray[Any, Any],
    creatives: list[Creative],
    events: EventLog,
    sends: pl.DataFrame,
    customers: np.ndarray[Any, Any],
    orders: pl.DataFrame,
    bounce_multiplier: float,
) -> GroundTruth:
    audience = (
        np.bincount(sends["camp"].to_numpy(), minlength=len(plan)) if sends.height else np.zeros(len(plan))
    )
    daily = events.daily_count("email", "bounce")
    anomaly = int(daily.get(plan.anomaly_day, 0))
    others = [int(v) for d, v in daily.items() if d != plan.anomaly_day]
    by_name = {c.name: i for i, c in enumerate(creatives)}
    by_type = events.counts_by_type()
    return GroundTruth(
        seed=seed,
        start=start,
        end=end,
        contacts=contacts,
        bgnbd=bgnbd,
        gamma_gamma=gamma_gamma,
        funnel_rates=FUNNELS,
        weekday_weights=list(WEEKDAY_WEIGHTS),
        anomaly_day=plan.anomaly_day,
        bounce_multiplier=bounce_multiplier,
        anomaly_day_bounces=anomaly,
        median_daily_bounces=float(np.median(others)) if others else 0.0,
        broken_campaign_id=int(owned_ids[plan.broken]),
        broken_campaign_name=plan.name[plan.broken],
        campaigns=[
            CampaignTruth(
                campaign_id=int(owned_ids[k]),
                name=plan.name[k],
                channel=OWNED_CHANNELS[int(plan.channel[k])],
                audience=int(audience[k]),
                send_day=plan.send_day[k],
                asset_id=int(asset_ids[plan.asset[k]]) if plan.asset[k] >= 0 else None,
                deliver_rate=round(float(plan.deliver[k]), 5),
                open_rate=round(float(plan.open[k]), 5),
                click_rate=round(float(plan.click[k]), 5),
                convert_rate=round(float(plan.convert[k]), 5),
            )
            for k in range(len(plan))
        ],
        asset_quality={int(asset_ids[i]): c.quality for i, c in enumerate(creatives)},
        near_duplicates=[
            NearDuplicate(
                original_asset_id=int(asset_ids[by_name[c.original]]),
                duplicate_asset_id=int(asset_ids[i]),
                transform=c.transform or "",
            )
            for i, c in enumerate(creatives)
            if c.original is not None
        ],
        customers=len(customers),
        counts={
            "events": events.height,
            "orders": orders.height,
            "sends": int(sends.height),
            **{f"events_{k}": int(v) for k, v in by_type.items()},
        },
    )
