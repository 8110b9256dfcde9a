"""prefect.yaml: a deployment for every flow, accepted by ``prefect deploy --all``."""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _flows_in_repo() -> set[str]:
    """``flows/<file>.py:<function>`` for every function decorated with ``@flow``."""
    found = set()
    for path in sorted((ROOT / "flows").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for deco in node.decorator_list:
                    target = deco.func if isinstance(deco, ast.Call) else deco
                    if isinstance(target, ast.Name) and target.id == "flow":
                        found.add(f"flows/{path.name}:{node.name}")
    return found


def _config() -> dict[str, object]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())  # type: ignore[no-any-return]


def test_every_flow_has_a_deployment_and_daily_ones_have_a_timezone() -> None:
    deployments = _config()["deployments"]
    assert isinstance(deployments, list)
    entrypoints = {d["entrypoint"] for d in deployments}
    assert _flows_in_repo() <= entrypoints, f"flows without deployment: {_flows_in_repo() - entrypoints}"
    assert entrypoints <= _flows_in_repo(), f"deployments of missing flows: {entrypoints - _flows_in_repo()}"
    for d in deployments:
        assert d.get("description"), f"{d['name']} has no description"
        for schedule in d.get("schedules") or []:
            assert schedule.get("timezone"), f"{d['name']} schedule without an explicit timezone"
    assert any(d["name"] == "daily" and d.get("schedules") for d in deployments)


@pytest.mark.slow
def test_prefect_deploy_all_accepts_the_file(prefect_harness: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL

    async def create_pool() -> None:
        async with get_client() as client:
            await client.create_work_pool(
                WorkPoolCreate(name="aicmo-process", type="process"), overwrite=True
            )

    asyncio.run(create_pool())
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "AICMO_PROJECT_DIR": str(ROOT),
    }
    prefect_cli = Path(sys.executable).with_name("prefect")
    result = subprocess.run(
        [str(prefect_cli), "--no-prompt", "deploy", "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    async def read() -> dict[str, object]:
        async with get_client() as client:
            return {d.name: d for d in await client.read_deployments()}

    deployed = asyncio.run(read())
    expected = {d["name"] for d in _config()["deployments"]}  # type: ignore[union-attr]
    assert expected <= set(deployed)
    daily = deployed["daily"]
    assert daily.schedules and daily.schedules[0].schedule.timezone == "UTC"  # type: ignore[attr-defined]
    backfill = deployed["backfill"]
    schema = backfill.parameter_openapi_schema  # type: ignore[attr-defined]
    assert schema["properties"]["start"]["format"] == "date"
    assert set(schema["required"]) == {"start", "end"}
