"""Reading what runs published on the session's Prefect test server."""

from __future__ import annotations

import asyncio


def progress_values(key: str) -> list[float]:
    """The values of the progress artifacts of ``key``, one per run that published it, oldest
    first (the session's server is shared: earlier tests' runs may have published some)."""
    from prefect.client.orchestration import get_client

    async def read() -> list[float]:
        async with get_client() as client:
            found = [a for a in await client.read_artifacts() if a.key == key]
            return [a.data for a in sorted(found, key=lambda a: a.created or 0)]

    return asyncio.run(read())
