"""Scan files: a read, its hits, its images and its outbox entries, committed together.

A read is committed before it is alerted or queued for sync; the images are written (and
fsynced) first, so a committed row never points at an image that a power cut lost.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from firmware.clock import iso_utc
from firmware.ids import new_id
from firmware.records import Hit, Read
from firmware.storage import outbox

SCHEMA = 1


def image_paths(read_id: str, captured_at: datetime) -> tuple[str, str]:
    day = captured_at.strftime("%Y/%m/%d")
    return f"images/{day}/{read_id}-crop.jpg", f"images/{day}/{read_id}-overview.jpg"


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError("JPEG encoding failed")
    return buf.tobytes()


def write_durably(data_dir: Path, rel_path: str, data: bytes) -> int:
    """Write a file so that it is on disk once this returns. Raises OSError (disk full, read-only);
    a half-written temporary file is removed."""
    target = Path(data_dir) / rel_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


def write_jpeg(data_dir: Path, rel_path: str, image: np.ndarray, quality: int) -> int:
    """Encode and durably write one JPEG; returns its size. Raises OSError (disk full, read-only)."""
    return write_durably(data_dir, rel_path, encode_jpeg(image, quality))


def attach_image(conn: sqlite3.Connection, read_id: str, role: str, rel_path: str, at: datetime) -> bool:
    """An image written after its read was committed (held while the disk was full): point the read
    at it and queue it for sync. False when the read is gone (purged meanwhile)."""
    column = "crop_path" if role == "crop" else "overview_path"
    if not conn.execute(f"UPDATE reads SET {column} = ? WHERE id = ? AND {column} IS NULL",
                        (rel_path, read_id)).rowcount:
        return False
    outbox.enqueue(conn, "image", f"{read_id}:{role}",
                   {"schema": SCHEMA, "read_id": read_id, "role": role, "path": rel_path}, at)
    return True


def read_row(read: Read, created_at: datetime) -> dict:
    row = {
        "id": read.id, "unit_id": read.unit_id, "camera_id": read.camera_id, "plate": read.plate,
        "plate_raw": read.plate_raw, "state": read.state, "state_confidence": read.state_confidence,
        "state_frames": json.dumps(list(read.state_frames)) if read.state and read.state_frames else None,
        "confidence": read.confidence,
        "char_confidences": json.dumps(list(read.char_confidences)), "frames": read.frames,
        "box": json.dumps(list(read.box)), "captured_at": iso_utc(read.captured_at),
        "first_seen_at": iso_utc(read.first_seen_at), "clock_source": read.clock_source,
        "frame_seq": read.frame_seq, "crop_path": read.crop_path, "overview_path": read.overview_path,
        "hit": 1 if read.hits else 0, "created_at": iso_utc(created_at),
    }
    row.update(read.position.as_row())
    return row


def read_payload(row: dict) -> dict:
    """What the agency receives for a read: every column, decoded JSON fields, a schema version."""
    payload = dict(row)
    payload["char_confidences"] = json.loads(row["char_confidences"])
    payload["box"] = json.loads(row["box"])
    payload["state_frames"] = json.loads(row["state_frames"]) if row.get("state_frames") else None
    payload["schema"] = SCHEMA
    return payload


def hit_row(read_id: str, hit: Hit, created_at: datetime, historical: bool = False) -> dict:
    return {
        "id": new_id(), "read_id": read_id, "list_name": hit.list_name, "list_version": hit.list_version,
        "list_age_s": hit.list_age_s, "entry_plate": hit.entry_plate, "entry_state": hit.entry_state,
        "category": hit.category, "priority": hit.priority, "match": hit.match,
        "positions": json.dumps(list(hit.positions)), "possible": int(hit.possible), "alert": hit.alert,
        "historical": int(historical), "created_at": iso_utc(created_at),
        "annotations": json.dumps(hit.annotations or {}, sort_keys=True, default=str),
    }


def _insert(conn: sqlite3.Connection, table: str, row: dict) -> None:
    cols = ", ".join(row)
    marks = ", ".join(f":{c}" for c in row)
    conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", row)


def save_read(conn: sqlite3.Connection, read: Read, at: datetime) -> list[str]:
    """Insert the read, its hits and their outbox entries (inside the caller's transaction). Returns hit ids."""
    row = read_row(read, at)
    _insert(conn, "reads", row)
    hit_ids = []
    for hit in read.hits:
        hrow = hit_row(read.id, hit, at)
        _insert(conn, "hits", hrow)
        hit_ids.append(hrow["id"])
        outbox.enqueue(conn, "hit", hrow["id"], {
            "schema": SCHEMA, **{k: v for k, v in hrow.items() if k not in ("positions", "annotations")},
            "positions": list(hit.positions), "annotations": hit.annotations,
            "plate": read.plate, "state": read.state, "captured_at": row["captured_at"],
            "lat": row["lat"], "lon": row["lon"], "unit_id": read.unit_id, "camera_id": read.camera_id,
        }, at)
    outbox.enqueue(conn, "read", read.id, read_payload(row), at)
    for role, path in (("crop", read.crop_path), ("overview", read.overview_path)):
        if path:
            outbox.enqueue(conn, "image", f"{read.id}:{role}",
                           {"schema": SCHEMA, "read_id": read.id, "role": role, "path": path}, at)
    return hit_ids


def record_event(conn: sqlite3.Connection, kind: str, source: str, detail: dict, at: datetime) -> str:
    """Malfunctions, service restorations, security and data-loss events: stored and queued for sync."""
    event_id = new_id()
    conn.execute("INSERT INTO events (id, at, kind, source, detail) VALUES (?, ?, ?, ?, ?)",
                 (event_id, iso_utc(at), kind, source, json.dumps(detail, default=str)))
    outbox.enqueue(conn, "event", event_id,
                   {"schema": SCHEMA, "id": event_id, "at": iso_utc(at), "kind": kind, "source": source,
                    "detail": detail}, at)
    return event_id


def recent_reads(conn: sqlite3.Connection, limit: int = 20) -> list[dict]:
    """The newest reads for the officer's live view, with the hits the car may show (covert ones left out)."""
    rows = [dict(r) for r in conn.execute(
        "SELECT id, camera_id, plate, state, confidence, captured_at, position_method, fix_age_s, lat, lon,"
        " crop_path IS NOT NULL AS has_crop FROM reads ORDER BY captured_at DESC, id DESC LIMIT ?", (limit,))]
    if rows:
        marks = ",".join("?" * len(rows))
        shown: dict[str, list] = {}
        for h in conn.execute(f"SELECT read_id, list_name, priority FROM hits WHERE alert != 'silent'"
                              f" AND read_id IN ({marks})", [r["id"] for r in rows]):
            shown.setdefault(h["read_id"], []).append({"list": h["list_name"], "priority": h["priority"]})
        for r in rows:
            r["hits"] = shown.get(r["id"], [])
    return rows


def read_image(conn: sqlite3.Connection, read_id: str, role: str) -> str | None:
    """The stored path (relative to the data dir) of a read's crop or overview image, if any."""
    column = {"crop": "crop_path", "overview": "overview_path"}.get(role)
    if column is None:
        return None
    row = conn.execute(f"SELECT {column} FROM reads WHERE id = ?", (read_id,)).fetchone()
    return row[0] if row else None
