"""The SQL store: migrations on both dialects, bulk upserts, concurrent SQLite writers."""

from __future__ import annotations

import multiprocessing as mp
from datetime import date
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select

from aicmo.models.base import Base
from aicmo.models.crm import Contact
from aicmo.storage.campaigns import upsert_campaigns
from aicmo.storage.crm import contact_ids_by_email, upsert_contacts
from aicmo.storage.db import make_engine, transaction
from aicmo.storage.migrate import current_revision, head_revision, upgrade
from aicmo.storage.runs import partitions_written_since, record_partitions
from tests.conftest import _drop_postgres_schema, build_engine


def test_migrations_build_exactly_the_models(db_backend: str, tmp_path: Path) -> None:
    engine, schema = build_engine(db_backend, tmp_path, migrate=True)
    try:
        assert current_revision(engine) == head_revision(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        upgrade(engine)  # a second upgrade is a no-op
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()
        if schema:
            _drop_postgres_schema(schema)


def _contact_rows(n: int, suffix: str = "") -> list[dict[str, object]]:
    return [
        {
            "email": f"user{i}@example{i % 50}.com",
            "first_name": f"First{i}{suffix}",
            "tags": ["a", str(i % 3)],
        }
        for i in range(n)
    ]


def test_bulk_upsert_inserts_then_updates_without_duplicates(engine: Engine) -> None:
    with transaction(engine) as session:
        assert upsert_contacts(session, _contact_rows(20_000)) == 20_000
    with transaction(engine) as session:
        upsert_contacts(session, _contact_rows(25_000, suffix="-v2"))
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 25_000
        c = session.scalars(select(Contact).where(Contact.email == "user7@example7.com")).one()
        assert c.first_name == "First7-v2"
        assert c.tags == ["a", "1"]
        assert c.lifecycle_stage == "subscriber"
        ids = contact_ids_by_email(session, ["user7@example7.com", "nobody@nowhere.org"])
        assert ids == {"user7@example7.com": c.id}


def test_partial_update_leaves_other_columns(engine: Engine) -> None:
    with transaction(engine) as session:
        upsert_contacts(session, [{"email": "a@b.co", "first_name": "Ann", "city": "Oslo"}])
    with transaction(engine) as session:
        upsert_contacts(
            session, [{"email": "a@b.co", "first_name": "Anna", "city": "Bergen"}], ["first_name"]
        )
    with transaction(engine) as session:
        c = session.scalars(select(Contact)).one()
        assert (c.first_name, c.city) == ("Anna", "Oslo")


def test_campaign_upsert_returns_ids_and_partition_bookkeeping(engine: Engine) -> None:
    with transaction(engine) as session:
        ids = upsert_campaigns(
            session, [{"name": "Spring", "channel": "email"}, {"name": "SMS", "channel": "sms"}]
        )
        assert set(ids) == {"Spring", "SMS"}
        record_partitions(session, "events", {date(2026, 1, 1): 10, date(2026, 1, 2): 5})
        record_partitions(session, "events", {date(2026, 1, 2): 7})
        assert partitions_written_since(session, "events", None) == [date(2026, 1, 1), date(2026, 1, 2)]


def _writer(url: str, worker: int, n: int) -> None:
    engine = make_engine(url)
    for batch in range(n):
        with transaction(engine) as session:
            upsert_contacts(
                session,
                [
                    {"email": f"w{worker}-{batch}-{i}@example.com", "first_name": f"W{worker}"}
                    for i in range(200)
                ],
            )
    engine.dispose()


def test_two_processes_write_sqlite_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, w, 25)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0], "a writer failed (database is locked?)"
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 2 * 25 * 200
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
