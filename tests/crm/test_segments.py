"""Segments: the same contacts from SQL (SQLite and PostgreSQL) and Polars; errors point at the clause."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, select

from aicmo.errors import InputError
from aicmo.models.analytics import TIERS
from aicmo.models.crm import LIFECYCLE_STAGES, Contact
from aicmo.storage.db import transaction
from aicmo.tasks.crm.segment_store import contacts_frame, get_segment, list_segments, preview, save_segment
from aicmo.tasks.crm.segments import SegmentError, compile_polars, compile_sql, load_definition, parse
from tests.crm.helpers import add_contacts, run_cli

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _people(n: int = 400) -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = []
    for i in range(n):
        rows.append(
            {
                "email": f"p{i}@example.com",
                "country": rng.choice(["DE", "FR", "US", None]),
                "city": rng.choice(["Berlin", "Paris", "New York", None]),
                "lifecycle_stage": rng.choice(LIFECYCLE_STAGES),
                "tier": rng.choice([*TIERS, None]),
                "engagement_score": rng.choice([None, round(rng.uniform(0, 100), 2)]),
                "tags": rng.sample(["vip", "beta", "newsletter", "partner"], rng.randint(0, 3)),
                "last_activity_at": rng.choice([None, NOW - timedelta(days=rng.randint(0, 200))]),
                "suppressed": rng.random() < 0.1,
                "company_name": rng.choice(["Acme 100%", "Acme_Labs", "Globex", None]),
            }
        )
    return rows


DEFINITIONS: list[Any] = [
    {"field": "country", "op": "eq", "value": "DE"},
    {"not": {"field": "country", "op": "eq", "value": "DE"}},
    {"field": "country", "op": "in", "value": ["DE", "FR"]},
    {"field": "country", "op": "not_in", "value": ["DE", "FR"]},
    {"field": "city", "op": "is_null"},
    {"field": "company_name", "op": "contains", "value": "100%"},
    {"field": "company_name", "op": "starts_with", "value": "Acme_"},
    {"tags": {"contains": "vip"}},
    {"tags": {"any": ["vip", "partner"]}},
    {"tags": {"all": ["vip", "beta"]}},
    {"tags": {"none": ["newsletter"]}},
    {"lifecycle_stage": ["mql", "sql"]},
    {"tier": "gold"},
    {"score": {"gte": 20, "lt": 60}},
    {"field": "engagement_score", "op": "between", "value": [10, 30]},
    {"last_activity": {"within_days": 30}},
    {"last_activity": {"older_than_days": 90}},
    {"last_activity": {"older_than_days": 90, "include_never": True}},
    {"last_activity": {"never": True}},
    {"field": "suppressed", "value": False},
    {"field": "last_activity_at", "op": "gte", "value": "2026-10-01"},
    {
        "and": [
            {"lifecycle_stage": ["lead", "mql", "sql", "opportunity"]},
            {"or": [{"tier": ["gold", "platinum"]}, {"score": {"gt": 50}}]},
            {"not": {"tags": {"contains": "partner"}}},
            {"not": {"field": "country", "op": "in", "value": ["US"]}},
        ]
    },
]


@pytest.fixture
def people(engine: Engine) -> list[dict[str, Any]]:
    rows = _people()
    add_contacts(engine, rows)
    return rows


def test_sql_and_polars_select_the_same_contacts(engine: Engine, people: list[dict[str, Any]]) -> None:
    frame = contacts_frame(engine)
    assert frame.height == len(people)
    sizes = []
    for definition in DEFINITIONS:
        with engine.connect() as conn:
            query = select(Contact.email).where(compile_sql(definition, now=NOW))
            from_sql = set(conn.scalars(query))
        from_polars = set(frame.filter(compile_polars(definition, now=NOW))["email"])
        assert from_sql == from_polars, definition
        sizes.append(len(from_sql))
    assert all(0 < s < len(people) for s in sizes), sizes  # every definition actually discriminates


def test_results_match_a_plain_python_reading(engine: Engine, people: list[dict[str, Any]]) -> None:
    definition = DEFINITIONS[-1]
    expected = {
        p["email"]
        for p in people
        if p["lifecycle_stage"] in ("lead", "mql", "sql", "opportunity")
        and (p["tier"] in ("gold", "platinum") or (p["engagement_score"] or 0) > 50)
        and "partner" not in p["tags"]
        and p["country"] is not None
        and p["country"] != "US"
    }
    with engine.connect() as conn:
        got = set(conn.scalars(select(Contact.email).where(compile_sql(definition, now=NOW))))
    assert got == expected


@pytest.mark.parametrize(
    ("definition", "path", "words"),
    [
        (
            {"and": [{"tier": "gold"}, {"field": "contry", "op": "eq", "value": "DE"}]},
            "and[1].field",
            "country",
        ),
        ({"or": [{"tier": "gold"}, {"tier": "golden"}]}, "or[1].tier", "unknown tier"),
        ({"not": {"field": "country", "op": "like", "value": "D%"}}, "not.op", "unknown operator"),
        ({"and": []}, "and", "non-empty list"),
        ({"field": "engagement_score", "op": "gt", "value": "high"}, "value", "number"),
        ({"field": "country", "op": "in", "value": "DE"}, "value", "takes a list"),
        ({"field": "country", "op": "gt", "value": "DE"}, "op", "not one"),
        ({"lifecycle_stage": ["lead", "prospect"]}, "lifecycle_stage[1]", "unknown lifecycle stage"),
        ({"score": {"above": 3}}, "score.above", "unknown bound"),
        ({"tags": {"has": "vip"}}, "tags.has", "unknown tags test"),
        ({"last_activity": {"within_dayz": 3}}, "last_activity.within_dayz", "within_days"),
        ({"and": [{"or": [{"tier": "gold"}, {"colour": "red"}]}]}, "and[0].or[1].colour", "unknown clause"),
        ({"tier": "gold", "score": {"gt": 1}}, "(definition)", "exactly one key"),
        ({"where": {"field": "created_at", "op": "gt", "value": "yesterday"}}, "where.value", "ISO date"),
        (["tier", "gold"], "(definition)", "must be a mapping"),
    ],
)
def test_invalid_definitions_point_at_the_bad_clause(definition: Any, path: str, words: str) -> None:
    with pytest.raises(SegmentError) as info:
        parse(definition)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert words in message


def test_saved_segments_preview_and_yaml_files(
    engine: Engine, people: list[dict[str, Any]], tmp_path: Path
) -> None:
    f = tmp_path / "vip.yaml"
    f.write_text(
        "description: VIPs in Germany\nwhere:\n  and:\n    - tags: {contains: vip}\n    - field: country\n      op: eq\n      value: DE\n"
    )
    definition = load_definition(f)
    with transaction(engine) as session:
        save_segment(session, "vip-de", definition)
        assert get_segment(session, "vip-de") == definition
        assert [s.description for s in list_segments(session)] == ["VIPs in Germany"]
        with pytest.raises(InputError, match="known: vip-de"):
            get_segment(session, "nope")
        with pytest.raises(SegmentError):
            save_segment(session, "broken", {"tier": "golden"})
    result = preview(engine, definition, sample=5)
    expected = sum(1 for p in people if "vip" in p["tags"] and p["country"] == "DE")
    assert result.count == expected and result.total == len(people)
    assert result.sample.height == min(5, expected)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json: not valid JSON") as info:
        load_definition(bad)
    assert "\n" not in str(info.value) and "line 1, column 2" in str(info.value)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("and:\n  - lifecycle_stage: [lead\n  - tags: {contains: vip}\n")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid YAML") as info:
        load_definition(bad_yaml)
    assert "\n" not in str(info.value) and "(line 3, column 9)" in str(info.value)


def test_polars_evaluates_a_large_frame_quickly() -> None:
    n = 200_000
    frame = pl.DataFrame(
        {
            "country": pl.Series(["DE", "FR", "US", None] * (n // 4)),
            "engagement_score": pl.Series(range(n), dtype=pl.Float64) / 2000,
            "tags": pl.Series([["vip"], [], ["beta", "vip"], ["beta"]] * (n // 4)),
        }
    )
    definition = {
        "and": [
            {"tags": {"contains": "vip"}},
            {"score": {"gte": 50}},
            {"not": {"field": "country", "op": "eq", "value": "FR"}},
        ]
    }
    start = time.perf_counter()
    count = frame.lazy().filter(compile_polars(definition)).select(pl.len()).collect().item()
    assert time.perf_counter() - start < 2.0
    # vip tags sit on the DE and US rows (i % 4 in {0, 2}); a score >= 50 is the second half
    assert count == sum(1 for i in range(n) if i % 4 in (0, 2) and i / 2000 >= 50)


def test_cli_segments_preview_save_list_and_bad_definition(
    aicmo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aicmo.storage.db import make_engine
    from aicmo.storage.migrate import upgrade

    monkeypatch.setenv("COLUMNS", "200")
    aicmo_home.mkdir(parents=True, exist_ok=True)  # the store's folder must exist
    engine = make_engine(f"sqlite:///{aicmo_home / 'aicmo.db'}")
    upgrade(engine)
    add_contacts(
        engine, [{"email": "a@example.com", "tier": "gold"}, {"email": "b@example.com", "tier": "silver"}]
    )
    engine.dispose()
    good = tmp_path / "gold.json"
    good.write_text('{"tier": ["gold", "platinum"]}')
    bad = tmp_path / "bad.yaml"
    bad.write_text("and:\n  - tier: gold\n  - field: contry\n    value: DE\n")

    code, out, _ = run_cli(capsys, "segments", "preview", str(good))
    assert code == 0 and "1 of 2 contact(s) match" in out
    assert "a@example.com" in out and "b@example.com" not in out
    assert run_cli(capsys, "segments", "save", "gold", str(good))[0] == 0
    code, out, _ = run_cli(capsys, "segments", "list")
    assert code == 0 and "gold" in out
    code, out, _ = run_cli(capsys, "segments", "preview", "gold")
    assert code == 0 and "1 of 2 contact(s) match" in out
    out_csv = tmp_path / "gold.csv"
    assert run_cli(capsys, "contacts", "export", str(out_csv), "--segment", "gold")[0] == 0
    assert (
        out_csv.read_text().splitlines()[1].startswith("a@example.com")
        and "b@example.com" not in out_csv.read_text()
    )
    code, _, err = run_cli(capsys, "segments", "preview", str(bad))
    assert code == 1 and "and[1].field: unknown field 'contry' (did you mean 'country'?)" in err
    assert "Traceback" not in err and err.strip().count("\n") == 0
