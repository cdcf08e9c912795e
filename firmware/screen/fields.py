"""Reading the fields of a JSON body the page sends, so a client's wrong types are a clear refusal.

Why: the body is parsed by `json.loads`, so any field can arrive as a number, list, object, NaN or
Infinity. The domain functions take text and whole numbers; handing them anything else ended in an
AttributeError or OverflowError deep inside (a 500). These read one field each and raise `BadInput`
with words fit for the officer; the service answers it as it answers any refusal (ok false, 422).
"""

from __future__ import annotations

from datetime import datetime, timezone


class BadInput(ValueError):
    """A field of the request has the wrong type or form (the message says which and what it takes)."""


def text(body: dict, key: str) -> str:
    """A text field; absent or null is ""."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadInput(f"{key} must be text")
    return value


def whole_days(body: dict, default: int = 30) -> int:
    """The `days` field: a whole number (as a number or text); absent, null, 0 or "" is the default."""
    value = body.get("days")
    if isinstance(value, str):
        value = value.strip()
    if not value:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadInput(f"days must be a whole number (1 to {default})")
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"days must be a whole number (1 to {default})") from None


def utc_time(value: str) -> datetime:
    """An ISO time with its zone (`2026-11-30T14:00:00Z`), as UTC. A time without a zone is refused, as the
    CLI refuses it: read in the unit's local time it would search another period than the officer meant."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BadInput("dates must be like 2026-11-30T14:00:00Z (with a time zone)")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:   # 0001-01-01T00:00+01:00 is before the first UTC instant Python can hold
        raise BadInput(f"{value!r} is out of range") from None
