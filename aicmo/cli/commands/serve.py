"""``aicmo serve``: the tracking service (open pixel, clicks, unsubscribes, provider webhooks)."""

from __future__ import annotations

from pathlib import Path

import typer

from aicmo.cli.console import console
from aicmo.errors import ConfigError
from aicmo.wiring import engine


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8700, "--port", min=0, max=65535, help="Port (0: any free port)."),
    port_file: Path | None = typer.Option(None, "--port-file", help="Write the bound port here."),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="Reverse proxies whose X-Forwarded-For/-Proto are trusted (comma-separated IPs, or '*').",
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the tracking service until interrupted; acknowledged events survive a crash (spool)."""
    from aicmo.settings import get_settings
    from aicmo.tasks.tracking.listener import bind, uvicorn_server
    from aicmo.tasks.tracking.service import create_app

    settings = get_settings()
    engine()  # consent and suppression changes need the store's tables: migrated or refused here
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound = sock.getsockname()[1]
    if port_file is not None:
        port_file.write_text(str(bound))
    console.print(
        f"tracking service on http://{host}:{bound} (public {settings.tracking.base_url}), "
        f"spool {settings.spool_dir}",
        highlight=False,
    )
    server = uvicorn_server(
        create_app(settings), log_level=log_level, forwarded_allow_ips=forwarded_allow_ips
    )
    server.run(sockets=[sock])


def register(app: typer.Typer) -> None:
    """Add ``aicmo serve``."""
    app.command("serve")(serve)
