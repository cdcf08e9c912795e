"""May the unit delete on its wall clock right now? A pure decision over plain facts.

Every age rule (purge of reads, audit prefix, acknowledged events, orphan images) measures age on
the wall clock, so a clock 100 days fast deletes 100 days early. The facts that can contradict the
clock: GPS time (the only outside reference), the unit's own records (nothing it stored can lie in
the future of a correct clock), and monotonic time, which cannot step: since a reference point
(this run's start, or an earlier run in the same boot) wall time must have advanced as much as
monotonic time did. When GPS time is fresh it decides; otherwise any contradiction beyond the
tolerance means "do not delete" and says why, so the purge report and the malfunction event can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

BASIS_GPS = "gps"                # GPS time agrees with the wall clock
BASIS_CONSISTENT = "consistent"  # no GPS time; nothing the unit knows contradicts the clock
BASIS_SUSPECT = "suspect"


@dataclass(frozen=True)
class ClockFacts:
    now: datetime                          # the wall clock the deletion would use
    tolerance_s: float                     # disagreement below this is noise (NTP slew, GPS latency)
    gps_offset_s: float | None = None      # fresh GPS time minus wall clock; None: no GPS time
    step_s: float | None = None            # wall elapsed minus monotonic elapsed since the reference
    newest_read_at: datetime | None = None  # newest capture time of reads not already flagged suspect
    last_purge_at: datetime | None = None  # when the last purge ran (by the clock of its day)
    reported: tuple[str, ...] = ()          # contradictions the running daemon already found


@dataclass(frozen=True)
class ClockVerdict:
    trusted: bool
    basis: str
    reasons: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)   # contradictions GPS overruled: worth showing

    def as_dict(self) -> dict:
        return {"trusted": self.trusted, "basis": self.basis, "reasons": list(self.reasons),
                "notes": list(self.notes)}


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.0f} s"


def judge_clock(facts: ClockFacts) -> ClockVerdict:
    """Trusted, on what basis, or why not. GPS time wins over the unit's own records both ways."""
    tol = facts.tolerance_s
    contradictions = []
    if facts.step_s is not None and abs(facts.step_s) > tol:
        direction = "forward" if facts.step_s > 0 else "back"
        contradictions.append(f"wall clock stepped {direction} {_span(facts.step_s)} against monotonic time")
    if facts.newest_read_at is not None:
        ahead = (facts.newest_read_at - facts.now).total_seconds()
        if ahead > tol:
            contradictions.append(f"newest read ({facts.newest_read_at.isoformat()}) is {_span(ahead)} ahead of the clock")
    if facts.last_purge_at is not None:
        ahead = (facts.last_purge_at - facts.now).total_seconds()
        if ahead > tol:
            contradictions.append(f"last purge ({facts.last_purge_at.isoformat()}) is {_span(ahead)} ahead of the clock")
    contradictions.extend(facts.reported)
    if facts.gps_offset_s is not None:
        if abs(facts.gps_offset_s) > tol:
            direction = "ahead of" if facts.gps_offset_s < 0 else "behind"
            return ClockVerdict(False, BASIS_SUSPECT,
                                (f"wall clock is {_span(facts.gps_offset_s)} {direction} GPS time",),
                                tuple(contradictions))
        return ClockVerdict(True, BASIS_GPS, (), tuple(contradictions))
    if contradictions:
        return ClockVerdict(False, BASIS_SUSPECT, tuple(contradictions))
    return ClockVerdict(True, BASIS_CONSISTENT)


def latest_plausible_shift_s(offsets_s: list[float]) -> float:
    """How much later than its stamp a read may really have been taken, given the wall-minus-monotonic
    offsets the clock has shown during the reads' runs (any of them may be the true one, any may have
    stamped the read): the spread of the offsets. Zero when the clock never moved."""
    return max(offsets_s) - min(offsets_s) if offsets_s else 0.0
