"""Reading what runs published on the session's Prefect test server."""

from __future__ import annotations

import asyncio


def progress_values(key: str) -> list[float]:
    """The values of the progress artifacts of ``key``, one per run that published it."""
    from prefect.client.orchestration import get_client

    async def read() -> list[float]:
        async with get_client() as client:
            return [a.data for a in await client.read_artifacts() if a.key == key]

    return asyncio.run(read())
