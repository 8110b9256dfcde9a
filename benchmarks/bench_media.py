"""Media library benchmarks, each beside its peer in the same run, outputs checked before timing.

1. **hashing**: pHash + dHash of real-size JPEGs (photo-like, 1920x1280) with ours
   (``aicmo.tasks.media.hashing.phash_dhash``: JPEG decoded at reduced size with Pillow's
   ``draft``, one small DCT product) beside plain ``imagehash.phash(Image.open(path))`` (pHash
   only, the usual call). Half the files are edits (resized, recompressed, cropped, watermarked)
   of the others: the check is that our stored hashes still pair every edit with its original and
   nothing else, and how many bits they differ from imagehash's.
2. **index**: "every hash within r" over N 64-bit hashes (a third of them planted a few bits from
   another, like near-duplicates) at radius 4 and 8: ``HammingIndex.positions_many`` (multi-index
   hashing) beside a vectorized NumPy XOR/popcount scan per query and beside ``pybktree``
   (BK-tree, the ``bench`` extra). Every answer is compared with the scan's before timing.
3. **ingest**: files end to end into a fresh SQLite store and content store (probe, hash, copy,
   insert), ours (``ingest_paths``) beside a straightforward loop (Pillow load, imagehash pHash +
   dHash at full size, SHA-256, copy, one executemany insert).

    .venv/bin/python benchmarks/bench_media.py --hash-files 60 --hashes 300000 --ingest-files 2000
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import imagehash
import machine_info
import numpy as np
import PIL
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aicmo.settings import MediaSettings  # noqa: E402
from aicmo.storage.db import make_engine  # noqa: E402
from aicmo.storage.migrate import upgrade  # noqa: E402
from aicmo.tasks.media.dupes import near_duplicate_pairs  # noqa: E402
from aicmo.tasks.media.hashing import hamming, phash_dhash  # noqa: E402
from aicmo.tasks.media.index import HammingIndex, brute_force, popcount  # noqa: E402
from aicmo.tasks.media.ingest import ingest_paths  # noqa: E402
from tests.media.images import EDITS, encode, photo  # noqa: E402


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, float, Any]:
    """Median, min and max seconds of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times), result


def fmt(t: tuple[float, float, float, Any]) -> str:
    return f"{t[0]:.3f} s (range {t[1]:.3f}-{t[2]:.3f})"


# ---- 1. hashing ---------------------------------------------------------------------------------
def make_jpegs(folder: Path, n: int, size: tuple[int, int]) -> list[tuple[Path, Path | None]]:
    """n JPEGs: n/2 originals and one edit of each; returns (file, original or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[tuple[Path, Path | None]] = []
    edits = list(EDITS.values())
    for i in range(n // 2):
        base = photo(1000 + i, size)
        orig = folder / f"{i:04d}.jpg"
        orig.write_bytes(encode(base, "JPEG", quality=90))
        edited = folder / f"{i:04d}-edit.jpg"
        edited.write_bytes(encode(edits[i % len(edits)](base), "JPEG", quality=85))
        files += [(orig, None), (edited, orig)]
    return files


def ours_hash(paths: list[Path]) -> list[tuple[str, str]]:
    out = []
    for p in paths:
        with Image.open(p) as img:
            out.append(phash_dhash(img))
    return out


def peer_hash(paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        with Image.open(p) as img:
            out.append(str(imagehash.phash(img)))
    return out


def bench_hashing(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    files = make_jpegs(work / "jpegs", args.hash_files, (1920, 1280))
    paths = [f for f, _ in files]
    ours = ours_hash(paths)
    peer = peer_hash(paths)
    ids = {p: i + 1 for i, p in enumerate(paths)}
    pairs = {(a, b) for a, b, _, _ in near_duplicate_pairs(
        [(ids[p], *h) for p, h in zip(paths, ours, strict=True)], MediaSettings().dupe_distance)}  # fmt: skip
    planted = {(ids[o], ids[f]) for f, o in files if o is not None}
    found, extra = len(planted & pairs), len(pairs - planted)
    diff = [hamming(a[0], b) for a, b in zip(ours, peer, strict=True)]
    print(f"hash check: {found}/{len(planted)} edits paired with their original, {extra} other pairs; "
          f"our pHash vs imagehash: mean {statistics.mean(diff):.2f} bits, max {max(diff)}")  # fmt: skip
    t_ours = timed(lambda: ours_hash(paths), args.runs)
    t_peer = timed(lambda: peer_hash(paths), args.runs)
    n = len(paths)
    print(f"hashing {n} JPEGs 1920x1280: ours (pHash+dHash) {fmt(t_ours)} = {n / t_ours[0]:.1f}/s; "
          f"imagehash.phash {fmt(t_peer)} = {n / t_peer[0]:.1f}/s; ratio {t_peer[0] / t_ours[0]:.2f}x")  # fmt: skip
    return {"files": n, "ours_s": t_ours[:3], "peer_s": t_peer[:3], "ratio": t_peer[0] / t_ours[0],
            "edits_found": found, "edits": len(planted), "other_pairs": extra,
            "mean_bits_vs_imagehash": statistics.mean(diff)}  # fmt: skip


# ---- 2. index -----------------------------------------------------------------------------------
def planted_hashes(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64) | (
        rng.integers(0, 2, n).astype(np.uint64) << np.uint64(63)
    )
    copies = rng.integers(0, n, n // 3)
    for k, src in enumerate(copies):
        flips = rng.choice(64, size=int(rng.integers(0, 9)), replace=False)
        hashes[n - 1 - k] = hashes[src] ^ np.uint64(sum(1 << int(b) for b in flips))
    return hashes


def numpy_scan(hashes: np.ndarray, queries: np.ndarray, radius: int) -> list[np.ndarray]:
    return [np.flatnonzero(np.bitwise_count(hashes ^ q) <= radius) for q in queries]


def bench_index(args: argparse.Namespace) -> dict[str, Any]:
    import pybktree

    hashes = planted_hashes(args.hashes)
    rng = np.random.default_rng(11)
    near = hashes[rng.integers(0, len(hashes), args.queries // 2)] ^ np.uint64(1 << 5)
    queries = np.concatenate([near, planted_hashes(args.queries - len(near), seed=99)])
    t_build = timed(lambda: HammingIndex(hashes), 1)
    index: HammingIndex = t_build[3]
    t_tree = timed(
        lambda: pybktree.BKTree(
            lambda a, b: (a[0] ^ b[0]).bit_count(), [(int(h), i) for i, h in enumerate(hashes)]
        ),
        1,
    )
    tree = t_tree[3]
    print(f"index over {len(hashes):,} hashes: build {t_build[0]:.2f} s; BK-tree build {t_tree[0]:.1f} s")
    out: dict[str, Any] = {
        "hashes": len(hashes),
        "queries": len(queries),
        "build_s": t_build[0],
        "bktree_build_s": t_tree[0],
    }
    tree_q = queries[: args.tree_queries]

    def tree_query() -> list[np.ndarray]:
        return [
            np.sort(np.asarray([item for _, (_, item) in tree.find((int(q), -1), r)], dtype=np.int64))
            for q in tree_q
        ]

    for r in (4, 8):
        ours = index.positions_many(queries, r)
        scan = numpy_scan(hashes, queries, r)
        assert all(np.array_equal(a, b) for a, b in zip(ours, scan, strict=True)), f"index != scan at r={r}"
        ours_tree = [
            np.sort(np.asarray([item for _, (_, item) in tree.find((int(q), -1), r)], dtype=np.int64))
            for q in tree_q
        ]
        assert all(np.array_equal(a, b) for a, b in zip(ours_tree, scan, strict=False)), (
            f"bktree != scan at r={r}"
        )
        hits = sum(len(a) for a in ours)
        t_ours = timed(lambda r=r: index.positions_many(queries, r), args.runs)
        t_single = timed(lambda r=r: [index.positions(int(q), r) for q in queries], 1)
        t_scan = timed(lambda r=r: numpy_scan(hashes, queries, r), args.runs)
        t_tree_r = (
            timed(lambda r=r: tree_query() if r else None, 1) if args.tree_queries else (float("nan"),) * 3
        )
        per = 1e6 / len(queries)
        tree_per = t_tree_r[0] * 1e6 / max(1, len(tree_q))
        print(f"r={r}: {hits:,} hits; ours batch {t_ours[0] * per:.1f} µs/query (range {t_ours[1] * per:.1f}-"
              f"{t_ours[2] * per:.1f}), one at a time {t_single[0] * per:.1f} µs; NumPy scan {t_scan[0] * per:.1f} µs/query "
              f"(range {t_scan[1] * per:.1f}-{t_scan[2] * per:.1f}); pybktree {tree_per:.0f} µs/query "
              f"({len(tree_q)} queries); ours vs scan {t_scan[0] / t_ours[0]:.1f}x, one at a time "
              f"{t_scan[0] / t_single[0]:.1f}x, vs pybktree {tree_per / (t_ours[0] * per):.0f}x")  # fmt: skip
        out[f"r{r}"] = {"hits": hits, "ours_us": t_ours[0] * per, "single_us": t_single[0] * per,
                        "scan_us": t_scan[0] * per, "bktree_us": tree_per, "ratio_scan": t_scan[0] / t_ours[0]}  # fmt: skip
    _ = popcount, brute_force
    return out


# ---- 3. ingest ----------------------------------------------------------------------------------
def make_files(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = photo(5000 + i, (800, 600))
        data = encode(img, "JPEG", quality=85) if i % 3 else encode(img.resize((400, 300)))
        (folder / f"{i:05d}.{'jpg' if i % 3 else 'png'}").write_bytes(data)


def peer_ingest(folder: Path, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(target / "peer.db")
    con.execute("create table if not exists assets (sha256 text primary key, name text, path text, mime text,"
                " width int, height int, size int, phash text, dhash text)")  # fmt: skip
    rows = []
    for p in sorted(folder.iterdir()):
        data = p.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            ph, dh = str(imagehash.phash(img)), str(imagehash.dhash(img))
            dest = target / "objects" / sha[:2] / sha
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dest)
            rows.append(
                (
                    sha,
                    p.name,
                    str(dest),
                    Image.MIME[img.format or ""],
                    img.width,
                    img.height,
                    len(data),
                    ph,
                    dh,
                )
            )
    con.executemany("insert or ignore into assets values (?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
    return len(rows)


def bench_ingest(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    folder = work / "ingest"
    if not folder.exists() or len(list(folder.iterdir())) != args.ingest_files:
        shutil.rmtree(folder, ignore_errors=True)
        make_files(folder, args.ingest_files)

    def ours(workers: int) -> int:
        run = Path(tempfile.mkdtemp(dir=work))
        engine = make_engine(f"sqlite:///{run / 'store.db'}")
        upgrade(engine)  # an empty, migrated store, as after `aicmo db upgrade` (not timed)
        media = MediaSettings(store_url=str(run / "media"), workers=workers)
        t0 = time.perf_counter()
        report = ingest_paths(engine, [folder], media=media)
        elapsed = time.perf_counter() - t0
        engine.dispose()
        shutil.rmtree(run)
        assert not report.rejected and len(report.added) == args.ingest_files
        return elapsed

    def peer() -> int:
        run = Path(tempfile.mkdtemp(dir=work))
        n = peer_ingest(folder, run)
        shutil.rmtree(run)
        return n

    t_peer = timed(peer, args.runs_ingest)
    assert t_peer[3] == args.ingest_files
    n = args.ingest_files
    out: dict[str, Any] = {"files": n, "peer_s": t_peer[:3]}
    for workers in sorted({1, args.workers}):
        runs = sorted(ours(workers) for _ in range(args.runs_ingest))
        med = statistics.median(runs)
        print(f"ingest {n} images: ours (workers={workers}) {med:.2f} s (range {runs[0]:.2f}-{runs[-1]:.2f}) = "
              f"{n / med:.0f}/s; straightforward loop {fmt(t_peer)} = {n / t_peer[0]:.0f}/s; "
              f"ratio {t_peer[0] / med:.2f}x")  # fmt: skip
        out[f"workers_{workers}"] = {"ours_s": med, "ratio": t_peer[0] / med}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hash-files", type=int, default=60)
    parser.add_argument("--hashes", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--tree-queries", type=int, default=50)
    parser.add_argument("--ingest-files", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runs-ingest", type=int, default=1)
    parser.add_argument("--only", choices=["hashing", "index", "ingest"])
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".data" / "media")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    info = machine_info.machine(pillow=PIL.__version__, numpy=np.__version__, imagehash=imagehash.__version__)
    print(machine_info.describe(info), f"load {info['load_avg']}")
    results: dict[str, Any] = {"machine": info}
    if args.only in (None, "hashing"):
        results["hashing"] = bench_hashing(args, args.work)
    if args.only in (None, "index"):
        results["index"] = bench_index(args)
    if args.only in (None, "ingest"):
        results["ingest"] = bench_ingest(args, args.work)
    print(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
