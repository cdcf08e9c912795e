"""GNSS receiver settings."""

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from firmware.configbase import Section


class GnssConfig(Section):
    source: Literal["serial", "file", "gpsd", "none"] = Field(
        "none", description="Where NMEA comes from: a serial port, a replayed file, gpsd, or no receiver"
    )
    port: str = Field("/dev/ttyACM0", min_length=1, max_length=256,
                      description="Serial device of the receiver (source=serial)")
    baud: Literal[4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, "auto"] = Field(
        "auto", description="Baud rate, or 'auto' to probe 9600, 4800, 38400 and 115200"
    )
    file: Path | None = Field(None, description="NMEA file to replay (source=file)")
    replay_speed: float = Field(1.0, gt=0, le=1000, description="Replay speed factor for source=file")
    replay_loop: bool = Field(True, description="Start the replay file again when it ends")
    gpsd_host: str = Field("127.0.0.1", min_length=1, max_length=253, description="gpsd host (source=gpsd)")
    gpsd_port: int = Field(2947, ge=1, le=65535, description="gpsd port (source=gpsd)")
    max_extrapolation_s: float = Field(
        2.0, ge=0, le=10, description="Dead-reckon from the last fix with speed and course at most this long"
    )
    max_interpolation_gap_s: float = Field(
        5.0, gt=0, le=60, description="Interpolate only between fixes at most this far apart"
    )
    stale_after_s: float = Field(10.0, gt=0, le=3600, description="A fix older than this is reported stale")
    clock_offset_warn_s: float = Field(
        1.0, gt=0, le=3600, description="Health warning when system clock and GPS time differ by more"
    )
    min_valid_date: date = Field(
        date(2025, 1, 1), ge=date(2000, 1, 1), le=date(2080, 1, 1), description="Live receivers: dates before this (week rollover, 1980 cold start) are "
        "rejected and counted; replayed files accept any date from 1990"
    )
    fix_event_debounce_s: float = Field(
        10.0, ge=0, le=600, description="A fix must be held (or lost) this long, by receiver time, before a "
        "'fix acquired' ('fix lost') event is recorded: a fix flickering under trees is one event, not dozens"
    )
    silence_timeout_s: float = Field(
        5.0, ge=1, le=300, description="No valid sentence for this long counts as the receiver lost"
    )
    reconnect_backoff_max_s: float = Field(
        30.0, ge=0.5, le=600, description="Longest wait between attempts to reopen the port or gpsd"
    )
    chrony_socket: Path | None = Field(
        Path("/run/chrony.alpr-gnss.sock"), description="source=serial: send GPS time samples to chronyd's "
        "SOCK refclock at this path when it exists (see device/chrony/alpr-gnss.conf); empty to disable"
    )

    @field_validator("chrony_socket", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value in ("", None) else value
