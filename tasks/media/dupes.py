"""Exact and near-duplicate groups of the library.

A pair is a near-duplicate when its pHashes are within ``distance`` bits (found with the
``HammingIndex``, never an all-pairs scan) and its dHashes, a second, independent look at the
image, within ``dhash_distance``: pHash alone matches some different pictures with a similar
layout. Groups are the connected components of those pairs; each has a representative (the
approved, then the largest, then the oldest asset), the one to keep when consolidating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from aicmo.storage.db import transaction
from aicmo.storage.media import get_assets, image_hashes
from aicmo.tasks.media.hashing import hamming, to_int
from aicmo.tasks.media.index import HammingIndex


@dataclass(frozen=True)
class DupeGroup:
    """Near-duplicate assets: the representative first, then the others, with each pair found."""

    representative: int
    members: list[int]
    pairs: list[tuple[int, int, int, int]]  # (a, b, pHash distance, dHash distance)


def near_duplicate_pairs(
    hashes: list[tuple[int, str, str | None]], distance: int, dhash_distance: int
) -> list[tuple[int, int, int, int]]:
    """Pairs (a, b, pHash distance, dHash distance) that are near-duplicates, a < b."""
    if not hashes:
        return []
    ids = np.asarray([h[0] for h in hashes], dtype=np.int64)
    index = HammingIndex(np.asarray([to_int(h[1]) for h in hashes], dtype=np.int64), ids)
    dh = {h[0]: h[2] for h in hashes}
    out = []
    for a, b, d in index.pairs(distance):
        da, db = dh[a], dh[b]
        d2 = hamming(da, db) if da is not None and db is not None else 0
        if d2 <= dhash_distance:
            out.append((min(a, b), max(a, b), d, d2))
    return sorted(out)


def _components(pairs: list[tuple[int, int, int, int]]) -> list[list[int]]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _, _ in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    return [sorted(g) for g in groups.values()]


def find_dupe_groups(engine: Engine, distance: int, dhash_distance: int) -> list[DupeGroup]:
    """The library's near-duplicate groups, largest first."""
    with transaction(engine) as session:
        hashes = image_hashes(session)
        pairs = near_duplicate_pairs(hashes, distance, dhash_distance)
        members = _components(pairs)
        assets = get_assets(session, [m for g in members for m in g])
    groups = []
    for group in members:

        def rank(i: int) -> tuple[int, int, int]:
            a = assets[i]
            return (0 if a.status == "approved" else 1, -((a.width or 0) * (a.height or 0)), a.id)

        rep = min(group, key=rank)
        in_group = set(group)
        groups.append(
            DupeGroup(
                representative=rep,
                members=[rep, *sorted(i for i in group if i != rep)],
                pairs=[p for p in pairs if p[0] in in_group],
            )
        )
    return sorted(groups, key=lambda g: (-len(g.members), g.representative))
