"""Each campaign's send rate in the store: slots reserved atomically, shared by all its senders.

The state is one number per (campaign, channel), the GCRA *theoretical arrival time* ``tat``
(see ``SendPace``). Reserving ``n`` slots at time ``now`` is a single ``INSERT ... ON CONFLICT
DO UPDATE ... RETURNING`` on both SQLite and PostgreSQL: the row is locked for the statement,
so two senders never get the same slots, whichever process or host they run in.

Times are epoch seconds of the callers' clocks: senders on one host share it; senders on several
hosts rely on NTP, and a skew of ``d`` seconds lets at most ``rate * d`` extra messages through.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.dialects import postgresql, sqlite

from aicmo.models.publishing import SendPace
from aicmo.storage.db import transaction


def reserve_slots(
    engine: Engine, campaign_id: int, channel: str, n: int, *, rate: float, now: float
) -> float:
    """Reserve ``n`` consecutive slots at ``rate`` per second; returns the first slot's due time.

    Slot ``i`` is due at ``first + i / rate`` (epoch seconds, before any burst allowance): the
    slots follow the last ones any sender reserved, or start ``now`` when the campaign was idle.
    """
    if n < 1 or rate <= 0:
        raise ValueError(f"need n >= 1 and a positive rate, not n={n}, rate={rate}")
    span = n / rate
    with transaction(engine) as session:
        dialect = session.get_bind().dialect.name
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        later = func.greatest if dialect == "postgresql" else func.max  # SQLite's max(a, b) is scalar
        stmt = insert(SendPace).values(campaign_id=campaign_id, channel=channel, tat=now + span)
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id", "channel"],
            set_={"tat": later(SendPace.tat, now) + span},
        ).returning(SendPace.tat)
        tat = float(session.execute(stmt).scalar_one())
    return tat - span
