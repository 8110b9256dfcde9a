"""``aicmo experiments``: plan before sending, report as a table, a bad parameter as one line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.models.base import utcnow
from aicmo.storage.db import dispose_engines, make_engine, transaction
from aicmo.storage.experiments import experiment_of, ledger_variants
from aicmo.storage.lake import Lake
from aicmo.storage.migrate import upgrade
from tests.crm.helpers import run_cli
from tests.experiments.helpers import ab_definition, write_clicks
from tests.one_line import one_error_line
from tests.publishing.helpers import add_contacts, run, started

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]


def _spec(tmp_path: Path, **experiment: object) -> Path:
    data = ab_definition("spring-ab", [1, 2, 3]).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["experiment"].update(experiment)
    path = tmp_path / f"spring-ab-{len(experiment)}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_plan_shows_the_sample_and_a_bad_parameter_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "AICMO_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    good = subprocess.run(
        [*AICMO, "experiments", "plan", str(_spec(tmp_path))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert "115 sends per variant, 230 in all" in good.stdout and "10.0% of the audience" in good.stdout

    bad = subprocess.run(
        [*AICMO, "experiments", "plan", str(_spec(tmp_path, alpha=2))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    line = one_error_line(bad.stderr)
    assert "experiment.alpha" in line and "0.2" in line, bad.stderr


def test_report_prints_variants_decision_and_lift(
    tmp_path: Path, smtp: LocalSmtpServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AICMO_HOME", str(home))
    monkeypatch.setenv("AICMO_HMAC_KEY", "cli-test-key-0123456789abcdef")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("AICMO_DATABASE_URL", raising=False)
    monkeypatch.delenv("AICMO_LAKE_ROOT", raising=False)
    from aicmo.settings import reset_settings

    reset_settings()
    engine = make_engine(f"sqlite:///{home / 'aicmo.db'}")
    upgrade(engine)
    lake = Lake(str(home / "lake"))
    try:
        ids = add_contacts(engine, 300)
        campaign_id = started(engine, ab_definition("spring-ab", ids))
        asyncio.run(run(engine, campaign_id, smtp.settings(rate_limit_per_s=20_000), lake))
        with transaction(engine) as session:
            variants = ledger_variants(session, campaign_id, "email")
            experiment = experiment_of(session, campaign_id)
            assert experiment is not None
        b = sorted(c for c, v in variants.items() if v == 1)
        write_clicks(lake, campaign_id, b[:60], utcnow(), machine=False)  # after every send

        code, out, err = run_cli(capsys, "campaigns", "preview", "spring-ab")
        assert code == 0 and "115 sends per variant" in out, err
        assert "audience 300:" in out and "230 in the test" in out
        code, out, err = run_cli(capsys, "experiments", "report", "spring-ab")
        assert code == 0, err
        assert "no decision yet" in out and "variants" in out
        rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 5}
        assert "115" in rows["A"] and "challenger" in rows["B"] and "60" in rows["B"]
        assert "plot:" in out and (home / "artifacts" / f"experiment-{campaign_id}.png").is_file()

        code, out, err = run_cli(capsys, "experiments", "decide", "spring-ab")
        assert code == 0 and "decided: B beats A" in out, err
        code, out, _ = run_cli(capsys, "experiments", "report", "spring-ab")
        assert "B beats A" in out and "winner" in out

        code, _, err = run_cli(capsys, "experiments", "report", "nope")
        assert code == 1 and "no campaign named 'nope'" in err and len(err.strip().splitlines()) == 1
    finally:
        engine.dispose()
        dispose_engines()
        reset_settings()
