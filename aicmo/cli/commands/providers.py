"""``aicmo providers``: the provider chains, ad-hoc lookups, the local fake server, the Stripe sync."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from aicmo.cli.console import console, err_console
from aicmo.cli.tables import rows_table
from aicmo.errors import AicmoError, ConfigError, InputError

app = typer.Typer(
    help="Third-party providers: chains, lookups, fake server, Stripe revenue.", no_args_is_help=True
)


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    return rows_table(rows, title=title)


@app.command("chains")
def chains() -> None:
    """Show each capability's providers in failover order (unconfigured ones are left out)."""
    from aicmo.wiring import chains

    built = chains()
    rows = [
        {"capability": cap, "providers": " -> ".join(p.name for p in chain.providers) or "(none configured)"}
        for cap, chain in built.items()
    ]
    console.print(_table(rows, "Provider chains"))


@app.command("lookup")
def lookup(
    capability: str = typer.Argument(
        ..., help="company_by_domain, social_by_email, weather_by_city, revenue_by_email"
    ),
    keys: list[str] = typer.Argument(..., help="Domains, emails or cities."),
) -> None:
    """Ask a chain about a few keys (no cache) and print who answered what."""
    import asyncio

    from aicmo.tasks.gateway import enrich_many
    from aicmo.wiring import chains

    built = chains()
    if capability not in built:
        raise InputError(f"unknown capability {capability!r}; known: {', '.join(built)}")
    result = asyncio.run(enrich_many(built[capability], keys))
    rows = [
        {
            "key": o.key,
            "answer": "found" if o.found else ("not found" if o.ok else "failed"),
            "provider": o.provider,
            "attempts": o.attempts,
            "ms": round(o.elapsed_s * 1000, 1),
            "value / error": _brief(o.value) if o.ok else (o.error or ""),
        }
        for o in result.outcomes
    ]
    console.print(_table(rows, f"{capability}"))
    metrics = [{k: row[k] for k in METRIC_COLUMNS} for row in result.metrics_table()]
    console.print(_table(metrics, "Gateway metrics"))
    failed = [o.key for o in result.outcomes if not o.ok]
    if failed:
        raise AicmoError(
            f"{len(failed)} of {len(result.outcomes)} lookup(s) failed: {', '.join(failed[:10])}"
        )


METRIC_COLUMNS = (
    "provider",
    "calls",
    "successes",
    "not_found",
    "failures_by_kind",
    "retries",
    "failovers",
    "p95_ms",
)


def _brief(value: dict[str, Any] | None, width: int = 70) -> str:
    """The non-empty fields of an answer on one short line."""
    if not value:
        return ""
    text = ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, "", [], {}) and k != "source")
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("fake-server")
def fake_server(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: any free port)."),
    stripe_contacts: int = typer.Option(
        0,
        "--stripe-contacts",
        help="Make Stripe customers of up to N contacts of the store (0: fixtures).",
    ),
    unknown_customers: int = typer.Option(
        3, "--unknown-customers", help="With --stripe-contacts: extra customers that are no contact."
    ),
) -> None:
    """Run the local fake Stripe/GitHub/OpenWeather/Company server in the foreground (Ctrl-C stops it)."""
    import signal
    import threading

    from aicmo.fakes.provider_server import FakeProviderServer

    server = FakeProviderServer(port=port).start()
    if stripe_contacts > 0:
        from aicmo.wiring import engine

        seeded = server.seed_stripe_from_contacts(
            engine(), limit=stripe_contacts, strangers=unknown_customers
        )
        console.print(f"Stripe customers: {seeded}")
    console.print(f"fake provider server on {server.base_url}; point AICMO at it with:")
    for key, value in server.settings_env().items():
        console.print(f"export {key}='{value}'", highlight=False, soft_wrap=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        err_console.print("fake provider server stopped")


@app.command("sync-revenue")
def sync_revenue(
    source: str = typer.Option("charges", "--source", help="charges or payment_intents"),
) -> None:
    """Bring Stripe's succeeded payments into the lake's orders (the sync-stripe-revenue flow)."""
    from aicmo.flows.revenue_sync import sync_stripe_revenue
    from aicmo.tasks.providers.revenue import NOT_CONFIGURED, stripe_configured

    if source not in ("charges", "payment_intents"):
        raise InputError(f"--source must be charges or payment_intents, not {source!r}")
    if not stripe_configured():
        raise ConfigError(NOT_CONFIGURED)
    summary = sync_stripe_revenue(
        source="payment_intents" if source == "payment_intents" else "charges"
    )  # a failed run raises its one-line error
    assert isinstance(summary, dict), "a flow call returns its result, or raises"
    rows = [{"measure": k, "value": v} for k, v in summary.items()]
    console.print(_table(rows, "Stripe revenue sync"))
