"""The unit's SQLite database: numbered migrations, WAL, and one writer thread.

SQLite serialises writers anyway; funnelling every write of the daemon through one thread makes
ordering explicit ("a read is committed before it is alerted or queued"), lets us measure the
longest writer stall, and keeps long jobs (purge) from starving capture: they submit small batches.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from importlib import resources
from pathlib import Path
from typing import Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
DB_NAME = "alpr.db"


class StorageError(Exception):
    """The database cannot be opened or written; the message says what a technician can do."""


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("firmware.storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the database with the pragmas every connection needs."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        # Only takes effect on a new, empty database; purge relies on incremental vacuum.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA secure_delete = ON")
    return conn


def open_database(data_dir: Path) -> sqlite3.Connection:
    """Create the data dir and database if needed and bring the schema up to date."""
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        conn = connect(data_dir / DB_NAME)
        migrate(conn)
    except (OSError, sqlite3.OperationalError) as exc:
        raise StorageError(f"cannot open database in {data_dir}: {exc}") from exc
    return conn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction. Returns their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in _migrations():
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
        log.info("migration applied", extra={"event": "db.migrate", "migration": name})
    return applied


def _split_sql(sql: str) -> list[str]:
    statements, current = [], []
    for line in sql.splitlines():
        current.append(line)
        candidate = "\n".join(current)
        if sqlite3.complete_statement(candidate):
            if candidate.strip():
                statements.append(candidate)
            current = []
    rest = "\n".join(current).strip()
    if rest and not all(l.strip().startswith("--") for l in rest.splitlines() if l.strip()):
        statements.append(rest)
    return statements


class Writer:
    """The one thread that writes. Jobs are callables over the connection, run in a transaction."""

    _STOP = object()

    def __init__(self, conn: sqlite3.Connection, max_queue: int = 10_000):
        self._conn = conn
        self._jobs: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        self.longest_job_s = 0.0
        self.jobs_done = 0

    def start(self) -> "Writer":
        self._thread.start()
        return self

    def submit(self, job: Callable[[sqlite3.Connection], T]) -> Future:
        future: Future = Future()
        self._jobs.put((job, future))
        return future

    def call(self, job: Callable[[sqlite3.Connection], T], timeout: float | None = 60) -> T:
        return self.submit(job).result(timeout=timeout)

    def stop(self) -> None:
        """Finish every queued job, then stop."""
        if self._thread.is_alive():
            self._jobs.put((self._STOP, None))
            self._thread.join()

    def _run(self) -> None:
        while True:
            job, future = self._jobs.get()
            if job is self._STOP:
                return
            if not future.set_running_or_notify_cancel():
                continue
            started = time.perf_counter()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                result = job(self._conn)
                self._conn.execute("COMMIT")
                future.set_result(result)
            except BaseException as exc:  # the job's error belongs to its caller
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                future.set_exception(exc)
            finally:
                self.longest_job_s = max(self.longest_job_s, time.perf_counter() - started)
                self.jobs_done += 1


def transaction(conn: sqlite3.Connection, job: Callable[[sqlite3.Connection], T]) -> T:
    """Run `job` in one immediate transaction on a connection (CLI tools, which are their own writer)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = job(conn)
        conn.execute("COMMIT")
        return result
    except BaseException:
        conn.execute("ROLLBACK")
        raise
