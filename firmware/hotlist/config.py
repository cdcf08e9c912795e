"""Hotlist matching settings."""

from pydantic import Field

from firmware.configbase import Section


class HotlistConfig(Section):
    max_equivalent_chars: int = Field(
        1, ge=0, le=2, description="OCR-equivalent characters (0/O, 1/I, 8/B...) allowed in a hit"
    )
    length_difference: bool = Field(False, description="Allow a read one character longer or shorter")
    wildcards: bool = Field(True, description="Honour wildcard (*) entries in wildcard lists")
    max_age_hours: float = Field(24.0, gt=0, le=720, description="A list older than this raises a health warning")
    manual_entry_days: int = Field(30, ge=1, le=30, description="Default lifetime of a manual entry")
