"""False alarms and detection rate of the daily anomaly detector, over many generated windows.

For every (end date, seed) the sample generator writes a window of ``--days`` days and
``--contacts`` contacts without the injected email bounce spike (``bounce_multiplier=1``), and
for the ``--spiked-seeds`` also with it (the generator's default).

Which windows: the generator's data depend on the weekday of the window's end, not on its date
(a window ending 35 days later is the same data shifted by five weeks; only ad costs differ), so
more than seven end dates per seed add no independent windows. The end dates are seven, five
days apart (every weekday once), and independent windows come from the seeds.

Daily KPIs are computed as the aggregate flow does, then scored by :func:`aicmo.tasks.analytics.trends.score_days` for each
detector setting of the grid (threshold x same-weekday baseline weeks x minimum same-weekday
history). Reported per setting, metric and scope (overall and each channel):

- false flags per 90 judged days, on the windows without a spike (a judged day is one whose
  series had enough history and volume to get a z-score);
- weekend flags, and flags per 90 judged days on weekends against weekdays (the weekly rhythm
  must not raise alarms: weekends may not be flagged more often than weekdays);
- detection rate: share of the spiked windows whose email bounce rate is flagged as a spike on
  the injected day.

The generated daily KPIs are cached under ``benchmarks/.data/anomaly_windows`` (one small Parquet
file per window), so trying other settings reruns only the scoring.

    .venv/bin/python benchmarks/anomaly_false_alarms.py --windows 7 --seeds 1-22 --spiked-seeds 1-10
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

DATA = Path(__file__).parent / ".data" / "anomaly_windows"
FIRST_END = date(2025, 3, 2)
STEP_DAYS = 5  # coprime with 7: successive windows end on every weekday in turn
SCOPES = ("overall", "email", "sms", "push", "webhook")


def end_dates(windows: int) -> list[date]:
    """``windows`` end dates from FIRST_END, STEP_DAYS apart (the first seven: every weekday once)."""
    return [FIRST_END + timedelta(days=STEP_DAYS * i) for i in range(windows)]


def seed_list(text: str) -> list[int]:
    """``"1-22"`` or ``"1,2,5"`` -> the seeds."""
    if "-" in text:
        first, last = (int(x) for x in text.split("-", 1))
        return list(range(first, last + 1))
    return [int(x) for x in text.split(",")]


def window_path(contacts: int, days: int, seed: int, end: date, spike: bool) -> Path:
    return DATA / f"c{contacts}_d{days}_s{seed}_{end.isoformat()}_{'spike' if spike else 'clean'}.parquet"


def _reuse_creatives() -> None:
    """Draw each seed's creatives once per process. They depend on the seed alone (the generator
    gives ``make_creatives`` a fresh stream of its own, then drops it; same stream, same bytes), so
    the data are unchanged; this saves about half of a small window's time."""
    import aicmo.tasks.sample.dataset as dataset

    if getattr(dataset.make_creatives, "reused", False):
        return
    draw = dataset.make_creatives
    made: dict[str, Any] = {}

    def make_once(rng: Any, _folder: Path) -> Any:
        key = hashlib.sha256(json.dumps(rng.bit_generator.state, sort_keys=True).encode()).hexdigest()[:12]
        if key not in made:
            made[key] = draw(rng, DATA / "creatives" / f"{key}-{os.getpid()}")  # one writer per folder
        return made[key]

    make_once.reused = True  # type: ignore[attr-defined]
    dataset.make_creatives = make_once


def generate_window(contacts: int, days: int, seed: int, end: date, spike: bool) -> Path:
    """Generate one window into a scratch store and lake; keep its daily KPIs and anomaly day."""
    from aicmo.models.base import Base
    from aicmo.storage.db import make_engine
    from aicmo.storage.lake import Lake
    from aicmo.tasks.analytics.kpis import recompute_daily_kpis
    from aicmo.tasks.sample import generate_dataset

    out = window_path(contacts, days, seed, end, spike)
    if out.exists():
        return out
    _reuse_creatives()
    root = Path(tempfile.mkdtemp(prefix="anomaly-window-"))
    try:
        engine = make_engine(f"sqlite:///{root / 'store.db'}")
        Base.metadata.create_all(engine)
        lake = Lake(str(root / "lake"))
        summary = generate_dataset(
            engine,
            lake,
            contacts=contacts,
            days=days,
            seed=seed,
            end=end,
            assets_dir=root / "assets",
            **({} if spike else {"bounce_multiplier": 1.0}),
        )
        computed_at = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        recompute_daily_kpis(lake, lake.partitions("events"), None, computed_at)
        daily = lake.scan("kpis_daily").drop("dt").collect()
        engine.dispose()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".inprogress")
        daily.with_columns(pl.lit(summary.truth.anomaly_day).alias("anomaly_day")).write_parquet(tmp)
        tmp.replace(out)
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def score_window(
    path: Path, threshold: float, weeks: int, min_history: int
) -> tuple[pl.DataFrame, pl.DataFrame, date]:
    """(judged day counts per scope x metric, flagged rows, anomaly day) of one cached window."""
    from aicmo.tasks.analytics.trends import ANOMALY_METRICS, score_days

    daily = pl.read_parquet(path)
    anomaly_day = daily["anomaly_day"][0]
    overall, channel, flagged = score_days(
        daily.drop("anomaly_day"), threshold=threshold, weeks=weeks, min_history=min_history
    )
    watched = pl.Series(list(ANOMALY_METRICS)).implode()
    judged = pl.concat(
        [
            overall.filter(pl.col("metric").is_in(watched)).with_columns(pl.lit("overall").alias("scope")),
            channel.rename({"channel": "scope"}),
        ],
        how="diagonal",
    )
    judged = (
        judged.filter(pl.col("z").is_not_null())
        .group_by("scope", "metric")
        .agg(pl.len().alias("judged"), (pl.col("day").dt.weekday() >= 6).sum().alias("judged_weekend"))
    )
    return judged, flagged, anomaly_day


def evaluate(
    clean: list[Path], spiked: list[Path], threshold: float, weeks: int, min_history: int
) -> dict[str, Any]:
    """False flags per 90 judged days (per scope x metric), weekend flags, detection rate."""
    judged_parts, flag_parts = [], []
    for path in clean:
        judged, flagged, _ = score_window(path, threshold, weeks, min_history)
        judged_parts.append(judged)
        if flagged.height:
            flag_parts.append(flagged.select("day", "scope", "metric"))
    judged_all = (
        pl.concat(judged_parts).group_by("scope", "metric").agg(pl.col("judged", "judged_weekend").sum())
    )
    flags = (
        pl.concat(flag_parts)
        if flag_parts
        else pl.DataFrame(schema={"day": pl.Date, "scope": pl.String, "metric": pl.String})
    )
    per_series = (
        judged_all.join(
            flags.group_by("scope", "metric").agg(
                pl.len().alias("flags"), (pl.col("day").dt.weekday() >= 6).sum().alias("weekend_flags")
            ),
            on=["scope", "metric"],
            how="left",
        )
        .with_columns(pl.col("flags", "weekend_flags").fill_null(0))
        .with_columns((90.0 * pl.col("flags") / pl.col("judged")).alias("per_90_days"))
        .sort("scope", "metric")
    )
    detected_email = detected_overall = 0
    for path in spiked:
        _, flagged, anomaly_day = score_window(path, threshold, weeks, min_history)
        hit = flagged.filter(
            (pl.col("day") == anomaly_day)
            & (pl.col("metric") == "bounce_rate")
            & (pl.col("direction") == "spike")
        )
        detected_email += int("email" in hit["scope"].to_list())
        detected_overall += int("overall" in hit["scope"].to_list())
    total = {c: int(per_series[c].sum()) for c in ("flags", "weekend_flags", "judged", "judged_weekend")}
    return {
        "threshold": threshold,
        "weeks": weeks,
        "min_history": min_history,
        "false_flags": total["flags"],
        "weekend_flags": total["weekend_flags"],
        # flags per 90 judged days of one series, on weekends and on weekdays (all series pooled)
        "weekend_per_90_days": round(90.0 * total["weekend_flags"] / max(1, total["judged_weekend"]), 3),
        "weekday_per_90_days": round(
            90.0
            * (total["flags"] - total["weekend_flags"])
            / max(1, total["judged"] - total["judged_weekend"]),
            3,
        ),
        "worst_per_90_days": round(float(per_series.select(pl.col("per_90_days").max()).item() or 0.0), 3),
        "detection_email": detected_email / max(1, len(spiked)),
        "detection_overall": detected_overall / max(1, len(spiked)),
        "per_series": per_series.to_dicts(),
    }


def markdown_table(result: dict[str, Any]) -> str:
    """Metric x scope table of false flags per 90 judged days (flags / judged days in brackets)."""
    rows = {(r["scope"], r["metric"]): r for r in result["per_series"]}
    metrics = sorted({m for _, m in rows})
    lines = [
        "| metric | " + " | ".join(SCOPES) + " |",
        "| --- | " + " | ".join("---:" for _ in SCOPES) + " |",
    ]
    for metric in metrics:
        cells = []
        for scope in SCOPES:
            r = rows.get((scope, metric))
            cells.append("n/j" if r is None else f"{r['per_90_days']:.2f} ({r['flags']}/{r['judged']})")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=7, help="End dates, STEP_DAYS apart.")
    parser.add_argument("--seeds", default="1-22", help="Seeds of the windows without a spike.")
    parser.add_argument("--spiked-seeds", default="1-10", help="Seeds of the windows with the spike.")
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--days", type=int, default=91)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--thresholds", default="3.5,4,4.5,5")
    parser.add_argument("--weeks", default="4,6,8")
    parser.add_argument("--min-history", default="3,4")
    parser.add_argument("--json", type=Path, help="Write every setting's figures here.")
    args = parser.parse_args()
    seeds, spiked_seeds = seed_list(args.seeds), seed_list(args.spiked_seeds)
    ends = end_dates(args.windows)
    jobs = [(args.contacts, args.days, s, e, False) for s in seeds for e in ends]
    jobs += [(args.contacts, args.days, s, e, True) for s in spiked_seeds for e in ends]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        paths = list(pool.map(generate_window, *zip(*jobs, strict=True)))
    print(f"{len(paths)} windows ready in {time.perf_counter() - started:.0f} s")
    clean = [p for p, job in zip(paths, jobs, strict=True) if not job[4]]
    spiked = [p for p, job in zip(paths, jobs, strict=True) if job[4]]
    results = []
    grid = itertools.product(
        [float(t) for t in args.thresholds.split(",")],
        [int(w) for w in args.weeks.split(",")],
        [int(m) for m in args.min_history.split(",")],
    )
    print("| threshold | weeks | min history | false flags | weekend flags | per 90 days: worst series | "
          "weekday | weekend | detected (email) | detected (overall) |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for threshold, weeks, min_history in grid:
        result = evaluate(clean, spiked, threshold, weeks, min_history)
        results.append(result)
        print(
            f"| {threshold} | {weeks} | {min_history} | {result['false_flags']} | {result['weekend_flags']} | "
            f"{result['worst_per_90_days']:.2f} | {result['weekday_per_90_days']:.2f} | "
            f"{result['weekend_per_90_days']:.2f} | {result['detection_email']:.0%} | "
            f"{result['detection_overall']:.0%} |",
            flush=True,
        )
    for result in results:
        print(
            f"\nthreshold {result['threshold']}, weeks {result['weeks']}, min history {result['min_history']}:"
        )
        print(markdown_table(result))
    print(
        f"\nwindows: {len(clean)} clean (seeds {args.seeds}) + {len(spiked)} spiked (seeds {args.spiked_seeds}), "
        f"ends {', '.join(map(str, ends))}, "
        f"{args.contacts} contacts x {args.days} days"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
