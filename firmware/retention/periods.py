"""Periods on the command line: --from/--to (and --at) as argparse types, and the one check on a period.

Apart from the retention commands that use them so each stays a readable size, and so the parsing rule
(a date is UTC, a date as an end means the end of that day, a time must give its zone) is stated once.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from firmware.clock import TimeTextError, parse_typed_time


def parse_when(text: str, end_of_day: bool = False) -> datetime:
    """YYYY-MM-DD (UTC; with end_of_day, the next midnight) or ISO-8601 with a zone (Z)."""
    try:
        return parse_typed_time(text, end_of_day=end_of_day)
    except TimeTextError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
