"""Near-duplicates: edited copies of a photo are found, different pictures (even in one template) are not."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from aicmo.settings import MediaSettings
from aicmo.tasks.media.dupes import near_duplicate_pairs
from aicmo.tasks.media.hashing import hamming, phash_dhash
from aicmo.tasks.sample.creatives import make_creatives
from tests.media.images import EDITS, encode, photo, templated

SEEDS = range(12)


def _hash(data: bytes) -> tuple[str, str]:
    with Image.open(io.BytesIO(data)) as img:
        return phash_dhash(img)


def test_edited_copies_are_found_and_different_pictures_are_not() -> None:
    distance = MediaSettings().dupe_distance
    rows: list[tuple[int, str, str | None]] = []
    family: dict[int, int] = {}
    originals: dict[int, int] = {}  # edited copy -> its original
    for seed in SEEDS:
        base = photo(seed)
        items = [encode(base), *(encode(edit(base), "JPEG", quality=88) for edit in EDITS.values())]
        items.append(encode(templated(seed + 50)))  # same banner template, another photo
        for k, data in enumerate(items):
            asset_id = len(rows) + 1
            rows.append((asset_id, *_hash(data)))
            family[asset_id] = seed if k < len(items) - 1 else 1000 + seed
            if 0 < k < len(items) - 1:
                originals[asset_id] = asset_id - k
    pairs = {(a, b) for a, b, _, _ in near_duplicate_pairs(rows, distance)}
    missed = {(o, c) for c, o in originals.items()} - pairs
    assert not missed, f"edited copies not matched to their original: {missed}"
    wrong = {(a, b) for a, b in pairs if family[a] != family[b]}
    assert not wrong, f"different pictures matched: {wrong}"


def test_fast_hashes_stay_close_to_imagehash_on_full_size_jpegs() -> None:
    for seed in range(2):
        data = encode(photo(seed, (1200, 800)), "JPEG", quality=90)
        with Image.open(io.BytesIO(data)) as img:
            reference = str(imagehash.phash(img)), str(imagehash.dhash(img))
        fast = _hash(data)
        assert hamming(fast[0], reference[0]) <= 6
        assert hamming(fast[1], reference[1]) <= 6


def test_planted_sample_near_duplicates_are_found(tmp_path: Path) -> None:
    creatives = make_creatives(np.random.default_rng(5), tmp_path)
    ids = {c.name: i + 1 for i, c in enumerate(creatives)}
    rows = [(ids[c.name], *_hash(c.path.read_bytes())) for c in creatives]
    pairs = {(a, b) for a, b, _, _ in near_duplicate_pairs(rows, MediaSettings().dupe_distance)}
    planted = {tuple(sorted((ids[c.name], ids[c.original]))) for c in creatives if c.original}
    assert planted <= pairs
    # nothing else matches, except copies of one original matching each other
    origin = {ids[c.name]: ids[c.original or c.name] for c in creatives}
    assert all(origin[a] == origin[b] for a, b in pairs)
