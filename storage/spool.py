"""A durable append-only spool: length- and CRC-framed records in fsync'd segment files.

The tracking service answers 2xx only after its event is in the spool, so the spool, not the
lake, is the point of durability. Records are appended to the active segment
(``seg-<seq>.log``) with one ``write`` and one ``fdatasync`` per batch (callers group concurrent
requests into a batch). A flusher seals the active segment (:meth:`Spool.rotate`), reads the
sealed ones, writes their records to the lake, and only then removes them; a crash in between
replays them, which is safe because lake writes drop rows whose key is already there.

A record is ``<u32 length><u32 crc32><payload>``. A process killed mid-append can leave a torn
last record; reading stops there (that record was never acknowledged, since its fsync had not
returned).
"""

from __future__ import annotations

import os
import re
import struct
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

_HEADER = struct.Struct(">II")
_NAME = re.compile(r"^seg-(\d{16})\.log$")
MAX_RECORD_BYTES = 64 << 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def frame(payload: bytes) -> bytes:
    """One record as it is laid on disk."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> list[bytes]:
    """The intact records of a segment, in order; a torn or corrupt tail ends the read."""
    data = path.read_bytes()
    out: list[bytes] = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if length > MAX_RECORD_BYTES or start + length > len(data):
            break
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            break
        out.append(payload)
        pos = start + length
    return out


class Spool:
    """Segment files in one folder; one process appends to it at a time (one spool per instance)."""

    def __init__(self, folder: Path, *, segment_bytes: int = 16 << 20) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        existing = self._segments()
        self._sealed_counts: dict[Path, int] = {p: len(read_segment(p)) for p in existing}
        self._seq = (int(_NAME.match(existing[-1].name).group(1)) if existing else 0) + 1  # type: ignore[union-attr]
        self._fd = -1
        self._active = self._path(self._seq)
        self._active_records = 0
        self._active_bytes = 0
        self._open_active()

    # ---- segments ------------------------------------------------------------------------------
    def _path(self, seq: int) -> Path:
        return self.folder / f"seg-{seq:016d}.log"

    def _segments(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if _NAME.match(p.name))

    def _open_active(self) -> None:
        self._fd = os.open(self._active, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _fsync_dir(self.folder)

    # ---- writing -------------------------------------------------------------------------------
    def append_many(self, payloads: Sequence[bytes]) -> None:
        """Append records and fsync them; when this returns they survive a crash of the process or OS."""
        if not payloads:
            return
        blob = b"".join(frame(p) for p in payloads)
        with self._lock:
            if self._fd < 0:
                raise RuntimeError("spool is closed")
            view = memoryview(blob)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fdatasync(self._fd)
            self._active_records += len(payloads)
            self._active_bytes += len(blob)
            full = self._active_bytes >= self.segment_bytes
        if full:
            self.rotate()

    def rotate(self) -> None:
        """Seal the active segment (when it holds records) and start a new one."""
        with self._lock:
            if self._active_records == 0 or self._fd < 0:
                return
            os.close(self._fd)
            self._sealed_counts[self._active] = self._active_records
            self._seq += 1
            self._active = self._path(self._seq)
            self._active_records = 0
            self._active_bytes = 0
            self._open_active()

    # ---- draining ------------------------------------------------------------------------------
    def sealed(self) -> list[Path]:
        """Sealed segments, oldest first: what a flusher may read and then remove."""
        with self._lock:
            return sorted(self._sealed_counts)

    def remove(self, paths: Iterable[Path]) -> None:
        """Forget segments whose records are safely in the lake."""
        with self._lock:
            for path in paths:
                path.unlink(missing_ok=True)
                self._sealed_counts.pop(path, None)
            _fsync_dir(self.folder)

    @property
    def depth(self) -> int:
        """Records acknowledged but not yet removed (the flusher's backlog)."""
        with self._lock:
            return self._active_records + sum(self._sealed_counts.values())

    @property
    def active_records(self) -> int:
        """Records in the active segment."""
        return self._active_records

    def close(self) -> None:
        """Close the active segment (an empty one is removed)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
                if self._active_records == 0:
                    self._active.unlink(missing_ok=True)


class SpoolBusy(RuntimeError):
    """Another process (a running tracking service) owns the spool folder."""


OWNER_LOCK = ".owner.lock"


class SpoolOwnership:
    """An exclusive, non-blocking ``flock`` on the spool folder's owner file, held until :meth:`release`.

    The tracking service holds it while it runs; a batch flush (the daily pipeline's tracking step)
    takes it too, so the two never drain one spool at once. The kernel drops the lock when its
    holder dies, even by ``kill -9``, so a crashed service never blocks the next flush.
    """

    def __init__(self, folder: Path) -> None:
        import fcntl

        Path(folder).mkdir(parents=True, exist_ok=True)
        self._fd = os.open(Path(folder) / OWNER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = -1
            raise SpoolBusy(f"the spool {folder} is in use by a running tracking service") from None

    def release(self) -> None:
        """Give the folder up (closing the file drops the lock)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
