"""Bulk contact upsert (INSERT ... ON CONFLICT) vs the batched ORM upsert and a plain bulk INSERT.

Same rows, same engine, every contender at the full ``--rows``, nothing extrapolated. Each run
starts from empty tables, inserts ``--rows`` contacts (the insert pass), then sends the same
contacts again with changed names (the update pass):

- ours: ``aicmo.storage.crm.upsert_contacts`` (``INSERT ... ON CONFLICT (email) DO UPDATE`` in
  chunks, executemany);
- ORM, batched: what an expert writes with the ORM alone: per chunk of ``--chunk`` rows one
  ``SELECT ... WHERE email IN (...)``, attributes set on the objects found, new objects added,
  one ``flush`` per chunk, one commit;
- plain bulk INSERT: ``session.execute(insert(Contact), rows)`` (executemany), the insert pass
  only: it cannot update, so it is the floor of the insert pass.

Checks before timing is kept: after each contender's passes the table holds exactly the expected
contacts (email, first name, city, tags).

    .venv/bin/python benchmarks/bench_store.py --rows 100000 --runs 3
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, insert, select, text

sys.path.insert(0, str(Path(__file__).parent))
from results import Recorder, peer_versions

from aicmo.models.base import Base, utcnow
from aicmo.models.crm import Contact
from aicmo.storage.crm import upsert_contacts
from aicmo.storage.db import make_engine, transaction

Rows = list[dict[str, object]]


def rows(n: int, version: str) -> Rows:
    """``n`` contacts; ``version`` changes the names so a second pass is a real update."""
    return [
        {
            "email": f"user{i}@example{i % 97}.com",
            "first_name": f"F{i}{version}",
            "city": "Oslo",
            "tags": ["a"],
        }
        for i in range(n)
    ]


def fresh(engine: Engine) -> None:
    """Drop and recreate every table."""
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)


def ours(engine: Engine, batch: Rows, chunk: int) -> None:
    """One pass of the bulk upsert."""
    with transaction(engine) as session:
        upsert_contacts(session, batch)


def orm_batched(engine: Engine, batch: Rows, chunk: int) -> None:
    """One pass of the ORM upsert: one IN lookup and one flush per chunk."""
    with transaction(engine) as session:
        for start in range(0, len(batch), chunk):
            part = batch[start : start + chunk]
            found = {
                c.email: c
                for c in session.scalars(select(Contact).where(Contact.email.in_([r["email"] for r in part])))
            }
            now = utcnow()
            for row in part:
                existing = found.get(str(row["email"]))
                if existing is None:
                    session.add(Contact(**row, created_at=now, updated_at=now))
                else:
                    for key, value in row.items():
                        setattr(existing, key, value)
                    existing.updated_at = now
            session.flush()


def plain_insert(engine: Engine, batch: Rows, chunk: int) -> None:
    """One executemany INSERT of new contacts (cannot update)."""
    now = utcnow()
    payload = [{**r, "created_at": now, "updated_at": now} for r in batch]
    with transaction(engine) as session:
        session.execute(insert(Contact), payload)


def table_state(engine: Engine) -> list[tuple[object, ...]]:
    """The contacts as (email, first_name, city, tags), sorted: what every contender must leave."""
    with engine.connect() as conn:
        result = conn.execute(select(Contact.email, Contact.first_name, Contact.city, Contact.tags))
        return sorted(tuple(r) for r in result)


def main(argv: list[str] | None = None) -> None:
    """Run every contender on SQLite (and PostgreSQL when a URL is given), record every run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=5_000, help="rows per IN lookup and flush (ORM)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sqlite", default="sqlite:////tmp/aicmo-bench-store.db")
    parser.add_argument("--postgres", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    rec = Recorder(
        "store",
        "Contact upsert: ours vs the batched ORM and a plain bulk INSERT",
        f"{args.rows:,} contacts inserted into empty tables, then all updated, per engine. The ORM peer "
        f"does one IN lookup and one flush per {args.chunk:,} rows; the plain INSERT has no update pass.",
        vars(args),
    )
    contenders: dict[str, tuple[str, Callable[[Engine, Rows, int], None], bool]] = {
        "ours: INSERT ... ON CONFLICT": ("ours", ours, True),
        "ORM, batched (IN lookup + flush per chunk)": ("peer", orm_batched, True),
        "plain bulk INSERT (no update)": ("peer", plain_insert, False),
    }
    first, second = rows(args.rows, "a"), rows(args.rows, "b")
    expected = {
        "insert": sorted((r["email"], r["first_name"], r["city"], r["tags"]) for r in first),
        "update": sorted((r["email"], r["first_name"], r["city"], r["tags"]) for r in second),
    }
    urls = [args.sqlite, *([args.postgres] if args.postgres else [])]
    for url in urls:
        engine = make_engine(url)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("SELECT 1"))
        db = engine.dialect.name
        checked: set[str] = set()
        for _ in range(args.runs):
            for name, (role, fn, updates) in contenders.items():
                fresh(engine)
                label = f"{name} [{db}]"
                rec.time(
                    label, role, "insert pass", args.rows, "contacts", partial(fn, engine, first, args.chunk)
                )
                if label not in checked:
                    rec.check(
                        f"{label}: table after the insert pass",
                        "exact",
                        table_state(engine) == expected["insert"],
                    )
                if updates:
                    rec.time(
                        label,
                        role,
                        "update pass",
                        args.rows,
                        "contacts",
                        partial(fn, engine, second, args.chunk),
                    )
                    if label not in checked:
                        rec.check(
                            f"{label}: table after the update pass",
                            "exact",
                            table_state(engine) == expected["update"],
                        )
                checked.add(label)
        ours_label = f"ours: INSERT ... ON CONFLICT [{db}]"
        for name in list(contenders)[1:]:
            rec.ratio(f"{name} [{db}]", ours_label, "insert pass", args.rows)
        rec.ratio(f"ORM, batched (IN lookup + flush per chunk) [{db}]", ours_label, "update pass", args.rows)
        engine.dispose()
    rec.save(**peer_versions("sqlalchemy"))


if __name__ == "__main__":
    main()
