"""``aicmo db``: migrate and inspect the SQL store."""

from __future__ import annotations

import typer

from aicmo.cli.console import console
from aicmo.wiring import engine

app = typer.Typer(help="Migrate and inspect the SQL store.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Run Alembic migrations up to REVISION (default: head)."""
    from aicmo.storage.migrate import current_revision, upgrade

    eng = engine(check_schema=False)
    upgrade(eng, revision)
    console.print(f"store at revision [bold]{current_revision(eng)}[/] ({eng.url.render_as_string()})")


@app.command("current")
def current_cmd() -> None:
    """Show the store's revision and the newest one this version ships."""
    from aicmo.storage.migrate import current_revision, head_revision

    eng = engine(check_schema=False)
    console.print(f"current: {current_revision(eng) or '(empty)'}  head: {head_revision(eng)}")
