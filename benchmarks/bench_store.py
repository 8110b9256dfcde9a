"""Bulk contact upsert (INSERT ... ON CONFLICT) vs the ORM's per-row merge and a plain insert.

Same rows, same engine, one run: ours inserts N contacts then updates all N; the peers are the
ORM's ``session.merge`` per row (what hand-written sync code usually does; measured on a sample and
extrapolated, labelled so) and a plain multi-row INSERT (a floor: it cannot update).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from sqlalchemy import Engine, insert, text

from aicmo.models.base import Base, utcnow
from aicmo.models.crm import Contact
from aicmo.storage.crm import upsert_contacts
from aicmo.storage.db import make_engine, transaction


def rows(n: int, version: str) -> list[dict[str, object]]:
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


def timed(fn: Callable[[], None]) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ours(engine: Engine, n: int) -> tuple[float, float]:
    """Insert then update ``n`` contacts with the bulk upsert; seconds for each pass."""
    fresh(engine)

    def run(version: str) -> None:
        with transaction(engine) as session:
            upsert_contacts(session, rows(n, version))

    return timed(lambda: run("a")), timed(lambda: run("b"))


def orm_merge(engine: Engine, n: int) -> tuple[float, float]:
    """The same with one ``session.merge`` per contact (lookup by email, then insert or update)."""
    fresh(engine)

    def run(version: str) -> None:
        with transaction(engine) as session:
            for row in rows(n, version):
                existing = session.query(Contact).filter_by(email=row["email"]).one_or_none()
                if existing is None:
                    session.add(Contact(**row, created_at=utcnow(), updated_at=utcnow()))
                else:
                    for key, value in row.items():
                        setattr(existing, key, value)
                session.flush()

    return timed(lambda: run("a")), timed(lambda: run("b"))


def plain_insert(engine: Engine, n: int) -> float:
    """A plain executemany INSERT of ``n`` new contacts (cannot update)."""
    fresh(engine)
    now = utcnow()
    payload = [{**r, "created_at": now, "updated_at": now} for r in rows(n, "a")]

    def run() -> None:
        with transaction(engine) as session:
            session.execute(insert(Contact), payload)

    return timed(run)


def main() -> None:
    """Run every contender on SQLite (and PostgreSQL when a URL is given) and print ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--merge-rows", type=int, default=5_000, help="sample size of the per-row merge")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sqlite", default="sqlite:////tmp/aicmo-bench-store.db")
    parser.add_argument("--postgres", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    urls = [args.sqlite, *([args.postgres] if args.postgres else [])]
    for url in urls:
        engine = make_engine(url)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("SELECT 1"))
        ins, upd, merge_ins, merge_upd, floor = [], [], [], [], []
        for _ in range(args.runs):
            a, b = ours(engine, args.rows)
            ins.append(a)
            upd.append(b)
            ma, mb = orm_merge(engine, args.merge_rows)
            scale = args.rows / args.merge_rows
            merge_ins.append(ma * scale)
            merge_upd.append(mb * scale)
            floor.append(plain_insert(engine, args.rows))
        med = statistics.median
        print(f"{engine.dialect.name}: {args.rows:,} contacts, median of {args.runs} runs")
        print(f"  ours insert {med(ins):.2f} s, update {med(upd):.2f} s")
        print(
            f"  ORM merge per row (from {args.merge_rows:,}, extrapolated) insert {med(merge_ins):.1f} s "
            f"({med(merge_ins) / med(ins):.0f}x ours), update {med(merge_upd):.1f} s "
            f"({med(merge_upd) / med(upd):.0f}x ours)"
        )
        print(
            f"  plain INSERT (no conflict handling) {med(floor):.2f} s (ours / floor {med(ins) / med(floor):.2f}x)"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
