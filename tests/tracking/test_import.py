"""``aicmo events import``: the webhook parsers over export files, one line per bad record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aicmo.settings import get_settings
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.tasks.crm.suppression import is_suppressed
from aicmo.wiring import engine
from tests.crm.helpers import run_cli
from tests.tracking.webhook_cases import (
    build_mailgun,
    build_postmark,
    sendgrid_events,
    ses_bounce,
    sns_envelope,
)

NOW = 1_795_000_000.0


def _lake() -> Lake:
    return Lake(get_settings().resolved_lake_root)


def test_jsonl_with_bad_lines_imports_the_good_ones_once(aicmo_home: Path, capsys: Any) -> None:
    assert run_cli(capsys, "db", "upgrade")[0] == 0
    good = sendgrid_events(NOW)
    lines = [json.dumps(good[0]), "{not json", json.dumps({"email": "x@example.com"}), json.dumps(good[1])]
    lines.append(json.dumps({**good[2], "event": "deferred"}))  # a kind the lake does not keep
    path = aicmo_home / "sendgrid.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(capsys, "events", "import", str(path), "--format", "sendgrid")
    assert code == 1
    assert "new in the lake" in out and "bad records" in out
    bad = [line for line in err.splitlines() if line.strip()]
    assert len(bad) == 2
    assert bad[0].startswith(f"{path}:2: not JSON")
    assert bad[1].startswith(f"{path}:3: ") and "'event'" in bad[1]
    assert "Traceback" not in err
    assert _lake().scan("events").collect().height == 2
    with transaction(engine()) as session:
        assert is_suppressed(session, "example@test.com", "email") == "hard_bounce"
    path.write_text(json.dumps(good[:2]))  # the same events again, as a JSON array
    code, _out, _ = run_cli(capsys, "events", "import", str(path), "--format", "sendgrid")
    assert code == 0
    assert _lake().scan("events").collect().height == 2


@pytest.mark.parametrize("fmt", ["mailgun", "postmark", "ses", "twilio"])
def test_each_format_imports_its_export_records(fmt: str, aicmo_home: Path, capsys: Any) -> None:
    assert run_cli(capsys, "db", "upgrade")[0] == 0
    records: list[Any] = {
        "mailgun": [json.loads(build_mailgun(ts=NOW).body)["event-data"]],
        "postmark": [json.loads(build_postmark(ts=NOW).body)],
        "ses": [ses_bounce(NOW), sns_envelope(ses_bounce(NOW + 5), cert_url="https://x/y.pem", ts=NOW)],
        "twilio": [
            {"sid": "SM1", "status": "delivered", "to": "+14155550100", "date_updated": "Thu, 24 Aug 2026 05:01:45 +0000"},
            {"MessageSid": "SM2", "MessageStatus": "undelivered", "ErrorCode": "30005", "To": "+14155550101",
             "Timestamp": "2026-08-24T05:01:45Z"},
        ],
    }[fmt]  # fmt: skip
    path = aicmo_home / f"{fmt}.json"
    path.write_text(json.dumps(records, indent=2))
    code, _out, err = run_cli(capsys, "events", "import", str(path), "--format", fmt)
    assert code == 0, err
    events = _lake().scan("events").collect()
    assert events.height == len(records)
    assert set(events.get_column("provider")) == {fmt}


def test_unknown_format_and_missing_file_are_one_line(aicmo_home: Path, capsys: Any, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "events", "import", str(tmp_path / "nope.json"), "--format", "sendgrid")
    assert code == 1 and "no such file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "x.json").write_text("[]")
    code, _, err = run_cli(capsys, "events", "import", str(tmp_path / "x.json"), "--format", "sparkpost")
    assert code == 1 and "unknown format" in err and len(err.strip().splitlines()) == 1


def test_serve_on_a_busy_port_is_one_line(aicmo_home: Path, capsys: Any) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, _, err = run_cli(capsys, "serve", "--port", str(busy.getsockname()[1]))
    assert code == 2
    assert "cannot listen on 127.0.0.1" in err and "Traceback" not in err
