"""``aicmo campaigns`` from the shell: create, preview, schedule, send (the publish flow), status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.storage.db import make_engine
from aicmo.storage.migrate import upgrade
from tests.publishing.helpers import add_contacts

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]


def _run(args: list[str], home: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AICMO_HOME": str(home), "COLUMNS": "200", **env_extra}
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_HOME", None)
    return subprocess.run(
        [*AICMO, *args], env=env, cwd=home.parent, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_campaign_lifecycle_from_the_shell(tmp_path: Path, smtp: LocalSmtpServer) -> None:
    home = tmp_path / "home"
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
    env = {"AICMO_SMTP_PORT": str(smtp.port), "AICMO_SMTP_HOST": "127.0.0.1"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text().replace("contact.first_name }}</p>", "contact.nick }}</p>"))
    result = _run(["campaigns", "create", str(bad)], home, **env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "messages.email.html" in result.stderr and "nick" in result.stderr

    assert _run(["campaigns", "create", str(spec)], home, **env).returncode == 0
    preview = _run(["campaigns", "preview", "spring", "--contact", "p3@example.com"], home, **env)
    assert preview.returncode == 0 and "Hi Ann3" in preview.stdout
    test = _run(["campaigns", "test-send", "spring", "--to", "qa@example.com"], home, **env)
    assert test.returncode == 0, test.stderr
    assert smtp.per_recipient() == {"qa@example.com": 1}
    assert _run(["campaigns", "schedule", "spring"], home, **env).returncode == 0
    sent = _run(["campaigns", "send", "spring"], home, **env)
    assert sent.returncode == 0, sent.stderr[-3000:]
    assert smtp.count == 13 and max(smtp.per_recipient().values()) == 1
    status = _run(["campaigns", "status", "spring"], home, **env)
    assert "spring: sent" in status.stdout and "12" in status.stdout
    again = _run(["campaigns", "pause", "spring"], home, **env)
    assert again.returncode == 1 and "is sent; cannot pause" in again.stderr
    listed = _run(["campaigns", "list"], home, **env)
    assert "spring" in listed.stdout
