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
    """Hashes (an int64/uint64 array, or Python ints signed or not) as an unsigned 64-bit array."""
    if isinstance(values, np.ndarray) and values.dtype in (np.uint64, np.int64):
        return values.view(np.uint64)
    # Python ints go one by one: NumPy would turn a list mixing ints above 2**63 into float64.
    return np.fromiter(
        (int(v) & 0xFFFFFFFFFFFFFFFF for v in np.ravel(np.asarray(values, dtype=object))), np.uint64
    )


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
        self._sorted: list[U64] = []  # the hashes in each chunk's bucket order: candidates read contiguously
        self._starts: list[npt.NDArray[np.int64]] = []
        for c in range(CHUNKS):
            chunk = ((self.hashes >> np.uint64(c * CHUNK_BITS)) & _MASK16).astype(np.int64)
            order = np.argsort(chunk, kind="stable")
            self._order.append(order)
            self._sorted.append(self.hashes[order])
            self._starts.append(np.searchsorted(chunk[order], np.arange(_BUCKETS + 1)).astype(np.int64))

    def __len__(self) -> int:
        return len(self.hashes)

    def positions_many(self, queries: npt.ArrayLike, radius: int, block: int = 512) -> list[I64]:
        """For each query, the positions of the hashes within ``radius``, ascending (vectorized)."""
        q_all = as_u64(queries)
        out: list[I64] = []
        for start in range(0, len(q_all), block):
            out.extend(self._block(q_all[start : start + block], radius))
        return out

    def _block(self, q: U64, radius: int) -> list[I64]:
        n, nq = len(self.hashes), len(q)
        per_chunk = radius // CHUNKS
        if per_chunk not in _MASKS:  # wide radius: the masks would outnumber the items; verify all
            pos = np.tile(np.arange(n, dtype=np.int64), nq)
            qi = np.repeat(np.arange(nq, dtype=np.int64), n)
            hit = popcount(self.hashes[pos] ^ q[qi]) <= radius
            pos, qi = pos[hit], qi[hit]
        else:
            masks = _MASKS[per_chunk]
            pos_parts, qi_parts = [], []
            for c in range(CHUNKS):
                own = ((q >> np.uint64(c * CHUNK_BITS)) & _MASK16).astype(np.int64)
                keys = (own[:, None] ^ masks[None, :]).ravel()  # query-major: query i owns len(masks) keys
                starts = self._starts[c]
                lo = starts[keys]
                lengths = starts[keys + 1] - lo
                total = int(lengths.sum())
                if not total:
                    continue
                # the bucket slices [lo_i, lo_i + len_i) concatenated without a Python loop
                idx = np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
                qi = np.repeat(np.arange(nq, dtype=np.int64), lengths.reshape(nq, len(masks)).sum(axis=1))
                hit = popcount(self._sorted[c][idx] ^ q[qi]) <= radius
                pos_parts.append(self._order[c][idx[hit]])
                qi_parts.append(qi[hit])
            if not pos_parts:
                return [np.empty(0, dtype=np.int64) for _ in range(nq)]
            pos, qi = np.concatenate(pos_parts), np.concatenate(qi_parts)
        found = np.unique(qi * n + pos)  # a hash found through several chunks counts once
        qi, pos = np.divmod(found, n)
        bounds = np.searchsorted(qi, np.arange(nq + 1))
        return [pos[bounds[i] : bounds[i + 1]] for i in range(nq)]

    def positions(self, query: int, radius: int) -> I64:
        """Positions (in insertion order) of the hashes within ``radius`` of ``query``, ascending."""
        return self._block(as_u64([query]), radius)[0]

    def query(self, query: int, radius: int) -> I64:
        """Ids of the hashes within ``radius`` of ``query``, in insertion order."""
        return self.ids[self.positions(query, radius)]

    def pairs(self, radius: int) -> list[tuple[int, int, int]]:
        """Every pair of ids (a before b in insertion order) within ``radius``, with their distance."""
        out: list[tuple[int, int, int]] = []
        for i, found in enumerate(self.positions_many(self.hashes, radius)):
            later = found[found > i]
            dist = popcount(self.hashes[later] ^ self.hashes[i])
            out.extend((int(self.ids[i]), int(self.ids[j]), int(d)) for j, d in zip(later, dist, strict=True))
        return out
