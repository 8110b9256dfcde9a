"""A multi-index hashing (MIH) index over 64-bit hashes: all items within Hamming distance r.

Each hash is cut into ``m`` 16-bit chunks (Norouzi et al., "Fast search in Hamming space with
multi-index hashing"). If two hashes differ in at most ``r`` bits, at least one chunk differs in
at most ``r // m`` bits (pigeonhole), so a query looks up, per chunk, every chunk value within
``r // m`` bits of its own (1 + 16 values at r // m = 1, 137 at 2) in a bucket table, and verifies
only those candidates with a vectorized XOR + popcount. Buckets are CSR arrays (items sorted by
chunk value, 65,537 offsets per chunk), so building is a few argsorts and a lookup is slicing.

``brute_force`` is the reference it must agree with (a test checks equality on random and real
hashes); ``pairs`` answers "every pair within r" for duplicate grouping.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import numpy.typing as npt

CHUNK_BITS = 16
CHUNKS = 4
_BUCKETS = 1 << CHUNK_BITS
_MASK16 = np.uint64(_BUCKETS - 1)

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def as_u64(values: npt.ArrayLike) -> U64:
    """Hashes (Python ints, signed or unsigned int64) as an unsigned 64-bit array."""
    arr = np.asarray(values)
    if arr.dtype == np.uint64:
        return arr
    if arr.dtype == np.int64:
        return arr.view(np.uint64)
    return np.asarray([int(v) & 0xFFFFFFFFFFFFFFFF for v in np.ravel(arr)], dtype=np.uint64)


def popcount(x: U64) -> npt.NDArray[np.uint8]:
    """Bits set in each element."""
    return np.bitwise_count(x)


def _flip_masks(max_bits: int) -> npt.NDArray[np.int64]:
    """Every 16-bit XOR mask with at most ``max_bits`` bits set, fewest bits first."""
    masks = [0]
    for k in range(1, max_bits + 1):
        masks.extend(sum(1 << b for b in combo) for combo in combinations(range(CHUNK_BITS), k))
    return np.asarray(masks, dtype=np.int64)


_MASKS = {k: _flip_masks(k) for k in range(0, 4)}


def brute_force(hashes: U64, query: int, radius: int) -> I64:
    """Positions of every hash within ``radius`` of ``query``: one XOR/popcount pass (the reference)."""
    q = as_u64([query])[0]
    return np.flatnonzero(popcount(hashes ^ q) <= radius).astype(np.int64)


class HammingIndex:
    """All stored 64-bit hashes within a Hamming radius of a query, answered without a full scan."""

    def __init__(self, hashes: npt.ArrayLike, ids: npt.ArrayLike | None = None) -> None:
        self.hashes = as_u64(hashes).copy()
        n = len(self.hashes)
        self.ids: I64 = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        if len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} ids for {n} hashes")
        self._order: list[npt.NDArray[np.int64]] = []
        self._starts: list[npt.NDArray[np.int64]] = []
        for c in range(CHUNKS):
            chunk = ((self.hashes >> np.uint64(c * CHUNK_BITS)) & _MASK16).astype(np.int64)
            order = np.argsort(chunk, kind="stable")
            self._order.append(order)
            self._starts.append(np.searchsorted(chunk[order], np.arange(_BUCKETS + 1)).astype(np.int64))

    def __len__(self) -> int:
        return len(self.hashes)

    def _candidates(self, q: np.uint64, radius: int) -> npt.NDArray[np.int64]:
        per_chunk = radius // CHUNKS
        if per_chunk >= len(_MASKS):  # wide radius: the masks would outnumber the items
            return np.arange(len(self.hashes), dtype=np.int64)
        masks = _MASKS[per_chunk]
        parts = []
        for c in range(CHUNKS):
            keys = (int((q >> np.uint64(c * CHUNK_BITS)) & _MASK16) ^ masks) if per_chunk else None
            starts = self._starts[c]
            if keys is None:
                key = int((q >> np.uint64(c * CHUNK_BITS)) & _MASK16)
                parts.append(self._order[c][starts[key] : starts[key + 1]])
                continue
            lo, hi = starts[keys], starts[keys + 1]
            lengths = hi - lo
            total = int(lengths.sum())
            if total == 0:
                continue
            # concatenate the slices [lo_i, hi_i) without a Python loop
            offsets = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
            parts.append(self._order[c][offsets + np.arange(total)])
        if not parts:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(parts))

    def positions(self, query: int, radius: int) -> I64:
        """Positions (in insertion order) of the hashes within ``radius`` of ``query``, ascending."""
        q = as_u64([query])[0]
        cand = self._candidates(q, radius)
        if len(cand) == 0:
            return cand
        return cand[popcount(self.hashes[cand] ^ q) <= radius]

    def query(self, query: int, radius: int) -> I64:
        """Ids of the hashes within ``radius`` of ``query``, in insertion order."""
        return self.ids[self.positions(query, radius)]

    def pairs(self, radius: int) -> list[tuple[int, int, int]]:
        """Every pair of ids (a < b by position) within ``radius``, with their distance."""
        out: list[tuple[int, int, int]] = []
        for i in range(len(self.hashes)):
            found = self.positions(int(self.hashes[i]), radius)
            found = found[found > i]
            if len(found):
                dist = popcount(self.hashes[found] ^ self.hashes[i])
                out.extend(
                    (int(self.ids[i]), int(self.ids[j]), int(d)) for j, d in zip(found, dist, strict=True)
                )
        return out
