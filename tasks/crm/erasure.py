"""Erasure of one person ("right to be forgotten"), everywhere the project wrote them.

Order matters: the lake and the files are cleaned first, while the contact id still links them;
the store is cleaned last in one transaction that also writes the HMAC tombstone (suppression
``erased`` on channel ``all``, so a later import skips the address) and an audit record holding
only counts and the keyed hash. A run interrupted half-way can simply be run again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from aicmo.models.lake import TABLES
from aicmo.storage import crm as crm_store
from aicmo.storage.db import transaction
from aicmo.storage.erasure import delete_person_rows
from aicmo.storage.gateway import delete_cached_answers
from aicmo.storage.lake import Lake
from aicmo.storage.runs import audit
from aicmo.tasks.crm.emails import address_hmac, normalize_email
from aicmo.tasks.crm.export import remove_from_exports
from aicmo.tasks.crm.suppression import hmac_key


@dataclass
class ErasureReport:
    """What an erasure removed, in counts (safe to print and to audit)."""

    contact_found: bool = False
    contacts: int = 0
    consents: int = 0
    lifecycle_changes: int = 0
    tier_changes: int = 0
    outbox_messages: int = 0
    push_endpoints: int = 0
    lake_rows: dict[str, int] = field(default_factory=dict)
    lake_partitions: dict[str, int] = field(default_factory=dict)
    cache_entries: int = 0
    export_rows: int = 0
    export_files: int = 0
    tombstone_added: bool = False

    def summary(self) -> dict[str, object]:
        """A flat dict of the counts."""
        return asdict(self)


def erase_lake_rows(lake: Lake, contact_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """Drop ``contact_id``'s rows from every lake table that has a ``contact_id`` column.

    Only the partitions holding such rows are rewritten, each atomically. Returns rows removed and
    partitions rewritten per table.
    """
    rows: dict[str, int] = {}
    parts: dict[str, int] = {}
    for name, spec in list(TABLES.items()):
        if "contact_id" not in spec.schema.names() or not lake.partitions(name):
            continue
        days = (
            lake.scan(name)
            .filter(pl.col("contact_id") == contact_id)
            .select(pl.col("dt").unique())
            .collect()["dt"]
            .to_list()
        )
        if not days:
            continue
        changed = lake.rewrite_partitions(
            name, lambda df: df.filter(pl.col("contact_id").ne_missing(contact_id)), days
        )
        rows[name] = sum(before - after for before, after in changed.values())
        parts[name] = len(changed)
    return rows, parts


def erase_contact(
    engine: Engine, lake: Lake, raw_email: str, *, home: Path | None = None, key: str | None = None
) -> ErasureReport:
    """Erase the person with this email from the store, the lake, the caches and the exports."""
    email = normalize_email(raw_email)
    digest = address_hmac(email, key or hmac_key())
    report = ErasureReport()
    contact_id = crm_store.contact_id_for_email(engine, email)
    if contact_id is not None:
        report.contact_found = True
        report.lake_rows, report.lake_partitions = erase_lake_rows(lake, contact_id)
    removed = remove_from_exports(email, home=home)
    report.export_files, report.export_rows = len(removed), sum(removed.values())
    with transaction(engine) as session:
        report.cache_entries = delete_cached_answers(session, email)
        if contact_id is not None:
            for table, count in delete_person_rows(session, contact_id).items():
                setattr(report, table, count)
        previous = crm_store.suppression_reason(session, digest, "all")
        crm_store.add_suppression(session, digest, "all", "erased", "erasure", replace=True)
        report.tombstone_added = previous != "erased"
        audit(session, "contact.erased", report.summary(), subject_hmac=digest)
    return report
