"""The media flow on generated sample data, and the ``aicmo media`` commands end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from prefect.client.orchestration import get_client

from aicmo import wiring
from aicmo.settings import get_settings
from aicmo.storage.db import transaction
from aicmo.storage.media import latest_suggestions
from aicmo.tasks.media.dupes import find_dupe_groups
from tests.media.images import encode, photo, recompressed


def test_flow_ingests_sample_creatives_finds_the_planted_duplicates_and_suggests(
    aicmo_home: Path, prefect_harness: None
) -> None:
    from aicmo.flows.generate import generate_sample_data
    from aicmo.flows.media import media_suggest

    generate_sample_data(contacts=400, days=14, seed=2, end=date(2026, 9, 30))
    truth = json.loads((aicmo_home / "truth.json").read_text())
    summary = media_suggest(paths=[str(aicmo_home / "assets")], library="sample")
    assert summary["ingest"]["rejected"] == 0
    assert summary["ingest"]["already_stored"] == len(truth["asset_quality"])  # the generator stored them
    groups = find_dupe_groups(wiring.engine(), get_settings().media.dupe_distance)
    together = {frozenset(g.members) for g in groups}
    for pair in truth["near_duplicates"]:
        assert any({pair["original_asset_id"], pair["duplicate_asset_id"]} <= g for g in together), pair
    assert summary["suggestions"].get("consolidate", 0) >= len(truth["near_duplicates"])
    with transaction(wiring.engine()) as session:
        assert len(latest_suggestions(session)) == sum(summary["suggestions"].values())
    with get_client(sync_client=True) as client:
        assert "media-suggestions" in {a.key for a in client.read_artifacts(limit=200)}


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICMO_")}
    env["AICMO_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-c", "from aicmo.cli import main; main()", "media", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_add_names_bad_files_and_finds_the_copy(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "in"
    folder.mkdir()
    base = photo(21, (160, 120))
    (folder / "a[red]-hero.png").write_bytes(encode(base))
    (folder / "a-hero-copy.jpg").write_bytes(encode(recompressed(base), "JPEG", quality=60))
    (folder / "b-other.png").write_bytes(encode(photo(22, (160, 120))))
    (folder / "notes.png").write_text("not a picture")
    added = _cli(["add", str(folder), "--tag", "spring"], home)
    assert added.returncode == 1 and "Traceback" not in added.stderr
    refused = [line for line in added.stderr.splitlines() if "rejected:" in line]
    assert len(refused) == 1 and "notes.png" in refused[0] and "not an image" in refused[0]
    assert "added 3" in added.stdout
    dupes = _cli(["dupes"], home)
    assert dupes.returncode == 0, dupes.stderr
    assert (
        "a[red]-hero.png" in dupes.stdout
        and "a-hero-copy.jpg" in dupes.stdout
        and "b-other" not in dupes.stdout
    )
    reject = _cli(["reject", "1", "--by", "ana", "--comment", "x"], home)
    assert reject.returncode == 1 and "cannot reject asset 1: it is draft" in reject.stderr
    assert _cli(["submit", "1", "--by", "ana"], home).returncode == 0
    shown = _cli(["show", "1"], home)
    assert (
        "in_review" in shown.stdout and "submit" in shown.stdout and "a-hero-copy.jpg" in shown.stdout
    )  # sorted first
