"""Reading the fields of a JSON body the page sends, so a client's wrong types are a clear refusal.

Why: the body is parsed by `json.loads`, so any field can arrive as a number, list, object, NaN or
Infinity. The domain functions take text and whole numbers; handing them anything else ended in an
AttributeError or OverflowError deep inside (a 500). These read one field each and raise `BadInput`
with words fit for the officer; the service answers it as it answers any refusal (ok false, 422).
"""

from __future__ import annotations

from datetime import datetime

from firmware.clock import TimeTextError, parse_typed_time


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


def utc_time(body: dict, key: str, *, end_of_day: bool = False) -> datetime | None:
    """A time field (`from`, `to`), as UTC; absent or "" is None. The rule is the CLI's
    (`firmware.clock.parse_typed_time`): a date is that UTC day, a time must give its zone."""
    value = text(body, key).strip()
    if not value:
        return None
    try:
        return parse_typed_time(value, end_of_day=end_of_day)
    except TimeTextError as exc:
        raise BadInput(f"{key}: {exc}") from None
