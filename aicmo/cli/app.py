"""The ``aicmo`` command line: one Typer app, command groups registered from ``aicmo.cli.commands``.

Errors a user can act on (bad settings, bad input) print one line on stderr and exit non-zero
without a traceback.
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from aicmo.cli.console import err_console
from aicmo.errors import AicmoError
from aicmo.prefect_env import configure_prefect
from aicmo.settings import SETTINGS_PREFIXES, get_settings

app = typer.Typer(
    help="AICMO: campaign data pipeline (CRM, enrichment, publishing, analytics, media).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from aicmo.cli.commands import (
        ads,
        analytics,
        campaigns,
        contacts,
        db,
        demo,
        events,
        experiments,
        generate,
        media,
        pipeline,
        providers,
        retention,
        segments,
        serve,
    )

    demo.register(app)
    generate.register(app)
    serve.register(app)
    app.add_typer(pipeline.app, name="pipeline")
    app.add_typer(db.app, name="db")
    app.add_typer(contacts.app, name="contacts")
    app.add_typer(segments.app, name="segments")
    app.add_typer(analytics.app, name="analytics")
    app.add_typer(providers.app, name="providers")
    app.add_typer(events.app, name="events")
    app.add_typer(ads.app, name="ads")
    app.add_typer(media.app, name="media")
    app.add_typer(campaigns.app, name="campaigns")
    app.add_typer(retention.app, name="retention")
    app.add_typer(experiments.app, name="experiments")


def _settings_error(exc: ValidationError) -> str:
    """One line naming each bad environment variable and why it was refused."""
    prefix = SETTINGS_PREFIXES.get(exc.title, "AICMO_")
    parts = []
    for err in exc.errors():
        field = "_".join(str(p) for p in err["loc"]).upper()
        parts.append(f"{prefix}{field}: {err['msg']} (got {err.get('input')!r})")
    return "invalid setting: " + "; ".join(parts)


def _store_error(exc: DBAPIError) -> str:
    """One line: which store could not be used and the driver's first line of why."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
    try:
        where = get_settings().resolved_database_url
        where = make_url(where).render_as_string(hide_password=True)
    except Exception:
        where = "the store"
    return f"cannot use the store {where}: {reason} (check AICMO_DATABASE_URL)"


def main() -> None:
    """Entry point: configure Prefect for offline use, run the app, turn known errors into one line."""
    try:
        settings = get_settings()
        configure_prefect(settings.home)
        _register()
        app()
    except ValidationError as exc:
        err_console.print(f"[red]error:[/] {escape(_settings_error(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except DBAPIError as exc:
        err_console.print(f"[red]error:[/] {escape(_store_error(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except AicmoError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/]")
        sys.exit(130)
