"""Prefect's overhead on the daily pipeline: the flows vs the same task functions called plainly.

One sample dataset (``--contacts`` contacts over ``--days`` days, generated once under
benchmarks/.data) is copied fresh before every run, so each run does the same work: the daily
chain's eight steps: enrich every contact through the local fake providers, publish (no campaign
is due: the experiments are looked at and the due campaigns picked), tracking (no spool or inbox
on this host: nothing to flush), aggregate the run day and the day before, score, media
suggestions (an empty library: nothing to suggest) and ads (cost and ROI of the generated ad
spend; no flight has a budget, so no pacing).

- prefect: ``daily_pipeline(run_date=END, sync_revenue=False)``, the flow the ``daily`` deployment
  runs, with its subflows, tasks, artifacts and events on Prefect's ephemeral server (started and
  warmed up before timing), as ``aicmo pipeline daily`` runs it there: without heartbeats, which
  nothing could read on a server that ends with the process (``local_runs``; a worker's run on a
  real server keeps them, and waits up to a second more at its end);
- plain: the functions under the same ``@task`` wrappers (``task.fn``) in the same order with the
  same arguments, without what exists only for Prefect (flow runs, artifacts, events, the run log).

Before timing, both paths run once and their ``kpis_daily`` tables and contact scores must be
equal (floats to a relative 1e-5). Runs alternate (plain, prefect) ``--runs`` times. Prints a JSON report: median and range of
each, Prefect's overhead in seconds and as a ratio, and the budget the project sets for it (5% of
the plain time plus 2 s). Under ``make bench`` (``AICMO_BENCH_RESULTS`` set) the runs are also
recorded in benchmarks/results.json.

    .venv/bin/python benchmarks/bench_orchestration.py --contacts 2000 --days 30 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
sys.path.insert(0, str(HERE.parent))

from aicmo.prefect_env import configure_prefect, local_runs  # noqa: E402

configure_prefect(Path(tempfile.mkdtemp(prefix="bench-orchestration-")))

import machine_info  # noqa: E402
import polars as pl  # noqa: E402
import prefect  # noqa: E402
from polars.testing import assert_frame_equal  # noqa: E402
from prefect import flow  # noqa: E402
from results import Recorder, Run, measure  # noqa: E402
from sqlalchemy import select  # noqa: E402

from aicmo.fakes.provider_server import FakeProviderServer  # noqa: E402
from aicmo.fanout import chunked  # noqa: E402
from aicmo.flows.aggregate import event_window  # noqa: E402
from aicmo.flows.daily import daily_pipeline  # noqa: E402
from aicmo.models.crm import Contact  # noqa: E402
from aicmo.settings import get_settings  # noqa: E402
from aicmo.storage.db import dispose_engines, transaction  # noqa: E402
from aicmo.storage.lake import Lake  # noqa: E402
from aicmo.storage.media import asset_count  # noqa: E402
from aicmo.tasks.ads.pacing import store_flights  # noqa: E402
from aicmo.tasks.ads.prefect_tasks import ads_roi_task  # noqa: E402
from aicmo.tasks.analytics import quality  # noqa: E402
from aicmo.tasks.analytics.campaigns import known_campaign_ids  # noqa: E402
from aicmo.tasks.analytics.kpis import KPIS_TABLE, touched_days  # noqa: E402
from aicmo.tasks.analytics.prefect_tasks import (  # noqa: E402
    attribution_task,
    build_cohorts_task,
    build_scores_task,
    daily_kpis_task,
    rollups_task,
    store_scores_task,
    trends_task,
)
from aicmo.tasks.crm.prefect_tasks import enrich_batch_task, pick_contacts_task  # noqa: E402
from aicmo.tasks.experiments.prefect_tasks import decide_experiments_task  # noqa: E402
from aicmo.tasks.media.prefect_tasks import suggest_task  # noqa: E402
from aicmo.tasks.publishing.prefect_tasks import start_due_campaigns_task  # noqa: E402
from aicmo.tasks.sample.configured_store import generate_into_configured_store  # noqa: E402
from aicmo.wiring import engine, lake, settings_overrides  # noqa: E402

END = date(2026, 8, 30)
STAGE = "daily pipeline"
CONTENDERS = {"plain": "plain functions", "prefect": "Prefect flows"}
SCORE_COLUMNS = ("engagement_score", "historical_ltv", "predicted_ltv", "p_alive", "tier", "rfm_segment")
BATCH = 1000  # the enrich flow's default batch size


def plain_daily(day: date) -> None:
    """The daily chain of ``daily_pipeline`` (every step, in its order) without Prefect."""
    settings, analytics = get_settings(), get_settings().analytics
    url, the_lake, eng = settings.resolved_database_url, lake(), engine()
    ids = pick_contacts_task.fn(url, None)
    for i in range(0, len(ids), BATCH):
        enrich_batch_task.fn(url, ids[i : i + BATCH])
    plain_publish_and_tracking()
    start, now = day - timedelta(days=1), datetime.now(UTC)
    known = known_campaign_ids(eng)
    with transaction(eng) as session:
        days = touched_days(session, the_lake, start, day, full=False)
    window = event_window(the_lake, start, day)
    for chunk in chunked(sorted(days), settings.fanout_chunk_days):
        daily_kpis_task.fn(the_lake.root, url, chunk, known, now)
    rollups = rollups_task.fn(the_lake.root, window[0], window[1], known, now)
    attribution_task.fn(
        the_lake.root,
        window[0],
        window[1],
        known,
        now,
        analytics.attribution_lookback_days,
        analytics.time_decay_half_life_days,
        analytics.attribution_markov_order,
    )
    out_dir = settings.artifacts_dir / "aggregate"
    trends_task.fn(
        the_lake.root, window[0], window[1], rollups["campaign"], analytics.anomaly_z_threshold, str(out_dir)
    )
    quality.summarize(the_lake.scan("event_quality", window[0], window[1]).drop("dt").collect())
    build_scores_task.fn(the_lake.root, day, analytics, "thresholds", settings.currency)
    store_scores_task.fn(url, the_lake.root, day, datetime.now(UTC))
    build_cohorts_task.fn(the_lake.root, day, str(settings.artifacts_dir), "month", settings.currency)
    plain_media_and_ads()


def plain_publish_and_tracking() -> None:
    """The chain's publish and tracking steps as their flows call them, without Prefect."""
    settings = get_settings()
    url, root = settings.resolved_database_url, settings.resolved_lake_root
    decide_experiments_task.fn(url, root, None)
    assert start_due_campaigns_task.fn(url, None) == []  # nothing is due in the generated data
    inbox = settings.home / "inbox" / "events"  # tracking: no spool or inbox here, nothing to flush
    assert not settings.spool_dir.is_dir() and not inbox.is_dir()


def plain_media_and_ads() -> None:
    """The chain's media and ads steps as their flows call them, without Prefect."""
    settings = get_settings()
    url, root = settings.resolved_database_url, settings.resolved_lake_root
    with transaction(engine()) as session:
        assets = asset_count(session)
    if assets:
        suggest_task.fn(url, root)
    ads_roi_task.fn(root, None, None, settings.currency)
    assert not store_flights(engine())  # no flight with a budget: no pacing, no allocation


def prefect_daily(day: date) -> None:
    """The chain as ``aicmo pipeline daily --no-revenue`` runs it on the ephemeral server."""
    with local_runs():
        daily_pipeline(run_date=day, sync_revenue=False)


@flow(name="bench-warm-up")
def warm_up() -> int:
    """A trivial flow: starts the ephemeral server before anything is timed."""
    return 1


def pristine_home(contacts: int, days: int) -> Path:
    """A home with the generated dataset, made once per size."""
    home = DATA / f"orchestration_{contacts}c_{days}d"
    if (home / "DONE").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    with settings_overrides({"AICMO_HOME": str(home)}):
        generate_into_configured_store(contacts, days, 5, end=END)
        dispose_engines()
    (home / "DONE").touch()
    return home


def timed_run(
    pristine: Path, work: Path, tag: str, fakes_env: dict[str, str], body: Callable[[date], None]
) -> tuple[Run, Path]:
    """Copy the pristine home to ``work/tag`` and run ``body`` on it; returns the timed run and the home."""
    home = work / tag
    shutil.copytree(pristine, home)
    with settings_overrides({"AICMO_HOME": str(home), **fakes_env}):
        _, run = measure(lambda: body(END))
        dispose_engines()
    return run, home


def outputs(home: Path) -> dict[str, pl.DataFrame]:
    """What the pipeline computed: the KPI table (timestamps aside) and the contacts' score columns."""
    kpis = Lake(str(home / "lake")).scan(KPIS_TABLE).collect()
    kpis = kpis.drop([c for c in kpis.columns if c.endswith("_at")])
    with settings_overrides({"AICMO_HOME": str(home)}):
        columns = list(SCORE_COLUMNS)
        with transaction(engine()) as session:
            rows = session.execute(
                select(Contact.id, *(getattr(Contact, c) for c in columns)).order_by(Contact.id)
            ).all()
        dispose_engines()
    scores = pl.DataFrame(
        [tuple(r) for r in rows], schema=["id", *columns], orient="row", infer_schema_length=None
    )
    return {"kpis_daily": kpis.sort(kpis.columns), "contact scores": scores}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rec = Recorder(
        "orchestration",
        "Orchestration: the daily pipeline as Prefect flows vs the same functions called plainly",
        f"{args.contacts:,} generated contacts over {args.days} days, copied fresh for every run. "
        "Prefect flows: daily_pipeline (eight step subflows, their tasks, artifacts, events and run log) "
        "on Prefect's ephemeral server, started and warmed up before timing; plain functions: the same "
        "task functions (task.fn) in the same order. The project's budget for Prefect's overhead is 5% "
        "of the plain time plus 2 s.",
        {k: str(v) for k, v in vars(args).items()},
    )
    pristine = pristine_home(args.contacts, args.days)
    work = Path(tempfile.mkdtemp(prefix="bench-orchestration-homes-"))
    try:
        warm_up()
        with FakeProviderServer() as fakes:
            env = fakes.settings_env()
            _, plain_home = timed_run(pristine, work, "check-plain", env, plain_daily)
            _, flow_home = timed_run(pristine, work, "check-prefect", env, prefect_daily)
            plain_out, flow_out = outputs(plain_home), outputs(flow_home)
            for name, frame in plain_out.items():
                assert frame.height > 0, f"{name}: empty"
                # floats to 1e-5: parallel sums and the LTV fit's optimizer round differently run to run
                assert_frame_equal(frame, flow_out[name], check_exact=False, rel_tol=1e-5)
                rec.check(
                    f"{name}: plain functions vs Prefect flows",
                    "floats 1e-5 relative",
                    True,
                    f"{frame.height} rows",
                )
            times: dict[str, list[float]] = {"plain": [], "prefect": []}
            for i in range(args.runs):
                for tag, body in (("plain", plain_daily), ("prefect", prefect_daily)):
                    run, _ = timed_run(pristine, work, f"{tag}-{i}", env, body)
                    times[tag].append(run.seconds)
                    rec.add(
                        CONTENDERS[tag],
                        "peer" if tag == "plain" else "ours",
                        STAGE,
                        args.contacts,
                        "contacts",
                        run,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    plain, flows = statistics.median(times["plain"]), statistics.median(times["prefect"])
    budget = 0.05 * plain + 2.0
    report: dict[str, Any] = {
        "benchmark": "orchestration",
        "contacts": args.contacts,
        "days": args.days,
        "runs": args.runs,
        "outputs_equal": ["kpis_daily", "contact scores"],
        "plain_s": summary(times["plain"]),
        "prefect_s": summary(times["prefect"]),
        "overhead_s": round(flows - plain, 3),
        "overhead_ratio": round(flows / plain, 3),
        "budget_s": round(budget, 3),
        "within_budget": flows - plain <= budget,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": machine_info.machine(prefect=prefect.__version__, polars=pl.__version__),
    }
    print(json.dumps(report, indent=2, default=str))
    rec.ratio(CONTENDERS["plain"], CONTENDERS["prefect"], STAGE, args.contacts)
    rec.note(
        f"Prefect's overhead: {flows - plain:.2f} s at the medians against a budget of {budget:.2f} s "
        f"(5% of the plain time plus 2 s): {'within' if flows - plain <= budget else 'over'} budget."
    )
    rec.save(prefect=prefect.__version__, polars=pl.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
