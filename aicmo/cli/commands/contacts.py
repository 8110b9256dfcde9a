"""``aicmo contacts``: import, export, erase, and read back a contact's history."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from aicmo.cli.console import console, err_console, progress_bar
from aicmo.cli.tables import pairs_table, rows_table
from aicmo.wiring import engine, lake

app = typer.Typer(help="Import, export, erase and inspect contacts.", no_args_is_help=True)


def _contact_id(email: str) -> int:
    from aicmo.tasks.crm.contacts import find_contact_id

    return find_contact_id(engine(), email)


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="CSV file of contacts (comma or semicolon, UTF-8 or Latin-1)."),
    errors: Path | None = typer.Option(
        None, "--errors", help="Where to write bad rows (default FILE.errors.csv)."
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Contacts per transaction."),
) -> None:
    """Import contacts; bad rows go to an errors CSV and make the exit code 1, good rows are imported.

    Exports of Keila, Ghost, listmonk, Mautic and Mailchimp keep their subscription status: whoever
    unsubscribed, bounced or was blocklisted there is stored withdrawn and suppressed, never mailed.
    """
    from aicmo.tasks.crm.csv_import import import_contacts

    report = import_contacts(engine(), file, errors_path=errors, batch_size=batch_size, progress=progress_bar)
    title = f"import of {file.name} ({report.encoding}, {report.delimiter!r}-separated)"
    console.print(pairs_table(((k.replace("_", " "), v) for k, v in report.counts().items()), title=title))
    if report.ignored_columns:
        console.print(f"ignored columns: {escape(', '.join(report.ignored_columns))}")
    if report.skipped_erased:
        console.print(f"{report.skipped_erased} row(s) skipped: the address was erased earlier")
    if report.errors:
        err_console.print(
            f"[yellow]{report.invalid_rows} bad row(s); details in {escape(str(report.errors_path))}[/]",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command("export")
def export_cmd(
    path: Path = typer.Argument(..., help="CSV file to write."),
    segment: str | None = typer.Option(None, "--segment", help="Only this segment (saved NAME or a FILE)."),
) -> None:
    """Export contacts to a spreadsheet-safe CSV (formula cells neutralized)."""
    from aicmo.settings import get_settings
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm.export import export_contacts
    from aicmo.tasks.crm.segment_store import get_segment
    from aicmo.tasks.crm.segments import compile_sql, load_definition

    eng = engine()
    where = None
    if segment is not None:
        if Path(segment).is_file():
            definition = load_definition(Path(segment))
        else:
            with transaction(eng) as session:
                definition = get_segment(session, segment)
        where = compile_sql(definition)
    result = export_contacts(eng, path, where=where, home=get_settings().home)
    console.print(escape(f"exported {result.rows} contact(s) to {result.path}"))


@app.command("erase")
def erase_cmd(email: str = typer.Argument(..., help="Email of the person to erase.")) -> None:
    """Erase a person everywhere (store, lake, caches, exports); keep only an HMAC tombstone."""
    from aicmo.settings import get_settings
    from aicmo.tasks.crm.erasure import erase_contact

    report = erase_contact(engine(), lake(), email, home=get_settings().home)
    if not report.contact_found:
        console.print("no contact with that email in the store; tombstone recorded")
    table = Table(title="erased")
    table.add_column("what")
    table.add_column("removed", justify="right")
    table.add_row("contact rows", str(report.contacts))
    table.add_row("consents", str(report.consents))
    table.add_row("lifecycle changes", str(report.lifecycle_changes))
    table.add_row("tier changes", str(report.tier_changes))
    table.add_row("outbox messages", str(report.outbox_messages))
    table.add_row("push endpoints", str(report.push_endpoints))
    for name, rows in sorted(report.lake_rows.items()):
        table.add_row(f"lake {name} rows ({report.lake_partitions[name]} partition(s) rewritten)", str(rows))
    table.add_row("provider cache entries", str(report.cache_entries))
    table.add_row(f"export rows ({report.export_files} file(s) rewritten)", str(report.export_rows))
    console.print(table)
    console.print("tombstone: " + ("added" if report.tombstone_added else "already present"))


@app.command("history")
def history_cmd(email: str = typer.Argument(..., help="Email of the contact.")) -> None:
    """Show a contact's lifecycle changes, consents and suppression."""
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm import consent as consent_ops
    from aicmo.tasks.crm.contacts import get_contact
    from aicmo.tasks.crm.lifecycle import history
    from aicmo.tasks.crm.suppression import is_suppressed

    cid = _contact_id(email)
    with transaction(engine()) as session:
        changes = history(session, cid)
        consents = consent_ops.status(session, cid)
        contact = get_contact(session, cid)
        reason = is_suppressed(session, contact.email, "email")
    rows = [
        {"when": c.changed_at, "from": c.from_stage, "to": c.to_stage, "reason": c.reason} for c in changes
    ]
    console.print(rows_table(rows, title=f"lifecycle of contact {cid} (now {contact.lifecycle_stage})"))
    for channel, consent in sorted(consents.items()):
        line = f"consent {channel}: {consent.status} (source {consent.source}, text {consent.text_version})"
        console.print(escape(line))
    console.print(f"email suppressed: {reason or 'no'}")


@app.command("stage")
def stage_cmd(
    email: str = typer.Argument(..., help="Email of the contact."),
    stage: str = typer.Argument(..., help="New lifecycle stage."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the history)."),
) -> None:
    """Move a contact to another lifecycle stage (the transition must be allowed)."""
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm.lifecycle import change_stage

    cid = _contact_id(email)
    with transaction(engine()) as session:
        changed = change_stage(session, [cid], stage, reason)
    console.print("stage changed" if changed else "already in that stage")


@app.command("suppress")
def suppress_cmd(
    address: str = typer.Argument(..., help="Email address (or phone for --channel sms)."),
    channel: str = typer.Option("email", "--channel", help="email, sms, push or all."),
    reason: str = typer.Option(
        "manual", "--reason", help="hard_bounce, complaint, unsubscribe, sms_stop, manual."
    ),
) -> None:
    """Add an address to the global suppression list."""
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm.suppression import suppress

    with transaction(engine()) as session:
        added = suppress(session, address, channel, reason, source="cli")
    console.print("suppressed" if added else "already suppressed")


@app.command("opt-in")
def opt_in_cmd(
    email: str = typer.Argument(..., help="Email of the contact."),
    channel: str = typer.Option("email", "--channel", help="email, sms or push."),
    text_version: str = typer.Option(..., "--text-version", help="Version of the consent text shown."),
    source: str = typer.Option("cli", "--source", help="Where the consent was given."),
) -> None:
    """Start double opt-in: record a pending consent and print its confirmation token."""
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm import consent as consent_ops

    cid = _contact_id(email)
    with transaction(engine()) as session:
        tokens = consent_ops.request_opt_in(session, [cid], channel, source=source, text_version=text_version)
    console.print(
        f"confirmation token: {tokens[cid]}" if tokens else "already pending or confirmed; not asked again"
    )


@app.command("confirm")
def confirm_cmd(token: str = typer.Argument(..., help="Confirmation token from the opt-in message.")) -> None:
    """Confirm a pending consent."""
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm import consent as consent_ops

    with transaction(engine()) as session:
        cid = consent_ops.confirm(session, token)
    console.print(f"consent confirmed for contact {cid}")
