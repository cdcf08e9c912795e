"""Output for people: aligned tables with UTC times, rounded positions and ages in h/min, and a plain
sentence when there is nothing to show. Machines get `--json` (one object per line) instead."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone


def utc(value) -> str:
    """'2026-05-01 12:03:04Z' from an ISO string or datetime; '-' for none."""
    if value in (None, ""):
        return "-"
    try:
        t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%SZ")


def position(lat, lon) -> str:
    if lat is None or lon is None:
        return "-"
    return f"{float(lat):.4f},{float(lon):.4f}"   # about 10 m: enough to find the place, no false precision


def age(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    if hours >= 48:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {rest // 60:02d}min" if hours else f"{rest // 60}min"


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return " ".join(str(value).split())


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def people(value) -> str:
    """One value for a person: ISO times as UTC, the rest as a table cell."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO.match(value)):
        return utc(value)
    return cell(value)


def table(rows: list[dict], columns: list[tuple[str, str]], *, empty: str) -> str:
    """`columns`: (key, heading). Missing keys print '-'. Returns the text (with a trailing newline)."""
    if not rows:
        return empty + "\n"
    body = [[cell(r.get(key)) for key, _ in columns] for r in rows]
    heads = [head for _, head in columns]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
    return "\n".join(lines) + "\n"


def show(rows: list[dict], columns: list[tuple[str, str]], *, empty: str, as_json: bool, event: str | None = None,
         summary: dict | None = None) -> None:
    """Rows as JSON lines (each tagged with `event` when given, then `summary`), or as a table."""
    if as_json:
        for r in rows:
            print(json.dumps({"event": event, **r} if event else r, default=str), flush=True)
        if summary is not None:
            print(json.dumps(summary, default=str), flush=True)
        return
    print(table(rows, columns, empty=empty), end="", flush=True)
