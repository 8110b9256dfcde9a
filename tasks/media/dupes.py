"""Exact and near-duplicate groups of the library.

A pair is a near-duplicate when its pHash and dHash together (a 128-bit hash) differ in at most
``distance`` bits. pHash (low DCT frequencies) and dHash (neighbour gradients) look at a picture
differently: a light crop moves pHash most, a different photo in the same banner template can
keep a close pHash but not a close dHash, so their sum separates edits from different pictures
better than either alone. Pairs are found with two ``HammingIndex`` lookups, never an all-pairs
scan: if p + d <= k then p <= k // 2 or d <= k // 2, so the candidates within k // 2 of either
hash hold every answer, and each is verified exactly. Groups are the connected components of those pairs; each has a representative (the
approved, then the largest, then the oldest asset), the one to keep when consolidating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine

from aicmo.storage.db import transaction
from aicmo.storage.media import get_assets, image_hashes
from aicmo.tasks.media.hashing import to_int
from aicmo.tasks.media.index import HammingIndex, popcount


@dataclass(frozen=True)
class DupeGroup:
    """Near-duplicate assets: the representative first, then the others, with each pair found."""

    representative: int
    members: list[int]
    pairs: list[tuple[int, int, int, int]]  # (a, b, pHash distance, dHash distance)


def near_duplicate_pairs(
    hashes: list[tuple[int, str, str | None]], distance: int
) -> list[tuple[int, int, int, int]]:
    """Pairs (a, b, pHash distance, dHash distance), a < b, whose summed distance is <= ``distance``."""
    both = [h for h in hashes if h[2] is not None]
    if not both:
        return []
    ids = np.asarray([h[0] for h in both], dtype=np.int64)
    ph = np.asarray([to_int(h[1]) for h in both], dtype=np.int64).view(np.uint64)
    dh = np.asarray([to_int(str(h[2])) for h in both], dtype=np.int64).view(np.uint64)
    p_index, d_index = HammingIndex(ph), HammingIndex(dh)
    half = distance // 2
    out = []
    for i in range(len(both)):
        cand = np.union1d(p_index.positions(int(ph[i]), half), d_index.positions(int(dh[i]), half))
        cand = cand[cand > i]
        if not len(cand):
            continue
        dp = popcount(ph[cand] ^ ph[i]).astype(np.int64)
        dd = popcount(dh[cand] ^ dh[i]).astype(np.int64)
        keep = dp + dd <= distance
        for j, a, b in zip(cand[keep], dp[keep], dd[keep], strict=True):
            x, y = int(ids[i]), int(ids[j])
            out.append((min(x, y), max(x, y), int(a), int(b)))
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


def find_dupe_groups(engine: Engine, distance: int) -> list[DupeGroup]:
    """The library's near-duplicate groups, largest first."""
    with transaction(engine) as session:
        hashes = image_hashes(session)
        pairs = near_duplicate_pairs(hashes, distance)
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
