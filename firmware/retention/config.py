"""Retention and audit settings; the legal ceiling (90 days) cannot be configured away."""

from pydantic import Field

from firmware.configbase import Section

LEGAL_MAX_DAYS = 90


class RetentionConfig(Section):
    local_retention_days: float = Field(
        7.0, gt=0, le=LEGAL_MAX_DAYS, description="Synced reads and images leave the unit after this many days"
    )
    purge_interval_s: float = Field(3600.0, ge=10, le=86400, description="Seconds between scheduled purges")
    audit_retention_days: float = Field(
        1096.0, ge=1, le=3650, description="Audit entries are purged only after sync and this many days"
    )
    hold_days: int = Field(365, ge=1, le=365, description="Lifetime of a preservation hold from its last request")
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
        default_factory=lambda: ["traffic enforcement", "crash investigation", "commercial"],
        description="Purposes that are always refused (and the refusal audited)",
    )
