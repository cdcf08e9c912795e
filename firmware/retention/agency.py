"""The agency's check of a unit's audit log, with the initial key it kept from provisioning.

`alpr-unit agency verify-audit --key FILE DIR|DB|JSONL` runs on the agency's side, over a unit's
data dir or database (seized, imaged, or pulled by a technician) or over the audit stream the unit
synced. It recomputes every hash, derives every epoch key from the initial one and checks every MAC,
so whoever holds the unit now cannot pass it off: an entry deleted, edited, reordered or cut off the
end, an anchor moved without a purge entry, or the whole log rewritten with the firmware's own
functions (even under a fresh key) is found, and the first bad entry is named.
Read-only: the database is opened read-only and never migrated.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from firmware.retention.audit import GENESIS, anchor_justified, entry_hash
from firmware.retention.auditkey import MAX_KEY_STEPS, KeyWalker, entry_mac

_FIELDS = ("seq", "id", "at", "unit_id", "event", "user", "purpose", "detail", "prev_hash", "hash", "mac")


def _normalise(entry: dict) -> dict:
    """A DB row or a synced payload, with detail as the exact text that was hashed."""
    out = {k: entry.get(k) for k in _FIELDS}
    if not isinstance(out["detail"], str):
        out["detail"] = json.dumps(out["detail"] or {}, sort_keys=True, separators=(",", ":"))
    return out


def check_entries(entries: list[dict], walker: KeyWalker, *, first_expected_seq: int | None,
                  prev_hash: str | None) -> tuple[list[dict], dict]:
    """Pure walk over entries in seq order: (problems in seq order, counts).

    first_expected_seq/prev_hash: where the chain must start (the anchor); None takes the first
    entry's word for it (a stream that starts mid-log), its MAC still binds that word.
    """
    problems: list[dict] = []
    expected, prev = first_expected_seq, prev_hash
    counts = {"entries": 0, "mac_verified": 0, "hash_chain_only": 0}
    for e in entries:
        counts["entries"] += 1
        seq, name = e["seq"], {"seq": e["seq"], "id": e["id"], "event": e["event"]}
        if expected is not None and seq > expected:
            problems.append({"problem": "entries_missing", "seq": expected, "through_seq": seq - 1})
        elif expected is not None and seq < expected:
            problems.append({"problem": "out_of_order", **name})
        if prev is not None and e["prev_hash"] != prev:
            problems.append({"problem": "chain_broken", **name})
        if entry_hash(e["prev_hash"], e) != e["hash"]:
            problems.append({"problem": "entry_altered", **name})
        if not walker.reaches(seq):     # its key is not derived: see MAX_KEY_STEPS
            problems.append({"problem": "seq_implausible", **name, "detail": _too_far(walker, seq)})
        elif seq >= walker.first_seq:
            if not e["mac"]:
                problems.append({"problem": "mac_missing", **name})
            elif e["mac"] != entry_mac(walker.key(seq), seq, e["hash"]):
                problems.append({"problem": "mac_invalid", **name})
            else:
                counts["mac_verified"] += 1
        else:
            counts["hash_chain_only"] += 1
        expected, prev = seq + 1, e["hash"]
    return problems, counts


def _too_far(walker: KeyWalker, seq: int) -> str:
    return (f"seq {seq} is more than {walker.last_seq - walker.first_seq} keys past the initial key's first seq"
            f" {walker.first_seq}: no unit writes that many audit entries (see --max-key-steps)")


def _result(problems: list[dict], counts: dict, entries: list[dict] | None = None, **extra) -> dict:
    """The finding; when everything checked out, the checkpoint the agency may sign back to the unit
    (`alpr-unit sync sign --kind audit_checkpoint`)."""
    ordered = sorted(problems, key=lambda p: p.get("seq", 0))
    checkpoint = ({"through_seq": entries[-1]["seq"], "head_hash": entries[-1]["hash"]}
                  if entries and not problems else None)
    return {"ok": not problems, **counts, **extra, "first_bad": ordered[0] if ordered else None,
            "problems": ordered, "checkpoint": checkpoint}


def verify_database(conn: sqlite3.Connection, key: dict, received: set[int] | None = None,
                    max_steps: int = MAX_KEY_STEPS) -> dict:
    """Everything: chain from the anchor, every MAC, the key's position, the anchor's justification.

    `received`: the seqs the agency holds from the synced stream. A purge may only remove entries the
    agency already has, so an anchor past one it never received is an unlawful deletion even when a
    purge entry (which whoever holds the unit's current key can append) claims it.
    `max_steps`: how far past the initial key a seq may lie (MAX_KEY_STEPS says why there is a limit).
    """
    walker = KeyWalker(key["key"], key["first_seq"], max_steps)
    entries = [_normalise(dict(r)) for r in conn.execute(f"SELECT {', '.join(_FIELDS)} FROM audit_log ORDER BY seq")]
    anchor = conn.execute("SELECT seq, hash FROM audit_anchor WHERE id = 1").fetchone()
    anchor_seq, anchor_hash = (anchor[0], anchor[1]) if anchor else (0, GENESIS)
    problems, counts = check_entries(entries, walker, first_expected_seq=anchor_seq + 1, prev_hash=anchor_hash)
    last = entries[-1]["seq"] if entries else anchor_seq
    try:
        state = conn.execute("SELECT first_seq, seq, key FROM audit_key WHERE id = 1").fetchone()
        legacy = conn.execute("SELECT anchor_seq FROM audit_legacy WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        state, legacy = None, None
    if state is None:
        problems.append({"problem": "key_state_missing", "seq": last + 1})
    elif state[0] != key["first_seq"]:
        problems.append({"problem": "key_replaced", "seq": key["first_seq"],
                         "detail": "the unit's key is not the one provisioned with the agency's initial key"})
    elif not walker.reaches(state[1]):
        problems.append({"problem": "seq_implausible", "seq": state[1],
                         "detail": f"the unit's key position: {_too_far(walker, state[1])}"})
    elif state[2] != walker.key(max(state[1], key["first_seq"])).hex():
        problems.append({"problem": "key_state_forged", "seq": state[1],
                         "detail": "the unit's key for this position does not descend from the initial key"})
    elif state[1] > last + 1:
        problems.append({"problem": "truncated", "seq": last + 1, "through_seq": state[1] - 1})
    elif state[1] < last + 1:
        problems.append({"problem": "entries_after_key", "seq": state[1]})
    bad = {p.get("seq") for p in problems}
    trusted = [e for e in entries if e["seq"] not in bad]
    if not anchor_justified(anchor_seq, anchor_hash, legacy[0] if legacy else 0, trusted):
        problems.append({"problem": "anchor_unjustified", "seq": anchor_seq,
                         "detail": "no MAC-verified audit_purged entry names this anchor"})
    if received is not None and anchor_seq > 0:
        lost = [s for s in range(max(1, anchor_seq - 100_000), anchor_seq + 1) if s not in received]
        if lost:
            problems.append({"problem": "purged_before_sync", "seq": lost[0], "through_seq": lost[-1],
                             "detail": "the anchor passed entries the agency never received"})
    if key.get("unit_id") and any(e["unit_id"] not in (key["unit_id"], "") for e in entries):
        problems.append({"problem": "other_unit", "seq": next(e["seq"] for e in entries
                                                              if e["unit_id"] not in (key["unit_id"], ""))})
    return _result(problems, counts, entries, anchor_seq=anchor_seq, last_seq=last)


def verify_stream(lines: list[str], key: dict, max_steps: int = MAX_KEY_STEPS) -> dict:
    """The synced audit stream (one JSON payload per line, resends allowed, any order).

    A line whose seq lies more than `max_steps` past the initial key's first seq (MAX_KEY_STEPS: more
    audit entries than a unit writes; its key would take days to derive) is set aside as seq_implausible,
    named by line and seq, like an unreadable line: its MAC cannot be checked, so the stream fails, and
    it is kept out of the chain so that one corrupt seq is not also reported as billions of missing entries.
    """
    walker = KeyWalker(key["key"], key["first_seq"], max_steps)
    by_seq: dict[int, dict] = {}
    problems: list[dict] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
            entry = _normalise(payload.get("payload", payload) if isinstance(payload, dict) else {})
            seq = entry["seq"]
            if type(seq) is not int:     # a JSON integer as the unit writes it; 1.5, "7" or true is not a seq
                raise TypeError("seq")
            if not isinstance(entry["prev_hash"], str):      # the chain cannot be recomputed from this line
                raise TypeError("prev_hash")
        except (ValueError, TypeError, AttributeError, OverflowError):      # OverflowError: seq Infinity
            problems.append({"problem": "unreadable_line", "line": number, "seq": 0})
            continue
        if not walker.reaches(seq):
            problems.append({"problem": "seq_implausible", "line": number, "seq": seq, "id": entry["id"],
                             "detail": _too_far(walker, seq)})
            continue
        entry["seq"] = seq
        if seq in by_seq and by_seq[seq]["hash"] != entry["hash"]:
            problems.append({"problem": "two_versions", "seq": seq, "id": entry["id"]})
        by_seq.setdefault(seq, entry)
    entries = [by_seq[s] for s in sorted(by_seq)]
    start = entries[0]["seq"] if entries else 1
    found, counts = check_entries(entries, walker, first_expected_seq=start,
                                  prev_hash=GENESIS if start == 1 else None)
    return _result(problems + found, counts, entries, first_seq=start,
                   last_seq=entries[-1]["seq"] if entries else None)


def received_seqs(lines: list[str]) -> set[int]:
    """The seqs present in a synced audit stream (what the agency holds)."""
    found = set()
    for line in lines:
        try:
            payload = json.loads(line)
            found.add(int(payload.get("payload", payload)["seq"]))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            continue
    return found


def _text_lines(path: Path) -> list[str]:
    """A stream's lines; bytes that are not UTF-8 become U+FFFD, so that line is reported (unreadable or
    altered) by its seq rather than the whole check failing on a decode error."""
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def verify_path(target: Path, key: dict, stream: Path | None = None, max_steps: int = MAX_KEY_STEPS) -> dict:
    """A data dir, a database file, or a JSONL stream, by what `target` is (`stream`: what was received)."""
    from firmware.storage.db import DB_NAME, connect

    target = Path(target)
    if target.is_dir():
        target = target / DB_NAME
    if target.suffix in (".jsonl", ".json", ".ndjson"):
        return {"source": str(target), **verify_stream(_text_lines(target), key, max_steps)}
    if not target.is_file():
        raise FileNotFoundError(f"no database at {target}")
    conn = connect(target, readonly=True)
    try:
        received = received_seqs(_text_lines(Path(stream))) if stream else None
        return {"source": str(target), **verify_database(conn, key, received, max_steps)}
    finally:
        conn.close()
