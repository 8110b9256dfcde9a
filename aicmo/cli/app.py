"""The ``aicmo`` command line: one Typer app, command groups registered from ``aicmo.cli.commands``.

Errors a user can act on (bad settings, bad input) print one line on stderr and exit non-zero
without a traceback.

Start-up stays fast: the command modules import only typer and rich at module level, and the
settings, Prefect's environment and the libraries a command needs are loaded when a command runs,
so ``--help`` and a mistyped argument answer without importing Prefect, Polars or SQLAlchemy
(tests/cli/test_startup.py checks it).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape

from aicmo.cli.console import err_console
from aicmo.errors import AicmoError

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


def _prepare() -> None:
    """Read the settings (a bad one stops here) and set Prefect's offline environment before it loads."""
    from aicmo.prefect_env import configure_prefect
    from aicmo.settings import get_settings

    configure_prefect(get_settings().home)


def _prepared(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        _prepare()
        return callback(*args, **kwargs)

    return run


def _prepare_before_commands(command: Any) -> None:
    """Make every command (not ``--help``, not a usage error) read the settings before it runs.

    ``command`` is the Click command tree Typer builds: groups have ``commands``, leaves a ``callback``.
    """
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        for sub in subcommands.values():
            _prepare_before_commands(sub)
    elif command.callback is not None:
        command.callback = _prepared(command.callback)


def _settings_error(exc: Any) -> str:
    """One line naming each bad environment variable and why it was refused."""
    from aicmo.settings import SETTINGS_PREFIXES

    prefix = SETTINGS_PREFIXES.get(exc.title, "AICMO_")
    parts = []
    for err in exc.errors():
        field = "_".join(str(p) for p in err["loc"]).upper()
        parts.append(f"{prefix}{field}: {err['msg']} (got {err.get('input')!r})")
    return "invalid setting: " + "; ".join(parts)


def _store_error(exc: Any) -> str:
    """One line: which store could not be used and the driver's first line of why."""
    from sqlalchemy.engine import make_url

    from aicmo.settings import get_settings

    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
    try:
        where = get_settings().resolved_database_url
        where = make_url(where).render_as_string(hide_password=True)
    except Exception:
        where = "the store"
    return f"cannot use the store {where}: {reason} (check AICMO_DATABASE_URL)"


def _one_line(exc: Exception) -> tuple[str, int] | None:
    """The one-line message and exit code of an error a user can act on; None for a bug.

    pydantic's and SQLAlchemy's error classes are looked up among the loaded modules: an error of
    a library that was never imported cannot have been raised, and importing one just to check
    would cost the start-up time the lazy imports save.
    """
    pydantic_core = sys.modules.get("pydantic_core")
    if pydantic_core is not None and isinstance(exc, pydantic_core.ValidationError):
        return _settings_error(exc), 2
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.DBAPIError):
        return _store_error(exc), 2
    if isinstance(exc, AicmoError):
        return str(exc), exc.exit_code
    return None


def main() -> None:
    """Entry point: run the app, settings read and Prefect configured for offline use when a command
    runs; known errors become one line."""
    try:
        _register()
        command = typer.main.get_command(app)
        _prepare_before_commands(command)
        command()
    except Exception as exc:
        known = _one_line(exc)
        if known is None:
            raise
        message, code = known
        err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(code)
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/]")
        sys.exit(130)
