"""Group commit: concurrent requests share one spool write + fsync.

Each request hands its records over and awaits; a single writer thread appends everything that
queued up while the previous fsync ran, in one write and one fsync, then wakes all of those
requests. Throughput grows with concurrency while every 2xx still follows its own fsync.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from aicmo.storage.spool import Spool


class GroupCommit:
    """Appends records to a spool from asyncio code, batching concurrent callers."""

    def __init__(self, spool: Spool, after_commit: Callable[[], None] | None = None) -> None:
        self.spool = spool
        self.after_commit = after_commit
        self._pending: list[tuple[Sequence[bytes], asyncio.Future[None]]] = []
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-writer")

    async def append(self, records: Sequence[bytes]) -> None:
        """Return once ``records`` are fsync'd to the spool."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((records, future))
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                payloads = [record for records, _ in batch for record in records]
                try:
                    await loop.run_in_executor(self._executor, self.spool.append_many, payloads)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
                    if self.after_commit is not None:
                        self.after_commit()
        finally:
            self._draining = False

    def close(self) -> None:
        """Stop the writer thread."""
        self._executor.shutdown(wait=True)
