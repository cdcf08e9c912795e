"""Forward-secure MACs over the audit log (Bellare-Yee; Schneier-Kelsey).

The hash chain alone proves nothing against root on the unit: anyone can delete entries and
recompute every hash with the firmware's own functions. So each entry also carries
HMAC-SHA256(key_seq, "seq|hash"), and as soon as an entry is MACed its key is replaced by
key_{seq+1} = SHA-256("evolve" || key_seq) in the same transaction. The unit only ever holds the key
for the *next* entry; the agency holds the initial key from provisioning and can derive every key.
An attacker who takes the unit can append lies from then on, but cannot forge, edit, reorder or
delete anything written before: the MACs of those entries need keys that no longer exist.

Where the key lives: in the database (table audit_key, 0600 with the data dir), because it must
change in the same transaction as the entry it MACs (a rolled-back entry must not burn its key, a
committed one must). Old key versions can survive in SQLite's WAL until it is checkpointed and
restarted (the purge checkpoints with TRUNCATE); docs/compliance.md states that window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path

from firmware.clock import iso_utc

KEY_BYTES = 32
KEY_FILE_SCHEMA = 1


class AuditKeyError(ValueError):
    """The key cannot be provisioned or used as asked; the message says why."""


def evolve(key: bytes) -> bytes:
    """The next epoch's key; the one-way step that makes earlier keys unrecoverable."""
    return hashlib.sha256(b"evolve" + key).digest()


def entry_mac(key: bytes, seq: int, digest: str) -> str:
    """The MAC of one entry: binds its position and its hash (which binds its content and prev_hash)."""
    return hmac.new(key, f"{seq}|{digest}".encode(), hashlib.sha256).hexdigest()


def next_audit_seq(conn: sqlite3.Connection) -> int:
    """The seq the next audit entry gets (AUTOINCREMENT's high-water mark + 1)."""
    high = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    last = conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
    return max(high[0] if high else 0, last or 0) + 1


def _has_key_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_key'").fetchone() is not None


def mac_and_evolve(conn: sqlite3.Connection, seq: int, digest: str) -> str | None:
    """MAC entry `seq` with the current key and replace the key by its successor (caller's transaction).

    None when no key was provisioned yet (the entry is then covered by the hash chain only).
    """
    if not _has_key_table(conn):
        return None
    row = conn.execute("SELECT seq, key FROM audit_key WHERE id = 1").fetchone()
    if row is None:
        return None
    if seq < row[0]:
        raise AuditKeyError(f"audit entry {seq} comes before the key's epoch {row[0]}: the log was rewound")
    key = bytes.fromhex(row[1])
    for _ in range(seq - row[0]):  # only if entries were lost between (verify reports the gap)
        key = evolve(key)
    mac = entry_mac(key, seq, digest)
    conn.execute("UPDATE audit_key SET seq = ?, key = ? WHERE id = 1", (seq + 1, evolve(key).hex()))
    return mac


def key_state(conn: sqlite3.Connection) -> dict | None:
    if not _has_key_table(conn):
        return None
    row = conn.execute("SELECT first_seq, seq, key, created_at FROM audit_key WHERE id = 1").fetchone()
    return dict(row) if row else None


def provision_key(conn: sqlite3.Connection, out: Path, *, unit_id: str, at: datetime, user: str | None) -> dict:
    """Create the initial key, write the agency's copy to `out` (0600, never overwritten) and start MACing.

    Runs inside the caller's transaction: the file is written (and synced) before the transaction
    commits, so a failure to write it leaves no key the agency does not have. Refused once a key exists.
    """
    from firmware.retention.audit import append_audit

    if key_state(conn) is not None:
        raise AuditKeyError("the audit key was provisioned already; it is never replaced (the agency holds it)")
    initial = os.urandom(KEY_BYTES)
    first_seq = next_audit_seq(conn)
    conn.execute("INSERT INTO audit_key (id, first_seq, seq, key, created_at) VALUES (1, ?, ?, ?, ?)",
                 (first_seq, first_seq, initial.hex(), iso_utc(at)))
    agency_copy = {"schema": KEY_FILE_SCHEMA, "unit_id": unit_id, "first_seq": first_seq, "key": initial.hex(),
                   "created_at": iso_utc(at)}
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuditKeyError(f"{out} exists; the key file is never overwritten") from None
    except OSError as exc:
        raise AuditKeyError(f"cannot write the key file {out}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(agency_copy, indent=1) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    append_audit(conn, unit_id=unit_id, event="audit_key_provisioned", at=at, user=user, purpose="provisioning",
                 detail={"first_seq": first_seq, "key_sha256": hashlib.sha256(initial).hexdigest()})
    del initial
    return {"first_seq": first_seq, "key_file": str(out), "unit_id": unit_id}


def load_key_file(path: Path) -> dict:
    """The agency's copy: {"unit_id", "first_seq", "key"}; raises AuditKeyError with the reason."""
    try:
        data = json.loads(Path(path).read_text())
        key = bytes.fromhex(data["key"])
        first_seq = int(data["first_seq"])
    except OSError as exc:
        raise AuditKeyError(f"cannot read the key file {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise AuditKeyError(f"{path} is not an audit key file (needs first_seq and a hex key)") from None
    if len(key) != KEY_BYTES or first_seq < 1:
        raise AuditKeyError(f"{path}: the key must be {KEY_BYTES} bytes and first_seq at least 1")
    return {"unit_id": data.get("unit_id"), "first_seq": first_seq, "key": key}


# The most keys the agency derives past the initial one: a seq further than this past first_seq is refused
# rather than walked to. The walk is one SHA-256 per seq with no shortcut (that is what makes the chain
# one-way), ~0.4 us a step here, so a corrupt or hostile line with seq 10**12 would keep an auditor's check
# busy for days. Seqs are consecutive by design (AUTOINCREMENT; a rolled-back entry burns neither its seq nor
# its key), so a unit's highest seq is the number of audit entries it ever wrote: one per person's action
# (login, query, hit verification, hotlist change, hold) or system event (purge, config, downlink). Ten
# million is decades of a patrol unit's use at hundreds a day, and ~58 days of a nonstop flood at the
# busiest capped source (120 downlink rejections a minute); deriving that many keys takes ~4 s. An auditor
# with a unit known to have written more raises it (`agency verify-audit --max-key-steps`).
MAX_KEY_STEPS = 10_000_000


class KeyTooFar(ValueError):
    """A seq further past the initial key than the walker will derive (see MAX_KEY_STEPS)."""


class KeyWalker:
    """The agency's side: the key of any seq from first_seq up to first_seq + max_steps, derived forward
    from the initial key (KeyTooFar past that, before any step is taken)."""

    def __init__(self, initial: bytes, first_seq: int, max_steps: int = MAX_KEY_STEPS):
        self.first_seq = first_seq
        self.last_seq = first_seq + max_steps
        self._seq, self._key = first_seq, initial
        self._initial = initial

    def reaches(self, seq: int) -> bool:
        """Whether key(seq) will be derived (a seq before the MAC chain has no key but is in reach)."""
        return seq <= self.last_seq

    def key(self, seq: int) -> bytes:
        if seq < self.first_seq:
            raise ValueError("before the MAC chain")
        if seq > self.last_seq:
            raise KeyTooFar(f"seq {seq} is more than {self.last_seq - self.first_seq} keys past the initial key's"
                            f" first seq {self.first_seq}")
        if seq < self._seq:
            self._seq, self._key = self.first_seq, self._initial
        while self._seq < seq:
            self._key, self._seq = evolve(self._key), self._seq + 1
        return self._key
