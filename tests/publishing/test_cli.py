"""``aicmo campaigns``: create, preview, test-send, schedule, send (the publish flow, from the shell), status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.storage.db import dispose_engines, make_engine
from aicmo.storage.migrate import upgrade
from tests.crm.helpers import run_cli
from tests.publishing.helpers import add_contacts

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]


@pytest.mark.slow
def test_campaign_lifecycle_from_the_shell(
    tmp_path: Path,
    smtp: LocalSmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    prefect_api_url: str,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"AICMO_HOME": str(home), "AICMO_SMTP_PORT": str(smtp.port), "AICMO_SMTP_HOST": "127.0.0.1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AICMO_DATABASE_URL", raising=False)
    engine = make_engine(f"sqlite:///{home / 'aicmo.db'}")
    upgrade(engine)
    ids = add_contacts(engine, 12)
    engine.dispose()
    spec = tmp_path / "spring.yaml"
    spec.write_text(
        "name: spring\nchannels: [email]\n"
        f"audience: {{contact_ids: {ids}}}\n"
        "messages:\n  email:\n    subject: 'Hi {{ contact.first_name }}'\n"
        "    html: '<p>Hello {{ contact.first_name }}</p><a href=\"https://shop.example.com\">shop</a>'\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text().replace("contact.first_name }}</p>", "contact.nick }}</p>"))
    try:
        code, _, err = run_cli(capsys, "campaigns", "create", str(bad))
        assert code == 1 and "Traceback" not in err
        assert "messages.email.html" in err and "nick" in err

        assert run_cli(capsys, "campaigns", "create", str(spec))[0] == 0
        code, out, _ = run_cli(capsys, "campaigns", "preview", "spring", "--contact", "p3@example.com")
        assert code == 0 and "Hi Ann3" in out
        code, _, err = run_cli(capsys, "campaigns", "test-send", "spring", "--to", "qa@example.com")
        assert code == 0, err
        assert smtp.per_recipient() == {"qa@example.com": 1}
        assert run_cli(capsys, "campaigns", "schedule", "spring")[0] == 0

        # the publish flow, as a user runs it: its own process, on the session's Prefect server
        # (tests/cli/test_killed_runs.py covers a CLI run on its own ephemeral server)
        shell_env = {**os.environ, **env, "COLUMNS": "200", "PREFECT_API_URL": prefect_api_url}
        sent = subprocess.run(
            [*AICMO, "campaigns", "send", "spring"],
            env=shell_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert sent.returncode == 0, sent.stderr[-3000:]
        assert "spring: sent" in sent.stdout
        assert smtp.count == 13 and max(smtp.per_recipient().values()) == 1

        code, out, _ = run_cli(capsys, "campaigns", "status", "spring")
        assert "spring: sent" in out and "12" in out
        code, _, err = run_cli(capsys, "campaigns", "pause", "spring")
        assert code == 1 and "is sent; cannot pause" in err
        assert "spring" in run_cli(capsys, "campaigns", "list")[1]
    finally:
        dispose_engines()
