"""The daemon's hotlist matcher: every list's current version in memory, refreshed in the background.

Lists are written by other processes (the CLI, sync) into SQLite; this service only reads. A worker
polls the list versions every `poll_interval_s`; a changed list is rebuilt from one consistent
snapshot into a new immutable index and swapped in with a single reference assignment, so `match`
(called from the pipeline thread, no lock) sees either the old or the new version, never half a list.
A list older than `max_age_hours` is reported stale (health warning) until a newer version arrives.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from firmware.clock import Clock, parse_iso_utc
from firmware.hotlist import store
from firmware.hotlist.config import HotlistConfig
from firmware.hotlist.index import INDEX_FORMAT, ListIndex
from firmware.hotlist.match import KIND_RANK, normalise_plate
from firmware.records import Hit
from firmware.storage.db import DB_NAME, connect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedList:
    id: int
    name: str
    source: str
    category: str | None
    priority: int
    alert: str
    version: int
    sha256: str | None
    loaded_at: str | None
    loaded_s: float | None            # epoch seconds of loaded_at
    index: ListIndex


def _trim_heap() -> None:
    """Hand freed heap back to the OS after a swap. glibc keeps a replaced 60 MB index's pages mapped
    (its mmap threshold adapts upwards after large frees): measured 167 -> 110 MB RSS after a 2M swap."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):   # not glibc: nothing to do
        pass


class HotlistService:
    """on_event(kind, source, detail): kind is an events-table kind (malfunction, back_in_service, info),
    source is "hotlist:<name>"; the daemon records it."""

    def __init__(self, config: HotlistConfig, data_dir: Path, clock: Clock, unit_id: str,
                 on_event: Callable[[str, str, dict], None] | None = None):
        self.config = config
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.unit_id = unit_id
        self.on_event = on_event
        self.options = config.match_options()
        self._lists: tuple[LoadedList, ...] = ()
        self._stale: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_conn: sqlite3.Connection | None = None
        self._note_conn: sqlite3.Connection | None = None
        self._note_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self.polls = 0
        self.poll_errors = 0
        self.last_error: str | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        path = self.data_dir / DB_NAME
        self._poll_conn = connect(path, readonly=True)
        self._note_conn = connect(path, readonly=True)
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="hotlist-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for conn in (self._poll_conn, self._note_conn):
            if conn is not None:
                conn.close()
        self._poll_conn = self._note_conn = None

    def _run(self) -> None:
        while not self._stop.wait(self.config.poll_interval_s):
            try:
                self.refresh()
            except Exception as exc:  # keep matching with what is loaded; say so once per poll
                self.poll_errors += 1
                self.last_error = str(exc)
                log.error("hotlist refresh failed", extra={"event": "hotlist.refresh_failed", "error": str(exc)})

    # ---- loading ------------------------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Load every list whose version changed since the last look. Returns the names swapped in."""
        with self._refresh_lock:
            changed = self._refresh()
        if changed:
            _trim_heap()            # here, once the replaced indexes are unreferenced
        return changed

    def _refresh(self) -> list[str]:
        conn = self._poll_conn
        assert conn is not None, "start() first"
        current = {l.id: l for l in self._lists}
        conn.execute("BEGIN")                # one snapshot: a version and its entries agree
        try:
            rows = store.list_rows(conn)
            changed, keep = [], []
            for row in rows:
                old = current.get(row["id"])
                if old is not None and old.version == row["version"]:
                    keep.append(old)
                    continue
                index = self._index(conn, row)
                loaded_at = row["loaded_at"]
                keep.append(LoadedList(row["id"], row["name"], row["source"], row["category"], row["priority"],
                                       row["alert"], row["version"], row["sha256"], loaded_at,
                                       parse_iso_utc(loaded_at).timestamp() if loaded_at else None, index))
                changed.append(row["name"])
        finally:
            conn.execute("COMMIT")
        self.polls += 1
        if changed or len(keep) != len(current):
            self._drop_stale_caches({l.id for l in keep})
            self._lists = tuple(sorted(keep, key=lambda l: (l.priority, l.name)))
            for name in changed:
                loaded = next(l for l in keep if l.name == name)
                log.info("hotlist loaded", extra={"event": "hotlist.loaded", "list": name,
                                                  "version": loaded.version, "entries": len(loaded.index),
                                                  "index_mb": round(loaded.index.nbytes / 1e6, 1)})
                self._emit("info", name, {"loaded": True, "version": loaded.version, "entries": len(loaded.index)})
        self._check_stale()
        return changed

    def _index(self, conn: sqlite3.Connection, row: dict) -> ListIndex:
        """The list's index from the cache when it holds this very version, else built from the DB (and cached).

        Building 2M entries from SQLite takes seconds of CPU; the cache makes a restart (and the CLI's
        `hotlist match`) read ~70 MB of arrays instead. The DB stays the truth: a cache entry is used only
        when name, version, load time and hash all agree.
        """
        if not self.config.index_cache:
            return store.load_index(conn, row["id"])
        key = {k: row[k] for k in ("name", "version", "loaded_at", "sha256", "entries")} | {"format": INDEX_FORMAT}
        root = self.data_dir / "cache" / "hotlist"
        folder = root / f"{row['id']}-{row['version']}"
        if (folder / "meta.json").exists():
            try:
                index, meta = ListIndex.load(folder)
                if meta == key:
                    return index
            except (OSError, ValueError, KeyError) as exc:
                log.warning("hotlist cache unreadable", extra={"event": "hotlist.cache_bad", "error": str(exc)})
        index = store.load_index(conn, row["id"])
        try:
            index.save(folder, key)
            for old in root.glob(f"{row['id']}-*"):
                if old != folder:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            log.warning("hotlist cache not written", extra={"event": "hotlist.cache_write_failed", "error": str(exc)})
        return index

    def _drop_stale_caches(self, live_ids: set[int]) -> None:
        root = self.data_dir / "cache" / "hotlist"
        if not self.config.index_cache or not root.is_dir():
            return
        for folder in root.iterdir():
            list_id = folder.name.split("-", 1)[0]
            if not (list_id.isdigit() and int(list_id) in live_ids):
                shutil.rmtree(folder, ignore_errors=True)

    def _age_s(self, lst: LoadedList, now_s: float) -> float | None:
        return None if lst.loaded_s is None else max(0.0, now_s - lst.loaded_s)

    def _is_stale(self, lst: LoadedList, now_s: float) -> bool:
        age = self._age_s(lst, now_s)
        return lst.source != "manual" and (age is None or age > self.config.max_age_hours * 3600)

    def _check_stale(self) -> None:
        now_s = self.clock.utc().timestamp()
        for lst in self._lists:
            stale = self._is_stale(lst, now_s)
            if stale and lst.name not in self._stale:
                self._stale.add(lst.name)
                log.warning("hotlist is stale", extra={"event": "hotlist.stale", "list": lst.name,
                                                       "age_s": self._age_s(lst, now_s)})
                self._emit("malfunction", lst.name, {"reason": "stale", "age_s": self._age_s(lst, now_s),
                                                     "max_age_hours": self.config.max_age_hours})
            elif not stale and lst.name in self._stale:
                self._stale.discard(lst.name)
                self._emit("back_in_service", lst.name, {"reason": "fresh", "version": lst.version})

    def _emit(self, kind: str, name: str, detail: dict) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, f"hotlist:{name}", detail)
            except Exception:
                log.exception("on_event failed", extra={"event": "hotlist.on_event_failed"})

    # ---- matching -----------------------------------------------------------------------------------
    def match(self, plate: str, state: str | None = None, *, annotations: bool = True) -> list[Hit]:
        """Every hit of a read, highest priority first; each says how it matched and how old its list is."""
        read = normalise_plate(plate)
        state = (state or "").strip().upper() or None
        now = self.clock.utc().timestamp()
        now_s = int(now)
        hits = []
        for lst in self._lists:
            seen = set()
            for cand in lst.index.lookup(read, state, now_s, self.options):
                if (cand.plate, cand.state) in seen:      # a list may carry the same plate twice
                    continue
                seen.add((cand.plate, cand.state))
                notes = self._annotations(cand.row_id) if annotations else {}
                hits.append(Hit(
                    list_name=lst.name, entry_plate=cand.plate, entry_state=cand.state,
                    category=cand.category or lst.category, priority=lst.priority, match=cand.match.kind,
                    positions=cand.match.positions, possible=cand.match.possible, alert=lst.alert,
                    list_version=lst.version, list_age_s=self._age_s(lst, now), annotations=notes))
        hits.sort(key=lambda h: (h.priority, h.possible, KIND_RANK[h.match], len(h.positions), h.list_name,
                                 h.entry_plate))
        return hits

    def _annotations(self, row_id: int) -> dict:
        if self._note_conn is None:
            return {}
        try:
            with self._note_lock:
                return store.entry_annotations(self._note_conn, row_id)
        except sqlite3.Error:
            return {}

    def status(self) -> dict:
        now = self.clock.utc().timestamp()
        lists = [{"name": l.name, "source": l.source, "category": l.category, "priority": l.priority,
                  "alert": l.alert, "version": l.version, "sha256": l.sha256, "entries": len(l.index),
                  "loaded_at": l.loaded_at, "age_s": self._age_s(l, now), "stale": self._is_stale(l, now),
                  "index_mb": round(l.index.nbytes / 1e6, 2)} for l in self._lists]
        return {"lists": lists, "stale": [l["name"] for l in lists if l["stale"]], "polls": self.polls,
                "poll_errors": self.poll_errors, "last_error": self.last_error}
