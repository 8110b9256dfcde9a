"""``aicmo providers sync-revenue`` when Stripe is unavailable: one line naming what to check, exit 1, no traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aicmo.fakes.provider_server import FakeProviderServer

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]
BAD_KEY = "sk_test_51NotTheRightKeyAtAll0000"


def _bad_key(server: FakeProviderServer, env: dict[str, str]) -> None:
    env["AICMO_STRIPE_API_KEY"] = BAD_KEY


def _outage(server: FakeProviderServer, env: dict[str, str]) -> None:
    server.faults.fail("stripe.customers", 503, times=None)


def _truncated_pages(server: FakeProviderServer, env: dict[str, str]) -> None:
    server.faults.truncated("stripe.customers", times=None)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("break_stripe", "says"),
    [
        (_bad_key, "check AICMO_STRIPE_API_KEY"),
        (_outage, "http_5xx"),
        (_truncated_pages, "was broken 3 times"),
    ],
    ids=["bad-key", "5xx-after-retries", "truncated-page"],
)
def test_stripe_failures_print_one_line_and_exit_1(
    prefect_harness: None,
    tmp_path: Path,
    break_stripe: Callable[[FakeProviderServer, dict[str, str]], None],
    says: str,
) -> None:
    from prefect.settings import PREFECT_API_URL

    home = tmp_path / "home"
    with FakeProviderServer() as server:
        env = {
            **os.environ,
            **server.settings_env(),
            "AICMO_HOME": str(home),
            "COLUMNS": "200",
            # The session's Prefect server: no ephemeral server to start per run.
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "AICMO_GATEWAY_MAX_ATTEMPTS": "2",
            "AICMO_GATEWAY_BACKOFF_BASE_S": "0.01",
            "AICMO_GATEWAY_BACKOFF_MAX_S": "0.05",
        }
        env.pop("AICMO_DATABASE_URL", None)
        break_stripe(server, env)
        result = subprocess.run(
            [*AICMO, "providers", "sync-revenue"], env=env, capture_output=True, text=True, timeout=300
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output[-3000:]
    assert lines[0].startswith("error: Stripe revenue sync stopped") and says in lines[0]
    assert BAD_KEY not in output and BAD_KEY[8:] not in output  # the refused key stays masked
    with sqlite3.connect(home / "aicmo.db") as conn:  # the run log says the sync failed
        assert conn.execute("SELECT flow_name, status FROM flow_runs").fetchall() == [
            ("sync-stripe-revenue", "failed")
        ]


@pytest.mark.slow
def test_the_daily_chain_names_a_failed_revenue_step_in_one_error_line(
    prefect_harness: None, tmp_path: Path
) -> None:
    """The other steps still run; the chain ends with one line naming the failed step, no traceback."""
    from prefect.settings import PREFECT_API_URL

    home = tmp_path / "home"
    with FakeProviderServer() as server:
        env = {**os.environ, **server.settings_env(), "AICMO_HOME": str(home), "COLUMNS": "200",
               "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # fmt: skip
        env.pop("AICMO_DATABASE_URL", None)
        _bad_key(server, env)
        result = subprocess.run(
            [*AICMO, "pipeline", "daily", "--date", "2026-11-20"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: revenue failed: ProviderUnavailable"), output[
        -3000:
    ]
    assert BAD_KEY not in output and BAD_KEY[8:] not in output
    with sqlite3.connect(home / "aicmo.db") as conn:
        runs = dict(conn.execute("SELECT flow_name, status FROM flow_runs").fetchall())
    assert runs["daily-pipeline"] == "failed" and runs["sync-stripe-revenue"] == "failed"
    assert runs["enrich-contacts"] == "completed"
