"""Time as an injected dependency.

Evidence needs UTC timestamps *and* the name of the clock that produced them, and tests need to
move time without sleeping. Every service takes a `Clock` instead of calling `time` directly.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def utc(self) -> datetime: ...

    def monotonic_ns(self) -> int: ...

    def source(self) -> str:
        """Which clock the UTC time comes from: 'system', 'gps', 'system-unsynced', 'test'."""
        ...


@dataclass
class SystemClock:
    """The kernel's clocks. `source_name` is updated by the GNSS time tracker when it vouches for it."""

    source_name: str = "system"

    def utc(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def source(self) -> str:
        return self.source_name


class ManualClock:
    """A clock tests drive by hand; UTC and monotonic advance together."""

    def __init__(self, start: datetime | None = None, source: str = "test"):
        self._utc = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._mono = 1_000_000_000
        self._source = source
        self._lock = threading.Lock()
        self._boot = f"manual-{uuid.uuid4()}"   # each test clock is its own boot (firmware/storage/runs.py)

    def utc(self) -> datetime:
        with self._lock:
            return self._utc

    def monotonic_ns(self) -> int:
        with self._lock:
            return self._mono

    def source(self) -> str:
        return self._source

    def boot_id(self) -> str:
        return self._boot

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._utc += timedelta(seconds=seconds)
            self._mono += int(seconds * 1e9)

    def step_wall(self, seconds: float) -> None:
        """The wall clock jumps (a bad RTC, a wrong NTP answer, a correction); monotonic time does not."""
        with self._lock:
            self._utc += timedelta(seconds=seconds)


def iso_utc(t: datetime) -> str:
    """ISO-8601 with a Z suffix and microseconds: sortable as text in SQLite."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso_utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)


class TimeTextError(ValueError):
    """A time a person typed cannot be read; the message says what it takes."""


def parse_typed_time(text: str, *, end_of_day: bool = False, dates: bool = True) -> datetime:
    """A time a person typed (CLI, screen, a hold request), as UTC: the one rule every entry point states.

    YYYY-MM-DD is that UTC day (with `end_of_day`, the next midnight, so "--to 2026-11-30" takes the whole
    day), where `dates` allows it; otherwise ISO-8601 with its zone. A time without a zone is refused: read
    in the unit's local time it would name another moment than the person meant."""
    text = text.strip()
    try:
        if dates and len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return day + timedelta(days=1) if end_of_day else day
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        shape = "a date (YYYY-MM-DD) or " if dates else ""
        raise TimeTextError(f"not {shape}an ISO time like 2026-11-30T14:00:00Z: {text!r}") from None
    except OverflowError:       # 9999-12-31 as an end of day
        raise TimeTextError(f"out of range: {text!r}") from None
    if value.tzinfo is None:
        raise TimeTextError(f"give a time zone (e.g. Z for UTC): {text!r}")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:       # 0001-01-01T00:00+01:00 is before the first UTC instant Python holds
        raise TimeTextError(f"out of range: {text!r}") from None
