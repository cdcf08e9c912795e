"""Periods on the command line: --from/--to (and --at) as argparse types, and the one check on a period.

Apart from the retention commands that use them so each stays a readable size, and so the parsing rule
(a date is UTC, a date as an end means the end of that day, a time must give its zone) is stated once.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone


def parse_when(text: str, end_of_day: bool = False) -> datetime:
    """YYYY-MM-DD (UTC; with end_of_day, the next midnight) or ISO-8601 with a zone (Z)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
            return day + timedelta(days=1) if end_of_day else day
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise argparse.ArgumentTypeError(f"give a time zone (e.g. Z for UTC): {text!r}")
        return value.astimezone(timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO time: {text!r}") from None
    except OverflowError:       # 9999-12-31 as an end of day, 0001-01-01T00:00+01:00
        raise argparse.ArgumentTypeError(f"out of range: {text!r}") from None


def inverted_period(args) -> bool:
    """--from after --to: said once (exit 2) rather than answered with an empty search or an empty report."""
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start and end and start > end:
        print("error: --from is after --to: the period is empty (a date as --to means the end of that day)",
              file=sys.stderr)
        return True
    return False


def when_arg(end_of_day: bool = False):
    """The argparse type for a --from (or --at), or with end_of_day for a --to."""
    return lambda text: parse_when(text, end_of_day)
