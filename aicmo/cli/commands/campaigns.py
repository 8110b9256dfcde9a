"""``aicmo campaigns``: define, schedule, send, pause, resume, cancel and inspect campaigns."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from aicmo.cli.console import console
from aicmo.errors import InputError
from aicmo.wiring import engine

app = typer.Typer(help="Multi-channel campaigns and their send ledger.", no_args_is_help=True)


def _factory_and_links():  # type: ignore[no-untyped-def]
    from aicmo.settings import get_settings
    from aicmo.tasks.publishing.channels.registry import channel_factory
    from aicmo.tasks.publishing.links import tracking_links

    settings = get_settings()
    pub = settings.publishing
    return channel_factory(pub, tracking_base_url=settings.tracking.base_url), tracking_links(
        settings.tracking
    )


@app.command("create")
def create_cmd(file: Path = typer.Argument(..., help="Campaign definition (.yaml/.yml/.json).")) -> None:
    """Check a definition (channels, templates, audience, assets) and store it as a draft."""
    from aicmo.tasks.publishing.campaigns import create_campaign
    from aicmo.tasks.publishing.definition import load_definition

    definition = load_definition(file)
    campaign_id = create_campaign(engine(), definition)
    console.print(f"campaign {escape(definition.name)!r} saved as draft (id {campaign_id})")


@app.command("list")
def list_cmd() -> None:
    """The newest campaigns."""
    from aicmo.tasks.publishing.campaigns import campaign_rows

    rows = campaign_rows(engine())
    if not rows:
        console.print("no campaigns")
        return
    table = Table()
    for col in ("id", "name", "status", "channels", "send_at"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), escape(r["name"]), r["status"], r["channels"], str(r["send_at"] or ""))
    console.print(table)


@app.command("show")
def show_cmd(name: str = typer.Argument(..., help="Campaign name.")) -> None:
    """A campaign's definition and status."""
    from aicmo.storage.db import transaction
    from aicmo.storage.publishing import get_campaign

    with transaction(engine()) as session:
        c = get_campaign(session, name)
        console.print(f"[bold]{escape(c.name)}[/] (id {c.id}): {c.status}")
        if c.status_reason:
            console.print(f"  reason: {escape(c.status_reason)}")
        console.print(f"  channels: {', '.join(c.channels or [c.channel])}")
        console.print(f"  audience: {escape(str(c.audience))}")
        console.print(f"  send at: {c.send_at or 'when scheduled'}; UTM: {escape(str(c.utm))}")
        console.print(f"  assets: {c.asset_ids or 'none'}")


@app.command("preview")
def preview_cmd(
    name: str = typer.Argument(..., help="Campaign name."),
    contact: str | None = typer.Option(None, "--contact", help="Render for the contact with this email."),
) -> None:
    """Each channel's message as the contact would get it."""
    from aicmo.tasks.publishing.campaigns import preview

    _print_experiment_plan(name)
    for channel, rendered in preview(engine(), name, contact).items():
        console.rule(channel)
        for part in ("subject", "title", "text", "html", "url"):
            value = getattr(rendered, part)
            if value:
                console.print(f"[bold]{part}:[/] {escape(value)}")
        if rendered.data:
            console.print(f"[bold]data:[/] {escape(str(rendered.data))}")


def _print_experiment_plan(name: str) -> None:
    from aicmo.cli.commands.experiments import plan_text
    from aicmo.storage.db import transaction
    from aicmo.storage.publishing import get_campaign
    from aicmo.tasks.experiments.planning import plan_of
    from aicmo.tasks.publishing.campaigns import audience_ids
    from aicmo.tasks.publishing.definition import definition_of

    with transaction(engine()) as session:
        definition = definition_of(get_campaign(session, name))
    if definition.experiment is not None:
        audience = len(audience_ids(engine(), definition))
        console.rule("experiment")
        console.print(
            plan_text(definition.name, definition.experiment, plan_of(definition.experiment), audience)
        )


@app.command("test-send")
def test_send_cmd(
    name: str = typer.Argument(..., help="Campaign name."),
    to: str = typer.Option(..., "--to", help="An email address (email) or phone number (SMS)."),
) -> None:
    """Send one [TEST] copy outside the ledger."""
    from aicmo.tasks.publishing.campaigns import test_send

    factory, links = _factory_and_links()
    channel, verdict = test_send(engine(), name, to, channel_factory=factory, links=links)
    if verdict.state != "sent":
        raise InputError(f"test {channel} to {to!r} not sent: {verdict.state}: {verdict.error}")
    console.print(f"test {channel} sent to {escape(to)} ({escape(verdict.provider_message_id or '')})")


@app.command("schedule")
def schedule_cmd(
    name: str = typer.Argument(..., help="Campaign name."),
    at: str | None = typer.Option(
        None, "--at", help="When to send (ISO 8601 with a zone); default its own send_at, or now."
    ),
) -> None:
    """Schedule a draft; the publish flow (or 'aicmo campaigns send') sends it when due."""
    from aicmo.tasks.publishing.campaigns import schedule

    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"--at {at!r}: not an ISO 8601 time (e.g. 2026-12-01T09:00:00Z)") from None
    schedule(engine(), name, when)
    console.print(f"campaign {escape(name)!r} scheduled")


@app.command("send")
def send_cmd(name: str = typer.Argument(..., help="Campaign name.")) -> None:
    """Run the publish flow for one campaign now (it must be scheduled, sending or paused->resumed)."""
    from aicmo.flows.publish import publish_campaigns

    result = publish_campaigns(campaign=name)
    for report in result["campaigns"]:
        console.print(f"{escape(report['campaign'])}: {report['status']}, {report['sent']} sent this run")
    _print_status(name)


@app.command("pause")
def pause_cmd(name: str = typer.Argument(..., help="Campaign name.")) -> None:
    """Stop further sends (running senders stop within seconds)."""
    from aicmo.tasks.publishing.campaigns import pause

    pause(engine(), name)
    console.print(f"campaign {escape(name)!r} paused")


@app.command("resume")
def resume_cmd(name: str = typer.Argument(..., help="Campaign name.")) -> None:
    """Let a paused campaign go on."""
    from aicmo.tasks.publishing.campaigns import resume

    resume(engine(), name)
    console.print(f"campaign {escape(name)!r} resumed")


@app.command("cancel")
def cancel_cmd(name: str = typer.Argument(..., help="Campaign name.")) -> None:
    """Cancel: nothing more is sent; unsent rows are skipped as cancelled."""
    from aicmo.tasks.publishing.campaigns import cancel

    cancel(engine(), name)
    console.print(f"campaign {escape(name)!r} cancelled")


def _print_status(name: str) -> None:
    from aicmo.tasks.publishing.campaigns import status

    st = status(engine(), name)
    console.print(
        f"[bold]{escape(st.name)}[/]: {st.status}" + (f" ({escape(st.reason)})" if st.reason else "")
    )
    channels = sorted({c for _, c in st.ledger})
    states = ("pending", "claimed", "sent", "unknown", "failed_transient", "failed_permanent", "skipped")
    table = Table()
    table.add_column("state")
    for c in channels:
        table.add_column(c, justify="right")
    for s in states:
        if any((s, c) in st.ledger for c in channels):
            table.add_row(s, *(str(st.ledger.get((s, c), 0)) for c in channels))
    console.print(table)
    if st.skip_reasons:
        console.print("skipped/failed: " + ", ".join(f"{k} {v}" for k, v in sorted(st.skip_reasons.items())))
    for row, contact, channel, error in st.unknown:
        console.print(f"unknown: row {row} contact {contact} {channel}: {escape(error or '')}")


@app.command("status")
def status_cmd(name: str = typer.Argument(..., help="Campaign name.")) -> None:
    """Ledger counts by state and channel, reasons, and rows left unknown."""
    _print_status(name)
