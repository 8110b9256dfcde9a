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

Every timed run is recorded (``results.py``) for ``make bench``: wall and CPU seconds of this
process (ingest with workers > 1 hashes in a process pool whose CPU time is not counted) and peak
memory, with the checks above.

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

sys.path.insert(0, str(ROOT / "benchmarks"))
from results import Recorder, measure  # noqa: E402

REC: Recorder | None = None
"""The recorder of this run (set by ``main``); ``timed`` adds every run it measures to it."""


def timed(
    fn: Callable[[], Any], runs: int, rec_as: tuple[str, str, str, int, str] | None = None
) -> tuple[float, float, float, Any]:
    """Median, min and max seconds of ``runs`` calls, and the last result.

    ``rec_as`` (contender, role, stage, size, unit) records every run in ``REC``.
    """
    times, result = [], None
    for _ in range(runs):
        result, run = measure(fn)
        times.append(run.seconds)
        if rec_as is not None and REC is not None:
            REC.add(*rec_as, run)
    return statistics.median(times), min(times), max(times), result


def check(what: str, tolerance: str, passed: bool, detail: str = "") -> None:
    """Record an equality check in ``REC`` (which stops the benchmark if it failed), else assert it."""
    if REC is not None:
        REC.check(what, tolerance, passed, detail)
    else:
        assert passed, f"{what}: {detail}"


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
    if REC is not None:
        REC.check(
            "hashing: our hashes pair every edited JPEG with its original (before timing)",
            f"within the dupe distance {MediaSettings().dupe_distance}",
            found == len(planted),
            f"{found}/{len(planted)} edits paired, {extra} other pairs; our pHash vs imagehash's: mean "
            f"{statistics.mean(diff):.2f} bits apart, max {max(diff)}",
        )
    n = len(paths)
    t_ours = timed(
        lambda: ours_hash(paths), args.runs, ("ours: pHash + dHash", "ours", "hashing", n, "files")
    )
    t_peer = timed(lambda: peer_hash(paths), args.runs, ("imagehash.phash", "peer", "hashing", n, "files"))
    if REC is not None:
        REC.ratio("imagehash.phash", "ours: pHash + dHash", "hashing", n)
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
    nh = len(hashes)
    t_build = timed(
        lambda: HammingIndex(hashes), 1, ("ours: HammingIndex", "ours", "index build", nh, "hashes")
    )
    index: HammingIndex = t_build[3]
    t_tree = timed(
        lambda: pybktree.BKTree(
            lambda a, b: (a[0] ^ b[0]).bit_count(), [(int(h), i) for i, h in enumerate(hashes)]
        ),
        1,
        ("pybktree", "peer", "index build", nh, "hashes"),
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
        hits = sum(len(a) for a in ours)
        check(
            f"index: every query's hits within radius {r}, ours vs the NumPy scan (before timing)",
            "exact",
            all(np.array_equal(a, b) for a, b in zip(ours, scan, strict=True)),
            f"{len(queries):,} queries, {hits:,} hits",
        )
        ours_tree = [
            np.sort(np.asarray([item for _, (_, item) in tree.find((int(q), -1), r)], dtype=np.int64))
            for q in tree_q
        ]
        check(
            f"index: hits within radius {r}, pybktree vs the NumPy scan (its {len(tree_q)} queries)",
            "exact",
            all(np.array_equal(a, b) for a, b in zip(ours_tree, scan, strict=False)),
        )
        stage, nq = f"queries, radius {r}", len(queries)
        t_ours = timed(
            lambda r=r: index.positions_many(queries, r), args.runs,
            ("ours: positions_many (batch)", "ours", stage, nq, "queries"),
        )  # fmt: skip
        t_single = timed(
            lambda r=r: [index.positions(int(q), r) for q in queries], 1,
            ("ours: positions, one query at a time", "ours", stage, nq, "queries"),
        )  # fmt: skip
        t_scan = timed(
            lambda r=r: numpy_scan(hashes, queries, r), args.runs,
            ("NumPy XOR/popcount scan", "peer", stage, nq, "queries"),
        )  # fmt: skip
        t_tree_r = (
            timed(
                lambda r=r: tree_query() if r else None,
                1,
                ("pybktree", "peer", stage, len(tree_q), "queries"),
            )
            if args.tree_queries
            else (float("nan"),) * 3
        )
        if REC is not None:
            REC.ratio("NumPy XOR/popcount scan", "ours: positions_many (batch)", stage, nq)
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

    checked: set[int] = set()

    def ours(workers: int) -> int:
        run = Path(tempfile.mkdtemp(dir=work))
        engine = make_engine(f"sqlite:///{run / 'store.db'}")
        upgrade(engine)  # an empty, migrated store, as after `aicmo db upgrade` (not timed)
        media = MediaSettings(store_url=str(run / "media"), workers=workers)
        report, measured = measure(lambda: ingest_paths(engine, [folder], media=media))
        engine.dispose()
        shutil.rmtree(run)
        complete = not report.rejected and len(report.added) == args.ingest_files
        if workers not in checked or not complete:  # recorded once per setting; every run is checked
            checked.add(workers)
            check(
                f"ingest (workers={workers}, every run): every file added, none rejected",
                "exact",
                complete,
                f"{len(report.added)} added, {len(report.rejected)} rejected of {args.ingest_files}",
            )
        if REC is not None:
            REC.add(f"ours: ingest_paths (workers={workers})", "ours", "ingest", args.ingest_files, "files",
                    measured)  # fmt: skip
        return measured.seconds

    def peer() -> int:
        run = Path(tempfile.mkdtemp(dir=work))
        n = peer_ingest(folder, run)
        shutil.rmtree(run)
        return n

    n = args.ingest_files
    t_peer = timed(peer, args.runs_ingest, ("straightforward loop", "peer", "ingest", n, "files"))
    check("ingest: the straightforward loop stores every file", "exact", t_peer[3] == n, f"{t_peer[3]} rows")
    out: dict[str, Any] = {"files": n, "peer_s": t_peer[:3]}
    for workers in sorted({1, args.workers}):
        runs = sorted(ours(workers) for _ in range(args.runs_ingest))
        med = statistics.median(runs)
        print(f"ingest {n} images: ours (workers={workers}) {med:.2f} s (range {runs[0]:.2f}-{runs[-1]:.2f}) = "
              f"{n / med:.0f}/s; straightforward loop {fmt(t_peer)} = {n / t_peer[0]:.0f}/s; "
              f"ratio {t_peer[0] / med:.2f}x")  # fmt: skip
        out[f"workers_{workers}"] = {"ours_s": med, "ratio": t_peer[0] / med}
        if REC is not None:
            REC.ratio("straightforward loop", f"ours: ingest_paths (workers={workers})", "ingest", n)
    return out


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    info = machine_info.machine(pillow=PIL.__version__, numpy=np.__version__, imagehash=imagehash.__version__)
    print(machine_info.describe(info), f"load {info['load_avg']}")
    results: dict[str, Any] = {"machine": info}
    global REC
    REC = Recorder(
        "media",
        "Media library: hashing, near-duplicate index and ingest, each beside its peer",
        f"Hashing: {args.hash_files} JPEGs 1920x1280 (half of them edits of the others), ours pHash + dHash "
        "(decoded at reduced size) vs `imagehash.phash(Image.open(path))` (pHash only). Index: every hash "
        f"within radius 4 and 8 over {args.hashes:,} 64-bit hashes, {args.queries:,} queries, ours (multi-index "
        f"hashing) vs a vectorized NumPy scan and pybktree (on {args.tree_queries} queries). Ingest: "
        f"{args.ingest_files:,} images into a fresh SQLite store and content store, ours vs a straightforward "
        "loop (Pillow, imagehash pHash + dHash at full size, SHA-256, copy, one executemany). CPU is this "
        "process's: with workers=2 the ingest hashes in a process pool whose CPU time is not counted.",
        {k: str(v) for k, v in vars(args).items()},
    )
    if args.only in (None, "hashing"):
        results["hashing"] = bench_hashing(args, args.work)
    if args.only in (None, "index"):
        results["index"] = bench_index(args)
    if args.only in (None, "ingest"):
        results["ingest"] = bench_ingest(args, args.work)
    print(json.dumps(results, default=str))
    REC.save(pillow=PIL.__version__, numpy=np.__version__, imagehash=imagehash.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
