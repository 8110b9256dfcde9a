"""The demo: a small generated dataset, then every flow of the pipeline, then a readable summary.

Providers are the local fake servers (``aicmo.fakes``) speaking the real APIs' shapes, so the demo
runs offline; Prefect runs on its ephemeral server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from rich.table import Table

from aicmo.cli.console import console, progress_bar
from aicmo.cli.tables import pairs_table, rows_table
from aicmo.settings import Settings, get_settings
from aicmo.wiring import engine, settings_overrides


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if _is_rows(value):
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list | tuple) and len(value) > 6:
        out[prefix] = f"[{len(value)} items]"
    else:
        out[prefix] = value


def summary_table(title: str, summary: dict[str, Any], limit: int = 24) -> Table:
    """A two-column table of a step's summary (nested keys dotted, long lists counted)."""
    flat: dict[str, Any] = {}
    _flatten("", summary, flat)
    pairs = list(flat.items())[:limit]
    if len(flat) > limit:
        pairs.append(("…", f"{len(flat) - limit} more"))
    return pairs_table(pairs, title=title)


def print_summary(title: str, summary: dict[str, Any]) -> None:
    """A step's summary as a key/value table, plus a table for each list of rows in it."""
    console.print(summary_table(title, summary))
    for key, value in summary.items():
        if _is_rows(value):
            console.print(rows_table(value, title=f"{title}: {key}", limit=12))


def _run_steps(steps: list[tuple[str, Callable[[], dict[str, Any]]]]) -> dict[str, dict[str, Any]]:
    """Run each step under one progress bar, printing how long each took."""
    from aicmo.prefect_env import local_runs

    results: dict[str, dict[str, Any]] = {}
    with progress_bar("demo pipeline", total=len(steps)) as advance, local_runs():
        for name, fn in steps:
            console.print(f"[bold]▶ {name}[/]")
            started = time.perf_counter()
            results[name] = fn()
            console.print(f"  done in {time.perf_counter() - started:.1f} s")
            advance()
    return results


def demo_rates(settings: Settings) -> Path | None:
    """Write ``$AICMO_HOME/rates.csv`` (EUR to USD) for the fake Stripe's EUR payments, unless rates
    are configured, the home already has that file, or the reporting currency is not USD (the file's
    rates are to USD). Settings are re-read so the file is used from now on."""
    from aicmo.fakes.data import stripe_rates_csv
    from aicmo.settings import DEFAULT_RATES_FILE, reset_settings

    money = settings.currency
    path = settings.home / DEFAULT_RATES_FILE
    if money.rates_file or money.rates_url or money.reporting_currency != "USD" or path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stripe_rates_csv())
    reset_settings()
    return path


PIPELINE_STEP = "daily pipeline: enrich, publish, tracking, revenue, aggregate, score, media, ads"
# The demo's own publish, tracking and media steps report what they did in more detail than the
# daily pipeline's runs of the same phases, which find the work already done.
_DEMO_OWN = ("publish", "tracking", "media", "step_runs", "steps")
PUBLISH_STEP = "publish a campaign: email, SMS, push, webhooks (phase 2)"
MEDIA_STEP = "media: ingest creatives, near-duplicates, suggestions (phase 4)"
TRACK_STEP = "track opens, clicks, unsubscribes through aicmo serve (phase 2)"


def run_demo(
    contacts: int = 5000, days: int = 90, seed: int = 7, end: date | None = None
) -> dict[str, dict[str, Any]]:
    """Generate a dataset ending ``end`` (default yesterday) and run the daily pipeline over all of
    it; prints a summary.

    Returns each step's summary: ``generate``, ``publish`` (a campaign on every channel, so its
    sends are aggregated), ``tracking`` (its recipients' opens and clicks through the tracking
    service), then the pipeline's ``enrich``, ``revenue``, ``aggregate``, ``score``, ``ads`` and
    ``daily pipeline`` (``steps``: each daily step's state, Completed or Skipped, and why), then
    ``media``.
    """
    from aicmo.cli.commands.media import demo_step as media_demo_step
    from aicmo.cli.publish_demo import publish_demo, track_demo
    from aicmo.fakes.provider_server import FakeProviderServer
    from aicmo.flows.daily import daily_pipeline
    from aicmo.flows.generate import generate_sample_data

    settings = get_settings()
    console.rule("[bold]AICMO demo")
    console.print(f"home: {settings.home}   store: {settings.resolved_database_url}")
    rates = demo_rates(settings)
    if rates:
        console.print(f"exchange rates for the fake Stripe's EUR payments: {rates}")
        settings = get_settings()
    engine()  # the embedded store creates and migrates itself here
    started = time.perf_counter()
    generated: dict[str, Any] = {}
    with FakeProviderServer() as fakes, settings_overrides(fakes.settings_env()):
        console.print(f"fake providers (Stripe, GitHub, OpenWeather, company) at {fakes.base_url}")

        def generate() -> dict[str, Any]:
            generated.update(generate_sample_data(contacts=contacts, days=days, seed=seed, end=end))
            # Stripe's fake customers are some of the generated contacts, plus strangers and guests.
            fakes.seed_stripe_from_contacts(engine(), seed=seed)
            return generated

        def pipeline() -> dict[str, Any]:
            run_date = date.fromisoformat(str(generated["end"]))
            return daily_pipeline(run_date=run_date, full=True)

        results = _run_steps(
            [
                ("generate", generate),
                (PUBLISH_STEP, publish_demo),
                (TRACK_STEP, track_demo),
                (PIPELINE_STEP, pipeline),
                (MEDIA_STEP, media_demo_step),
            ]
        )
    steps = {
        "generate": results["generate"],
        "publish": results[PUBLISH_STEP],
        "tracking": results[TRACK_STEP],
        **{k: v for k, v in results[PIPELINE_STEP].items() if k not in _DEMO_OWN},
        "daily pipeline": {"steps": results[PIPELINE_STEP]["steps"]},
        "media": results[MEDIA_STEP],
    }
    console.rule("[bold]Summary")
    for name, summary in steps.items():
        print_summary(name, summary)
    console.print(
        f"[green]pipeline finished in {time.perf_counter() - started:.1f} s[/]; "
        f"artifacts under {settings.artifacts_dir}, Prefect UI: `make ui`"
    )
    return steps
