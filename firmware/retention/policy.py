"""The retention rule: keep or purge, and why. Pure functions over plain data, no I/O.

The law we serve (N.C.G.S. 20-183.32 as applied by the seed general orders) says: captured plate
data is not kept past 90 days after capture unless a search warrant or a preservation request
holds it; a hold lasts one year from the request and each new request resets it. On top of that
the unit itself should hold as little as it can: once a read has reached the back office it
leaves the unit after `local_retention`. Keeping this a pure function lets us test it
exhaustively (property tests) and explain every decision in the purge report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

LEGAL_MAX = timedelta(days=90)

# Reasons, stable strings: they appear in `alpr-unit purge --json` and in the audit log.
KEEP_HELD = "held"                      # an active hold covers it
KEEP_YOUNG = "within_local_retention"   # synced or not, younger than local_retention
KEEP_UNSYNCED = "awaiting_sync"         # older than local_retention but not yet at the back office
KEEP_AUDIT_UNSYNCED = "audit_awaiting_sync"
KEEP_AUDIT_YOUNG = "audit_within_retention"
PURGE_SYNCED = "synced_and_expired"     # at the back office and older than local_retention
PURGE_LEGAL_MAX = "legal_max_age"       # 90 days: leaves whatever its sync state (unsynced = data loss)
PURGE_AUDIT = "audit_synced_and_expired"


@dataclass(frozen=True)
class ReadFacts:
    """What the rule needs to know about one read (scan file)."""

    id: str
    captured_at: datetime
    plate: str
    camera_id: str
    unit_id: str
    queued: bool = True      # an outbox row exists for it
    pending: int = 0         # its outbox rows (read, images, hits, dispositions) not yet acknowledged

    @property
    def synced(self) -> bool:
        return self.queued and self.pending == 0


@dataclass(frozen=True)
class HoldFacts:
    """A preservation request or warrant, as the rule sees it."""

    id: str
    start_at: datetime
    end_at: datetime
    expires_at: datetime
    plate: str | None = None       # None: every plate (warrant for a place and time)
    camera_id: str | None = None   # None: every camera
    unit_id: str | None = None     # None: this unit
    released_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return now < self.expires_at and (self.released_at is None or now < self.released_at)

    def covers(self, read: ReadFacts) -> bool:
        return (
            self.start_at <= read.captured_at <= self.end_at
            and (self.plate is None or self.plate == read.plate)
            and (self.camera_id is None or self.camera_id == read.camera_id)
            and (self.unit_id is None or self.unit_id == read.unit_id)
        )


@dataclass(frozen=True)
class Policy:
    local_retention: timedelta = timedelta(days=7)
    audit_retention: timedelta = timedelta(days=1096)
    legal_max: timedelta = LEGAL_MAX

    def __post_init__(self) -> None:
        if self.local_retention > self.legal_max or self.legal_max > LEGAL_MAX:
            raise ValueError("retention past 90 days is not allowed")
        if self.local_retention <= timedelta(0):
            raise ValueError("local_retention must be positive")


@dataclass(frozen=True)
class Decision:
    purge: bool
    reason: str
    hold_id: str | None = None
    data_loss: bool = False        # purging something the back office never acknowledged

    @property
    def action(self) -> str:
        return "purge" if self.purge else "keep"


def holding(read: ReadFacts, holds: list[HoldFacts] | tuple[HoldFacts, ...], now: datetime) -> HoldFacts | None:
    """The active hold that covers `read`, the one expiring last when several do."""
    best = None
    for hold in holds:
        if hold.active(now) and hold.covers(read):
            if best is None or hold.expires_at > best.expires_at:
                best = hold
    return best


def decide_read(read: ReadFacts, holds, now: datetime, policy: Policy) -> Decision:
    """Keep or purge one read, and why. Holds win over every age rule; 90 days win over sync."""
    hold = holding(read, holds, now)
    if hold is not None:
        return Decision(False, KEEP_HELD, hold.id)
    age = now - read.captured_at
    if age >= policy.legal_max:
        return Decision(True, PURGE_LEGAL_MAX, data_loss=not read.synced)
    if age < policy.local_retention:
        return Decision(False, KEEP_YOUNG)
    if not read.synced:
        return Decision(False, KEEP_UNSYNCED)
    return Decision(True, PURGE_SYNCED)


def decide_audit(at: datetime, acked: bool, now: datetime, policy: Policy) -> Decision:
    """Audit entries leave only once the back office has them and their own retention is over."""
    if now - at < policy.audit_retention:
        return Decision(False, KEEP_AUDIT_YOUNG)
    if not acked:
        return Decision(False, KEEP_AUDIT_UNSYNCED)
    return Decision(True, PURGE_AUDIT)


def candidate_cutoff(now: datetime, policy: Policy) -> datetime:
    """Reads captured after this instant are always kept: the purge never needs to look at them."""
    return now - policy.local_retention


def hold_expiry(requested_at: datetime, days: int) -> datetime:
    """A hold runs `days` (one year) from its latest request: each renewal resets the clock."""
    return requested_at + timedelta(days=days)
