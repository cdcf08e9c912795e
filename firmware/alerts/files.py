"""Alert files (the recording sink's JSON lines) rotate, and leave with the reads they name.

An alert line carries the plate, so it is scan data like the read itself: when the purge deletes a
read, its alert lines go too. The sink appends to `alerts.jsonl` and rotates it to
`alerts-<UTC stamp>.jsonl` past a size; the purge rewrites every alert file without the lines of
purged reads (and deletes files left empty). Writer and purge share an flock on `.alerts.lock`, so a
line appended during a rewrite is never lost. The old file's bytes are overwritten with zeros before
the rewritten copy replaces it.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

CURRENT = "alerts.jsonl"
LOCK = ".alerts.lock"
ROTATE_BYTES = 1024 * 1024


@contextmanager
def locked(data_dir: Path) -> Iterator[None]:
    fd = os.open(Path(data_dir) / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def alert_files(data_dir: Path) -> list[Path]:
    data_dir = Path(data_dir)
    return sorted(p for p in data_dir.glob("alerts*.jsonl") if p.is_file())


def append_alert(path: Path, line: str, at: datetime, rotate_bytes: int = ROTATE_BYTES) -> None:
    """Append one line under the lock; rotate the file once it passes `rotate_bytes`."""
    path = Path(path)
    with locked(path.parent):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line if line.endswith("\n") else line + "\n")
            size = fh.tell()
        if size >= rotate_bytes:
            stamp, n = at.strftime("%Y%m%dT%H%M%S%fZ"), 0
            target = path.with_name(f"alerts-{stamp}.jsonl")
            while target.exists():  # never rotate over an older file
                n += 1
                target = path.with_name(f"alerts-{stamp}-{n}.jsonl")
            os.replace(path, target)


def keep_line(line: str, alive: set[str], cutoff: str) -> bool:
    """Pure: an alert line stays while its read is stored, or while it is too young to be purged anyway."""
    try:
        alert = json.loads(line)
        read_id, captured = str(alert["read_id"]), str(alert.get("captured_at") or "")
    except (ValueError, KeyError, TypeError):
        return False  # a torn or foreign line ties to no read: it cannot be kept for one
    return read_id in alive or captured > cutoff


def _read_ids(lines: list[str]) -> set[str]:
    ids = set()
    for line in lines:
        try:
            ids.add(str(json.loads(line)["read_id"]))
        except (ValueError, KeyError, TypeError):
            continue
    return ids


def _shred_and_replace(path: Path, kept: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if kept:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(kept)
            fh.flush()
            os.fsync(fh.fileno())
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # the purged lines' bytes do not linger in the old file's blocks
        fh.write(b"\0" * size)
        fh.flush()
        os.fsync(fh.fileno())
    if kept:
        os.replace(tmp, path)
    else:
        path.unlink()


def purge_alert_files(data_dir: Path, existing: Callable[[set[str]], set[str]], cutoff: str,
                      dry_run: bool = False) -> dict:
    """Drop the lines of reads that are gone. `existing(ids)` says which read ids are still stored
    (it runs outside the file lock, so capture's alerts never wait on the database)."""
    out = {"files": 0, "lines_purged": 0, "files_deleted": 0}
    for path in alert_files(data_dir):
        with locked(data_dir):
            snapshot = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        alive = existing(_read_ids(snapshot))
        doomed = [line for line in snapshot if not keep_line(line, alive, cutoff)]
        out["files"] += 1
        if not doomed:
            continue
        out["lines_purged"] += len(doomed)
        if dry_run:
            continue
        with locked(data_dir):
            if not path.exists():
                continue
            current = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
            if current[:len(snapshot)] != snapshot:
                out["lines_purged"] -= len(doomed)  # rewritten by another purge meanwhile: next run
                continue
            kept = [line for line in snapshot if keep_line(line, alive, cutoff)] + current[len(snapshot):]
            _shred_and_replace(path, kept)
            out["files_deleted"] += 0 if kept else 1
    return out
