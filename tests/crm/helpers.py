"""Small builders shared by the CRM tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from aicmo.storage.crm import contact_ids_by_email, upsert_contacts
from aicmo.storage.db import transaction


def add_contacts(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert contacts (each row needs an ``email``); returns ``{email: id}``."""
    keys = sorted({k for r in rows for k in r})
    full = [{k: r.get(k) for k in keys} for r in rows]
    for r in full:
        if "tags" in r and r["tags"] is None:
            r["tags"] = []
    with transaction(engine) as session:
        upsert_contacts(session, full)
        return contact_ids_by_email(session, [r["email"] for r in rows])


def run_cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    """Run ``aicmo ARGS`` in this process (as the console script does); returns exit code, stdout, stderr."""
    import sys

    from aicmo.cli import main
    from aicmo.settings import reset_settings

    reset_settings()
    capsys.readouterr()
    old = sys.argv
    sys.argv = ["aicmo", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    finally:
        sys.argv = old
    captured = capsys.readouterr()
    return code, captured.out, captured.err
