"""A campaign's send rate held across runs and processes: slots reserved from the store.

An in-process token bucket paces one sender; two runs of one campaign (which the ledger allows)
would each send at the full rate. ``CampaignPace`` instead reserves slots from the campaign's
shared schedule in the store (``storage/pacing.py``, a GCRA kept in one row per campaign and
channel), a tenth of a second's worth at a time, and waits for each one. Whatever the number of
runs, the messages they release in any ``w`` seconds number at most
``burst + rate * (w + LOOKAHEAD_S)``: each slot lies on one global schedule spaced ``1 / rate``
apart, and a slot is used at most ``tau`` (the burst allowance) before it is due and at most
``LOOKAHEAD_S`` after (a run that fell further behind drops its lapsed slots and reserves new
ones, instead of catching up in a burst).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy import Engine

from aicmo.storage.pacing import reserve_slots

LOOKAHEAD_S = 0.1
"""Slots reserved per trip to the store, in seconds of the rate (what a stopping run may waste);
also how late a reserved slot may still be used."""
MAX_CHUNK = 1_000


class CampaignPace:
    """A pacer (``acquire``) whose slots come from the campaign's schedule in the store.

    ``burst`` defaults to one second's worth, as the in-process ``TokenBucket``'s does.
    """

    def __init__(
        self,
        engine: Engine,
        campaign_id: int,
        channel: str,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.engine = engine
        self.campaign_id = campaign_id
        self.channel = channel
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self.tau = (self.burst - 1.0) / rate  # how long before its due time a slot may be used
        self.chunk = max(1, min(MAX_CHUNK, int(rate * LOOKAHEAD_S)))
        self.clock = clock
        self.reservations = 0
        self._slots: deque[float] = deque()  # due times (epoch s), burst allowance applied

    def _reserve(self, now: float) -> None:
        first = reserve_slots(
            self.engine, self.campaign_id, self.channel, self.chunk, rate=self.rate, now=now
        )
        self.reservations += 1
        self._slots = deque(first - self.tau + i / self.rate for i in range(self.chunk))

    async def acquire(self) -> None:
        """Wait for this sender's next slot on the campaign's schedule."""
        now = self.clock()
        if self._slots and self._slots[0] + self.tau + LOOKAHEAD_S < now:
            self._slots.clear()  # lapsed: using them now would add a burst on top of others' slots
        if not self._slots:
            self._reserve(now)
        wait = self._slots.popleft() - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
