"""A reserve file in the data dir: space the unit set aside while the disk had it, given back when
the disk is found full so the database can open and capture can go on (the same trick as ext4's
reserved blocks, for a card that something else filled). Re-created once space returns.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

RESERVE_NAME = ".alpr-reserve"


def ensure_reserve(data_dir: Path, size_mb: int, min_free_mb: int) -> bool:
    """Create (or complete) the reserve when at least min_free_mb would remain free. True when it is in place."""
    path = Path(data_dir) / RESERVE_NAME
    want = size_mb * 2**20
    have = path.stat().st_size if path.exists() else 0
    if size_mb <= 0 or have >= want:
        return size_mb <= 0 or have >= want
    try:
        free = shutil.disk_usage(data_dir).free
        if free - (want - have) < min_free_mb * 2**20:
            return False
        with open(path, "ab") as fh:
            chunk = b"\0" * 2**20
            while fh.tell() < want:
                fh.write(chunk[: min(len(chunk), want - fh.tell())])
            fh.flush()
            os.fsync(fh.fileno())
        return True
    except OSError:
        path.unlink(missing_ok=True)
        return False


def release_reserve(data_dir: Path) -> int:
    """Delete the reserve; returns the bytes given back (0 when there was none)."""
    path = Path(data_dir) / RESERVE_NAME
    try:
        size = path.stat().st_size
        path.unlink()
        return size
    except FileNotFoundError:
        return 0
