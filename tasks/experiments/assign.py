"""Who is held out, who is in the test and with which variant: keyed hashes, balanced within strata.

Every choice comes from HMAC-SHA256 of (campaign, contact) under the installation's key, so a
rerun, a backfill or a second worker computes the same assignment for the same audience, and
nobody can predict or steer it without the key. The holdout is a per-contact coin (hash below the
holdout share). The test sample is taken in hash order within each stratum (tier, country), in
proportion to its size, and variants are dealt round-robin along that order, so every stratum's
variants differ in size by at most one. The ledger then records each planned row's variant;
planning again never changes a row already written.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass, field


def unit_hash(key: bytes, campaign_id: int, contact_id: int, purpose: str) -> float:
    """A uniform number in [0, 1) fixed by (key, campaign, contact, purpose)."""
    digest = hmac.new(key, f"{purpose}:{campaign_id}:{contact_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _stratum_offset(key: bytes, campaign_id: int, stratum: str, k: int) -> int:
    digest = hmac.new(key, f"stratum:{campaign_id}:{stratum}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % k


@dataclass
class Assignment:
    """The split of an audience: held out, in the test (contact -> variant index), the rest."""

    holdout: list[int] = field(default_factory=list)
    test: dict[int, int] = field(default_factory=dict)
    rest: list[int] = field(default_factory=list)

    def variant_sizes(self, k: int) -> list[int]:
        """Contacts per variant in the test."""
        sizes = [0] * k
        for v in self.test.values():
            sizes[v] += 1
        return sizes


def _quotas(sizes: Mapping[str, int], total: int) -> dict[str, int]:
    """``total`` split over strata in proportion to their sizes (largest remainders, ties by name)."""
    population = sum(sizes.values())
    if total >= population:
        return dict(sizes)
    exact = {s: total * n / population for s, n in sizes.items()}
    quota = {s: math.floor(x) for s, x in exact.items()}
    left = total - sum(quota.values())
    for s in sorted(exact, key=lambda s: (-(exact[s] - quota[s]), s))[:left]:
        quota[s] += 1
    return quota


def assign(
    key: bytes,
    campaign_id: int,
    strata: Mapping[int, str],
    *,
    variants: int,
    holdout: float,
    sample: int | None,
) -> Assignment:
    """Split ``strata`` (contact id -> stratum) into holdout, test (``sample`` contacts) and rest.

    With no variants everyone not held out is in ``rest``; ``sample=None`` puts everyone not held
    out in the test.
    """
    out = Assignment()
    treatable: dict[str, list[tuple[float, int]]] = {}
    for cid, stratum in strata.items():
        if holdout > 0 and unit_hash(key, campaign_id, cid, "holdout") < holdout:
            out.holdout.append(cid)
            continue
        treatable.setdefault(stratum, []).append((unit_hash(key, campaign_id, cid, "order"), cid))
    out.holdout.sort()
    if variants < 2:
        out.rest = sorted(cid for members in treatable.values() for _, cid in members)
        return out
    sizes = {s: len(m) for s, m in treatable.items()}
    quotas = _quotas(sizes, sum(sizes.values()) if sample is None else sample)
    for stratum, members in treatable.items():
        members.sort()
        offset = _stratum_offset(key, campaign_id, stratum, variants)
        take = quotas[stratum]
        for rank, (_, cid) in enumerate(members):
            if rank < take:
                out.test[cid] = (rank + offset) % variants
            else:
                out.rest.append(cid)
    out.rest.sort()
    return out
