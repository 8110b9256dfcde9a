"""The multi-index Hamming index answers exactly what a full XOR/popcount scan answers."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from aicmo.tasks.media.dupes import near_duplicate_pairs
from aicmo.tasks.media.hashing import hamming, phash_dhash, to_int
from aicmo.tasks.media.index import HammingIndex, brute_force
from tests.media.images import EDITS, encode, photo, templated


def _clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random 64-bit hashes, a third of them a few bits away from another (like real near-duplicates)."""
    base = rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64) | (
        rng.integers(0, 2, n).astype(np.uint64) << np.uint64(63)
    )
    for i in range(n // 3):
        flips = rng.choice(64, size=int(rng.integers(0, 10)), replace=False)
        mask = np.uint64(sum(1 << int(b) for b in flips))
        base[n - 1 - i] = base[i] ^ mask
    return base


@pytest.mark.parametrize("radius", [0, 1, 3, 4, 5, 8, 11, 12, 16, 20])
def test_queries_equal_brute_force_on_random_hashes(radius: int) -> None:
    rng = np.random.default_rng(radius)
    hashes = _clustered(rng, 5000)
    index = HammingIndex(hashes)
    queries = np.concatenate([hashes[rng.integers(0, len(hashes), 150)], _clustered(rng, 50)])
    batch = index.positions_many(queries, radius)
    for q, got in zip(queries, batch, strict=True):
        expected = brute_force(hashes, int(q), radius)
        assert np.array_equal(got, expected)
        assert np.array_equal(index.positions(int(q), radius), expected)


def test_python_ints_above_two_to_the_63_are_exact() -> None:
    hashes = np.asarray([2**64 - 1, 2**63 + 5, 3], dtype=np.uint64)
    index = HammingIndex(hashes, ids=[10, 20, 30])
    assert index.query(2**64 - 2, 1).tolist() == [10]
    assert index.query(to_int("8000000000000004"), 1).tolist() == [20]


def _hashes(data: bytes) -> tuple[str, str]:
    with Image.open(io.BytesIO(data)) as img:
        return phash_dhash(img)


def test_pairs_equal_brute_force_on_real_image_hashes() -> None:
    rows = []
    for seed in range(10):
        base = photo(seed, (200, 150))
        rows.append(_hashes(encode(base)))
        rows.extend(_hashes(encode(edit(base), "JPEG", quality=85)) for edit in EDITS.values())
        rows.append(_hashes(encode(templated(seed + 100, (200, 150)))))
    hashes = [(i + 1, p, d) for i, (p, d) in enumerate(rows)]
    for k in (4, 8, 12):
        index = HammingIndex(
            np.asarray([to_int(p) for _, p, _ in hashes], dtype=np.int64), [i for i, _, _ in hashes]
        )
        expected = sorted(
            (a[0], b[0], hamming(a[1], b[1]))
            for a, b in itertools.combinations(hashes, 2)
            if hamming(a[1], b[1]) <= k
        )
        assert sorted(index.pairs(k)) == expected
    for k in (10, 18, 24):
        expected_128 = sorted(
            (a[0], b[0], hamming(a[1], b[1]), hamming(a[2], b[2]))
            for a, b in itertools.combinations(hashes, 2)
            if hamming(a[1], b[1]) + hamming(a[2], b[2]) <= k
        )
        assert near_duplicate_pairs(hashes, k) == expected_128
