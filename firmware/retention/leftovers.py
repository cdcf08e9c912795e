"""What else names a plate once its read is purged (issue 17 item 6): the recording sink's alert
files, expired manual hotlist entries past their grace period, and hotlist index caches of versions
that are no longer current. Called by the purge between its read and audit phases, through the same
`run_job` (one writer transaction per step)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from firmware.alerts.files import purge_alert_files
from firmware.hotlist.expiry import delete_expired_manual
from firmware.retention.config import RetentionConfig


def purge_leftovers(run_job: Callable, data_dir: Path, config: RetentionConfig, unit_id: str, now: datetime,
                    cutoff: str, dry_run: bool) -> dict:
    def existing(ids: set[str]) -> set[str]:
        found, ordered = set(), sorted(ids)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i:i + 500]
            found |= run_job(lambda c: {r[0] for r in c.execute(
                f"SELECT id FROM reads WHERE id IN ({','.join('?' * len(chunk))})", chunk)})
        return found

    out = {"alert_files": purge_alert_files(data_dir, existing, cutoff, dry_run)}
    grace = timedelta(days=config.manual_entry_grace_days)
    out["manual_entries_deleted"] = run_job(lambda c: delete_expired_manual(
        c, at=now, grace=grace, unit_id=unit_id, dry_run=dry_run))
    if out["manual_entries_deleted"] and not dry_run:
        current = run_job(lambda c: {f"{r[0]}-{r[1]}" for r in c.execute("SELECT id, version FROM hotlists")})
        drop_stale_index_caches(Path(data_dir), current)
    return out


def drop_stale_index_caches(data_dir: Path, current: set[str]) -> None:
    """Index caches (cache/hotlist/<list id>-<version>) of versions no longer current: the daemon rebuilds
    its own, but a CLI purge must not leave deleted entries' plates in an old cache."""
    root = data_dir / "cache" / "hotlist"
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.is_dir() and folder.name not in current:
            shutil.rmtree(folder, ignore_errors=True)
