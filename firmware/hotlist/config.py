"""Hotlist matching settings: how forgiving a match may be, and how lists are kept fresh."""

from typing import Literal

from pydantic import Field, field_validator

from firmware.configbase import Section
from firmware.hotlist.match import MatchOptions


class HotlistConfig(Section):
    max_equivalent_chars: int = Field(
        1, ge=0, le=2, description="OCR-equivalent characters (0/O, 1/I, 8/B...) allowed in a hit"
    )
    length_difference: bool = Field(False, description="Allow a read one character longer or shorter")
    wildcards: bool = Field(True, description="Honour wildcard (*) entries in wildcard lists")
    max_age_hours: float = Field(24.0, gt=0, le=720, description="A list older than this raises a health warning")
    manual_entry_days: int = Field(30, ge=1, le=30, description="Default lifetime of a manual entry")
    poll_interval_s: float = Field(
        5.0, ge=0.5, le=3600, description="How often the daemon looks for new list versions and manual changes"
    )
    manual_priority: int = Field(10, ge=0, le=100, description="Priority of the manual list (0 highest)")
    manual_alert: Literal["audible", "visual", "silent"] = Field(
        "audible", description="Alert behaviour of manual-entry hits"
    )
    index_cache: bool = Field(
        True, description="Keep each loaded list's compact index under <data_dir>/cache/hotlist for fast restarts"
    )
    formats: dict[str, str] = Field(
        default_factory=dict,
        description="Named import format SPECs, e.g. state = \"delimited delim=; cols=LIC,LIS,MKE,NIC,ORI,OCA\"",
    )

    @field_validator("formats")
    @classmethod
    def _specs_parse(cls, formats: dict[str, str]) -> dict[str, str]:
        from firmware.hotlist.formats import parse_spec

        for name, spec in formats.items():
            try:
                parse_spec(spec)
            except ValueError as exc:
                raise ValueError(f"format {name!r}: {exc}") from None
        return formats

    def match_options(self) -> MatchOptions:
        return MatchOptions(self.max_equivalent_chars, self.length_difference, self.wildcards)
