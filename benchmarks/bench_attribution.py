"""Attribution end to end from events: ours vs ChannelAttribution (Markov) and pandas (rule-based).

Generates ``--journeys`` journeys as events with numpy (one journey per contact: 1-8 touchpoint
clicks on six channels within 20 days, then a conversion with a probability that depends on the
channels seen, revenue ~ Gamma) and writes them to a lake under ``benchmarks/.data``. Then, on the
same files, each timed ``--runs`` times in one process (median reported):

- ours: ``aicmo.tasks.analytics.attribution.attribute`` on ``lake.scan("events")``: journeys
  (as-of join), Markov chain and removal effects, and all six models' credits;
- ChannelAttribution: ``markov_model`` (order 1) on the paths a pandas pipeline builds from the
  same events (read, sort, group, join channels with ``>``, count conversions and nulls per path);
- pandas: first/last/linear/time-decay/position-based credits with ``merge_asof`` and ``groupby``.

Checks: the Markov removal effects of ChannelAttribution agree with ours (report the largest
difference in points, raw and as shares), and pandas' rule-based credits per channel equal ours.

    .venv/bin/python benchmarks/bench_attribution.py --journeys 5000000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from bench_kpis import machine

DATA = Path(__file__).parent / ".data"
CHANNELS = ["email", "sms", "push", "ads", "search", "social"]
CHANNEL_P = [0.3, 0.1, 0.1, 0.2, 0.2, 0.1]
CHANNEL_LIFT = [0.6, 0.2, 0.1, 0.5, 0.9, -0.1]  # log-odds each channel seen adds to converting
FIRST_DAY = date(2026, 1, 1)
LOOKBACK_DAYS = 30
HALF_LIFE_DAYS = 7.0
RULES = ["first_touch", "last_touch", "linear", "time_decay", "position_based"]


def generate(journeys: int, seed: int = 11) -> Path:
    """Events of ``journeys`` journeys into a lake under benchmarks/.data (once per size)."""
    from aicmo.storage.lake import Lake

    root = DATA / f"attr_us_{journeys}"
    if (root / "DONE").exists():
        return root
    rng = np.random.default_rng(seed)
    k = np.minimum(1 + rng.poisson(1.8, journeys), 8)
    total = int(k.sum())
    journey = np.repeat(np.arange(journeys), k)
    channel = rng.choice(len(CHANNELS), total, p=CHANNEL_P)
    # microseconds since the first day: journey start over 60 days, touches over up to 20 days
    # (microseconds make ties within a journey practically impossible, so first/last are defined)
    start = rng.integers(0, 60 * 86_400_000_000, journeys)
    offsets = rng.integers(0, 20 * 86_400_000_000, total)
    ts = start[journey] + offsets
    order = np.lexsort((ts, journey))
    journey, channel, ts = journey[order], channel[order], ts[order]
    seen = np.zeros((journeys, len(CHANNELS)), dtype=bool)
    seen[journey, channel] = True
    logit = -1.6 + seen @ np.array(CHANNEL_LIFT)
    converts = rng.random(journeys) < 1 / (1 + np.exp(-logit))
    last_ts = np.zeros(journeys, dtype=np.int64)
    np.maximum.at(last_ts, journey, ts)
    conv_j = np.flatnonzero(converts)
    base = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)
    to_ts = pl.col("__s").cast(pl.Duration("us")) + pl.lit(base)
    touches = pl.DataFrame(
        {
            "contact_id": journey,
            "__s": ts,
            "channel": pl.Series(CHANNELS).gather(channel),
            "campaign_id": channel + 1,
            "type": "click",
        }
    )
    conversions = pl.DataFrame(
        {
            "contact_id": conv_j,
            "__s": last_ts[conv_j] + 3_600_000_000,
            "channel": "direct",
            "campaign_id": None,
            "type": "convert",
            "revenue": np.round(rng.gamma(2.0, 50.0, conv_j.size), 2),
        },
        schema_overrides={"campaign_id": pl.Int64},
    )
    events = (
        pl.concat([touches, conversions], how="diagonal")
        .with_columns(to_ts.alias("ts"))
        .drop("__s")
        .with_row_index("event_id")
        .with_columns(pl.col("event_id").cast(pl.String))
    )
    Lake(str(root)).write("events", events, mode="overwrite")
    (root / "DONE").write_text(json.dumps({"events": events.height, "conversions": int(conv_j.size)}))
    return root


# ---- ours ----------------------------------------------------------------------------------------
def run_ours(root: Path) -> dict[str, Any]:
    from aicmo.storage.lake import Lake
    from aicmo.tasks.analytics.attribution import attribute

    result = attribute(Lake(str(root)).scan("events"), LOOKBACK_DAYS, HALF_LIFE_DAYS)
    return {
        "by_channel": result.by_channel(),
        "removal": result.markov.frame(),
        "conversions": result.credited_conversions,
    }


# ---- pandas: journeys + rule-based models ---------------------------------------------------------
def _pandas_journeys(root: Path) -> Any:
    import pandas as pd

    files = sorted(str(p) for p in (root / "events").rglob("*.parquet"))
    cols = ["ts", "contact_id", "channel", "campaign_id", "type", "revenue"]
    df = pd.concat([pd.read_parquet(f, columns=cols) for f in files], ignore_index=True)
    conv = df.loc[df["type"] == "convert", ["contact_id", "ts", "revenue"]].rename(columns={"ts": "conv_ts"})
    conv = conv.sort_values("conv_ts").reset_index(drop=True)
    conv["journey"] = np.arange(len(conv))
    touch = df.loc[df["type"].isin(["open", "click"]), ["contact_id", "ts", "channel"]].sort_values("ts")
    j = pd.merge_asof(
        touch,
        conv,
        left_on="ts",
        right_on="conv_ts",
        by="contact_id",
        direction="forward",
        allow_exact_matches=True,
    )
    j["converted"] = j["conv_ts"].notna() & ((j["conv_ts"] - j["ts"]) <= pd.Timedelta(days=LOOKBACK_DAYS))
    return j, conv


def run_pandas(root: Path) -> dict[str, Any]:
    j, _ = _pandas_journeys(root)
    j = j.loc[j["converted"]].sort_values(["journey", "ts"], kind="stable")
    g = j.groupby("journey", sort=False)
    pos = g.cumcount()
    n = g["ts"].transform("size")
    j["first_touch"] = (pos == 0).astype(float)
    j["last_touch"] = (pos == n - 1).astype(float)
    j["linear"] = 1.0 / n
    age = (j["conv_ts"] - j["ts"]).dt.total_seconds() / 86_400
    decay = 2.0 ** (-age / HALF_LIFE_DAYS)
    j["time_decay"] = decay / decay.groupby(j["journey"]).transform("sum")
    middle = 0.2 / (n - 2).where(n > 2)
    pb = np.where(n == 1, 1.0, np.where(n == 2, 0.5, np.where((pos == 0) | (pos == n - 1), 0.4, middle)))
    j["position_based"] = pb
    by_channel = j.groupby("channel")[RULES].sum().reset_index()
    return {"by_channel": pl.from_pandas(by_channel), "conversions": int(j["journey"].nunique())}


# ---- ChannelAttribution: pandas-built paths + markov_model ----------------------------------------
def run_channel_attribution(root: Path) -> dict[str, Any]:
    from ChannelAttribution import markov_model

    j, _ = _pandas_journeys(root)
    # converted journeys keyed by conversion; other touches by (contact, next conversion) like ours
    j["path_id"] = np.where(j["converted"], j["journey"].fillna(-1), -1.0)
    j = j.sort_values(["contact_id", "path_id", "ts"], kind="stable")
    paths = (
        j.groupby(["contact_id", "path_id", "converted"], sort=False)["channel"].agg(" > ".join).reset_index()
    )
    table = (
        paths.assign(conv=paths["converted"].astype(int), null=(~paths["converted"]).astype(int))
        .groupby("channel", sort=False)[["conv", "null"]]
        .sum()
        .reset_index()
        .rename(columns={"channel": "path"})
    )
    out = markov_model(
        table, "path", "conv", var_null="null", order=1, out_more=True, verbose=False, flg_pro=False, ncore=2
    )
    re = pl.from_pandas(out["removal_effects"])
    return {"removal": re, "paths": len(table)}


def timed(fn: Callable[[Path], dict[str, Any]], root: Path, runs: int) -> dict[str, Any]:
    times, result = [], {}
    for _ in range(runs):
        started = time.perf_counter()
        result = fn(root)
        times.append(time.perf_counter() - started)
    return {"times": times, "median_s": statistics.median(times), **result}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    root = generate(args.journeys)
    info = json.loads((root / "DONE").read_text())
    print(f"data ready in {time.perf_counter() - started:.0f}s: {info}", file=sys.stderr)
    import pandas  # noqa: F401  (imports outside the timings)
    from ChannelAttribution import markov_model  # noqa: F401

    import aicmo.tasks.analytics.attribution  # noqa: F401

    ours = timed(run_ours, root, args.runs)
    print(f"ours {ours['median_s']:.2f}s", file=sys.stderr)
    ca = timed(run_channel_attribution, root, args.runs)
    print(f"ChannelAttribution {ca['median_s']:.2f}s", file=sys.stderr)
    report: dict[str, Any] = {"machine": machine(), "journeys": args.journeys, **info}
    ours_re = ours["removal"].select(
        "channel", pl.col("removal_effect").alias("ours"), pl.col("share").alias("ours_share")
    )
    ca_re = (
        ca["removal"]
        .select(pl.col("channel_name").alias("channel"), pl.col("removal_effect").alias("ca"))
        .with_columns((pl.col("ca") / pl.col("ca").sum()).alias("ca_share"))
    )
    both = ours_re.join(ca_re, on="channel")
    report["removal_effects"] = both.to_dicts()
    report["max_diff_points"] = float((both["ours"] - both["ca"]).abs().max()) * 100
    report["max_share_diff_points"] = float((both["ours_share"] - both["ca_share"]).abs().max()) * 100
    report["ours_s"] = ours["median_s"]
    report["ours_times"] = ours["times"]
    report["channel_attribution_s"] = ca["median_s"]
    report["channel_attribution_times"] = ca["times"]
    report["ratio_ca_over_ours"] = ca["median_s"] / ours["median_s"]
    if not args.skip_pandas:
        pd_result = timed(run_pandas, root, args.runs)
        print(f"pandas {pd_result['median_s']:.2f}s", file=sys.stderr)
        mine = ours["by_channel"].select("channel", *RULES).sort("channel")
        theirs = pd_result["by_channel"].select("channel", *RULES).sort("channel")
        diff = max(float((mine[c] - theirs[c]).abs().max()) for c in RULES)
        report["pandas_s"] = pd_result["median_s"]
        report["pandas_times"] = pd_result["times"]
        report["ratio_pandas_over_ours"] = pd_result["median_s"] / ours["median_s"]
        report["rule_credit_max_abs_diff"] = diff
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
