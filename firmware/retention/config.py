"""Retention and audit settings; the legal ceiling (90 days) cannot be configured away."""

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from firmware.configbase import Section

LEGAL_MAX_DAYS = 90
DEFAULT_PROHIBITED = ("traffic enforcement", "crash investigation", "commercial")


class RetentionConfig(Section):
    local_retention_days: float = Field(
        7.0, gt=0, le=LEGAL_MAX_DAYS, description="Synced reads and images leave the unit after this many days"
    )
    purge_interval_s: float = Field(3600.0, ge=10, le=86400, description="Seconds between scheduled purges")
    audit_retention_days: float = Field(
        1096.0, ge=1, le=3650, description="Audit entries are purged only after sync and this many days"
    )
    hold_days: int = Field(365, ge=1, le=365, description="Lifetime of a preservation hold from its last request")
    hold_max_window_hours: float = Field(
        72.0, gt=0, le=24 * 31,
        description="Longest time window of a hold that names a camera but no plate (a hold must stay specific)",
    )
    manual_entry_grace_days: float = Field(
        7.0, ge=0, le=30,
        description="Expired manual hotlist entries are deleted by the purge this many days after they expire (audited)",
    )
    purge_batch_size: int = Field(
        500, ge=1, le=20000, description="Reads examined per writer job; shrinks when a job runs past purge_max_job_s"
    )
    purge_max_job_s: float = Field(
        0.05, gt=0, le=5, description="Target longest writer job of a purge (seconds): bounds the stall capture sees"
    )
    purge_pause_ratio: float = Field(
        0.5, ge=0, le=20,
        description="After each purge job, wait this many times its duration: leaves the writer and CPU to capture",
    )
    vacuum_pages_per_step: int = Field(
        1000, ge=16, le=1_000_000, description="Most free pages returned to the filesystem per incremental_vacuum job (adapts down)"
    )
    orphan_image_min_age_days: float = Field(
        2.0, ge=1, le=LEGAL_MAX_DAYS,
        description="Image files with no read row, in day folders at least this old, are deleted by purge",
    )
    report_signing_key: Path | None = Field(
        None, description="The unit's Ed25519 private key (PEM) that signs stored reports; none: reports say unsigned"
    )
    clock_tolerance_s: float = Field(
        3600.0, ge=1, le=7 * 86400,
        description="Purge deletes nothing while the wall clock disagrees by more than this with GPS time,"
                    " monotonic time or the unit's newest records (the disagreement is recorded as clock_suspect)",
    )
    clock_check_s: float = Field(
        10.0, ge=0.5, le=3600, description="Seconds between the daemon's checks of its wall clock (and heartbeats)"
    )
    purposes: list[str] = Field(
        default_factory=lambda: [
            "stolen vehicle",
            "wanted person",
            "missing person",
            "amber alert",
            "criminal investigation",
            "audit",
        ],
        description="Purposes a user may state when querying stored data",
    )
    prohibited_purposes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PROHIBITED),
        description="Purposes that are always refused (and the refusal audited)",
    )

    @field_validator("purposes", "prohibited_purposes")
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        cleaned = [" ".join(v.lower().split()) for v in values]
        if any(not v for v in cleaned):
            raise ValueError("purposes must not be empty strings")
        return cleaned

    @model_validator(mode="after")
    def _no_prohibited_purpose_allowed(self) -> "RetentionConfig":
        clash = sorted(set(self.purposes) & set(self.prohibited_purposes))
        if clash:
            raise ValueError(f"purposes also listed as prohibited: {', '.join(clash)}")
        from firmware.retention.purpose import prohibited

        marked = [p for p in self.purposes if prohibited(p, self.prohibited_purposes)]
        if marked:
            raise ValueError(f"purposes that name a prohibited use (traffic, crash, speed, commercial, ...): "
                             f"{', '.join(marked)}")
        for base in DEFAULT_PROHIBITED:
            if base not in self.prohibited_purposes:
                raise ValueError(f"{base!r} is prohibited by policy and cannot be removed from prohibited_purposes")
        return self
