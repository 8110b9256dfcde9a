"""The generated dataset: realistic funnels, seasonality, anomalies where the truth says, valid tables."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import imagehash
import polars as pl
from PIL import Image
from sqlalchemy import func, select

from aicmo import clock
from aicmo.models.crm import Company, Contact
from aicmo.models.lake import TABLES
from aicmo.models.media import Asset, AssetUsage
from aicmo.models.publishing import Campaign
from aicmo.tasks.sample import GroundTruth
from tests.fixed_days import OTHER_FAKE_TODAY, SAMPLE_DATASET, assert_same_data, snapshot
from tests.sample.conftest import Generated, generate_into


def _events(gen: Generated) -> pl.DataFrame:
    return gen.lake.scan("events").collect()


def _stage_counts(events: pl.DataFrame) -> pl.DataFrame:
    """Per owned-channel campaign: count of each event type (0 when absent)."""
    return (
        events.filter(pl.col("channel").is_in(["email", "sms", "push", "webhook"]))
        .group_by("campaign_id", "channel")
        .agg(
            pl.col("type").eq(t).sum().alias(t)
            for t in ("send", "deliver", "bounce", "open", "click", "convert")
        )
    )


def test_every_lake_table_conforms_to_its_schema(dataset: Generated) -> None:
    for name in ("events", "orders", "ad_spend"):
        spec = TABLES[name]
        assert dataset.lake.partitions(name), name
        for dt in dataset.lake.partitions(name):
            raw = pl.read_parquet(dataset.lake.partition_path(name, dt))
            assert raw.schema == spec.schema, (name, dt)
            assert raw.select(spec.key).is_duplicated().sum() == 0
        frame = dataset.lake.scan(name).collect()
        assert frame.height > 0
    summary = dataset.summary
    assert dataset.lake.scan("events").select(pl.len()).collect().item() == summary.events
    assert dataset.lake.scan("orders").select(pl.len()).collect().item() == summary.orders
    days = (summary.end - summary.start).days + 1
    assert days == summary.days == len(dataset.lake.partitions("events"))


def test_ids_in_the_lake_point_at_rows_in_the_store(dataset: Generated) -> None:
    events = _events(dataset)
    orders = dataset.lake.scan("orders").collect()
    ad_spend = dataset.lake.scan("ad_spend").collect()
    with dataset.engine.connect() as conn:
        contact_ids = set(conn.scalars(select(Contact.id)))
        campaigns = {i: ch for i, ch in conn.execute(select(Campaign.id, Campaign.channel)).all()}
        asset_ids = set(conn.scalars(select(Asset.id)))
        n_companies = conn.scalar(select(func.count()).select_from(Company))
        n_usage = conn.scalar(select(func.count()).select_from(AssetUsage))
    assert len(contact_ids) == dataset.summary.contacts
    assert n_companies == dataset.summary.companies
    assert n_usage and n_usage > 0
    assert set(events["contact_id"].unique()) <= contact_ids
    assert set(orders["contact_id"].unique()) <= contact_ids
    assert set(events["campaign_id"].drop_nulls().unique()) <= set(campaigns)
    assert set(ad_spend["campaign_id"].unique()) <= {i for i, ch in campaigns.items() if ch == "ads"}
    assert set(events["asset_id"].drop_nulls().unique()) <= asset_ids
    # Every kind of channel shows up, and ads touches carry an ads campaign and UTM tags.
    assert set(events["channel"].unique()) >= {"email", "sms", "push", "webhook", "ads", "search", "social"}
    ads = events.filter(pl.col("channel") == "ads")
    assert ads["campaign_id"].null_count() == 0 and ads["utm_campaign"].null_count() == 0
    organic = events.filter(pl.col("channel").is_in(["search", "social", "organic", "direct"]))
    assert organic["campaign_id"].null_count() == organic.height
    # Conversions carry revenue, sends carry cost, nothing else does.
    assert events.filter(pl.col("type") == "convert")["revenue"].null_count() == 0
    assert (
        events.filter(pl.col("type") != "convert")["revenue"].null_count()
        == events.filter(pl.col("type") != "convert").height
    )


def test_email_funnel_rates_are_in_the_documented_ranges(dataset: Generated) -> None:
    truth = dataset.summary.truth
    events = _events(dataset)
    late = truth.end - timedelta(days=7)  # opens and clicks of the last week's sends are partly after the end
    normal = [c.campaign_id for c in truth.campaigns if c.channel == "email" and c.send_day <= late]
    normal = [c for c in normal if c != truth.broken_campaign_id]
    anomaly_sends = events.filter(
        (pl.col("channel") == "email") & (pl.col("ts").dt.date() == truth.anomaly_day)
    )["campaign_id"].unique()
    counts = _stage_counts(events).filter(pl.col("campaign_id").is_in(normal))
    clean = counts.filter(~pl.col("campaign_id").is_in(anomaly_sends.to_list()))
    total = clean.select(pl.all().exclude("campaign_id", "channel").sum()).row(0, named=True)
    ranges = truth.funnel_rates["email"]
    assert ranges.deliver[0] <= total["deliver"] / total["send"] <= ranges.deliver[1]
    everything = counts.select(pl.all().exclude("campaign_id", "channel").sum()).row(0, named=True)
    assert ranges.open is not None
    assert ranges.open[0] <= everything["open"] / everything["deliver"] <= ranges.open[1]
    assert ranges.click[0] <= everything["click"] / everything["deliver"] <= ranges.click[1]
    # Conversions are a share of clicks; allow three binomial standard errors around the range.
    rate = everything["convert"] / everything["click"]
    se = (0.02 * 0.98 / everything["click"]) ** 0.5
    assert ranges.convert[0] - 3 * se <= rate <= ranges.convert[1] + 3 * se
    # Each big campaign's realized open rate is its drawn one, within sampling error.
    drawn = {c.campaign_id: c for c in truth.campaigns}
    for row in counts.filter(pl.col("deliver") >= 1000).iter_rows(named=True):
        want = drawn[row["campaign_id"]].open_rate
        got = row["open"] / row["deliver"]
        assert abs(got - want) <= 4 * (want * (1 - want) / row["deliver"]) ** 0.5 + 0.01, row


def test_other_channels_follow_their_funnels(dataset: Generated) -> None:
    truth = dataset.summary.truth
    counts = _stage_counts(_events(dataset))
    for channel in ("sms", "push", "webhook"):
        rows = counts.filter(pl.col("channel") == channel)
        total = rows.select(pl.all().exclude("campaign_id", "channel").sum()).row(0, named=True)
        ranges = truth.funnel_rates[channel]
        assert total["send"] > 0, channel
        assert ranges.deliver[0] - 0.01 <= total["deliver"] / total["send"] <= ranges.deliver[1] + 0.01, (
            channel
        )
        assert total["deliver"] + total["bounce"] == total["send"], channel
        if ranges.open is None:
            assert total["open"] == 0, channel
        if ranges.click[1] == 0:
            assert total["click"] == 0 and total["convert"] == 0, channel


def test_stages_nest_and_follow_each_other_in_time(dataset: Generated) -> None:
    events = _events(dataset).filter(pl.col("channel") == "email")
    first = events.group_by("campaign_id", "contact_id").agg(
        pl.col("ts").filter(pl.col("type") == t).min().alias(t) for t in ("send", "deliver", "open", "click")
    )
    assert first.filter(pl.col("open").is_not_null() & pl.col("deliver").is_null()).height == 0
    assert first.filter(pl.col("click").is_not_null() & pl.col("open").is_null()).height == 0
    assert first.filter(pl.col("deliver") < pl.col("send")).height == 0
    assert first.filter(pl.col("open") < pl.col("deliver")).height == 0
    assert first.filter(pl.col("click") < pl.col("open")).height == 0


def test_weekends_are_quieter(dataset: Generated) -> None:
    daily = (
        _events(dataset)
        .filter(pl.col("type") == "send")
        .group_by(pl.col("ts").dt.date().alias("day"))
        .len()
        .with_columns(pl.col("day").dt.weekday().ge(6).alias("weekend"))
    )
    means = dict(daily.group_by("weekend").agg(pl.col("len").mean()).iter_rows())
    assert means[True] < 0.7 * means[False]
    touches = (
        _events(dataset)
        .filter(pl.col("channel").is_in(["ads", "search", "social", "organic", "direct"]))
        .group_by(pl.col("ts").dt.date().alias("day"))
        .len()
        .with_columns(pl.col("day").dt.weekday().ge(6).alias("weekend"))
    )
    tmeans = dict(touches.group_by("weekend").agg(pl.col("len").mean()).iter_rows())
    assert tmeans[True] < 0.7 * tmeans[False]


def test_bounce_spike_and_broken_campaign_are_where_the_truth_says(dataset: Generated) -> None:
    truth = dataset.summary.truth
    events = _events(dataset).filter(pl.col("channel") == "email")
    daily = (
        events.group_by(pl.col("ts").dt.date().alias("day"))
        .agg(
            (pl.col("type") == "bounce").sum().alias("bounces"),
            (pl.col("type") == "send").sum().alias("sends"),
        )
        .filter(pl.col("sends") > 0)
        .with_columns((pl.col("bounces") / pl.col("sends")).alias("rate"))
    )
    spike = daily.filter(pl.col("day") == truth.anomaly_day).row(0, named=True)
    others = daily.filter(pl.col("day") != truth.anomaly_day)
    assert spike["rate"] >= 5 * float(others["rate"].median())  # type: ignore[arg-type]
    assert daily.sort("rate", descending=True)["day"][0] == truth.anomaly_day
    assert spike["bounces"] == truth.anomaly_day_bounces

    counts = _stage_counts(events)
    broken = counts.filter(pl.col("campaign_id") == truth.broken_campaign_id).row(0, named=True)
    assert broken["deliver"] > 100 and broken["open"] == 0 and broken["click"] == 0
    healthy = counts.filter((pl.col("campaign_id") != truth.broken_campaign_id) & (pl.col("deliver") >= 100))
    assert healthy.height > 0 and healthy.filter(pl.col("open") == 0).height == 0


def test_creatives_are_real_images_with_near_duplicates(dataset: Generated) -> None:
    with dataset.engine.connect() as conn:
        assets = {a.id: a for a in conn.execute(select(Asset)).all()}
    truth = dataset.summary.truth
    assert len(assets) == dataset.summary.assets
    assert len({a.sha256 for a in assets.values()}) == len(assets)
    formats = set()
    for asset in assets.values():
        data = Path(asset.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == asset.sha256
        assert len(data) == asset.size_bytes
        with Image.open(Path(asset.path)) as img:
            img.load()
            formats.add(img.format)
            assert (img.width, img.height) == (asset.width, asset.height)
            assert Image.MIME[img.format] == asset.mime_type  # type: ignore[index]
            assert str(imagehash.phash(img)) == asset.phash
    assert formats == {"PNG", "JPEG"}
    pairs = {(d.original_asset_id, d.duplicate_asset_id) for d in truth.near_duplicates}
    assert len(pairs) >= 4
    hashes = {i: imagehash.hex_to_hash(a.phash) for i, a in assets.items()}
    dup_distance = max(hashes[a] - hashes[b] for a, b in pairs)
    ids = sorted(assets)
    other_distance = min(
        hashes[a] - hashes[b]
        for k, a in enumerate(ids)
        for b in ids[k + 1 :]
        if (a, b) not in pairs and (b, a) not in pairs and not _same_original(a, b, pairs)
    )
    assert dup_distance <= 8 < other_distance


def _same_original(a: int, b: int, pairs: set[tuple[int, int]]) -> bool:
    originals = {dup: orig for orig, dup in pairs}
    return originals.get(a, a) == originals.get(b, b)


def test_truth_file_matches_the_summary(dataset: Generated) -> None:
    summary = dataset.summary
    path = Path(summary.truth_path)
    assert path == dataset.root / "truth.json"
    truth = GroundTruth.read(path)
    assert truth == summary.truth
    raw = json.loads(path.read_text())
    assert {"bgnbd", "gamma_gamma", "anomaly_day", "broken_campaign_id", "counts"} <= set(raw)
    assert truth.counts["events"] == summary.events
    orders = dataset.lake.scan("orders").collect()
    assert orders["contact_id"].n_unique() == truth.customers


def test_contacts_look_real(dataset: Generated) -> None:
    with dataset.engine.connect() as conn:
        rows = conn.execute(
            select(
                Contact.email,
                Contact.lifecycle_stage,
                Contact.company_id,
                Contact.email_consent,
                Contact.tags,
            )
        ).all()
    frame = pl.DataFrame(
        [(r[0], r[1], r[2], r[3], len(r[4])) for r in rows],
        schema=["email", "stage", "company_id", "consent", "tags"],
        orient="row",
    )
    assert frame["email"].str.contains(r"^[a-z0-9._]+@[a-z0-9.-]+\.[a-z.]+$").all()
    free = frame["email"].str.contains("@(gmail|yahoo|outlook|hotmail|icloud|proton|gmx)\\.").mean()
    assert 0.25 < free < 0.5  # type: ignore[operator]
    assert frame.filter(pl.col("company_id").is_not_null()).height > frame.height // 2
    stages = frame["stage"].value_counts().sort("count", descending=True)
    assert stages.height >= 6 and stages["stage"][0] == "subscriber"
    assert 0.7 < (frame["consent"] == "confirmed").mean() < 0.9  # type: ignore[operator]
    assert frame["tags"].max() >= 2  # type: ignore[operator]


def test_the_fixture_window_gives_the_same_data_whatever_today_is(dataset: Generated, tmp_path: Path) -> None:
    """The module's dataset was generated with "today" frozen at FAKE_TODAY; another "today" years
    later, on another weekday, must give the same rows (the window is pinned by its end day)."""
    w = SAMPLE_DATASET
    with clock.frozen(OTHER_FAKE_TODAY):
        again = generate_into(tmp_path, contacts=w.contacts, days=w.days, seed=w.seed)
    assert_same_data(snapshot(dataset.engine, dataset.lake), snapshot(again.engine, again.lake))
    assert again.summary.truth == dataset.summary.truth
    again.engine.dispose()
