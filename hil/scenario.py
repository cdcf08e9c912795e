"""Scenario files: what drives past, what the agency sends, which faults strike when, and what the
unit must then have done. TOML, validated as strictly as the unit's own config (unknown keys are
errors naming file and line), so a typo in a fault's name fails the scenario before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from firmware.config import ConfigError, ConfigProblem, parse_toml_model

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
Condition = Literal["night", "rain", "glare"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteSpec(Strict):
    waypoints: list[tuple[float, float]] = Field(
        default_factory=lambda: [(44.05600, -121.31300), (44.05600, -121.29000), (44.04800, -121.29000)],
        min_length=2, description="(lat, lon) points the patrol car drives through, in order")
    speed_kmh: float = Field(40.0, ge=0, le=250, description="Patrol car speed along the route")


class VehicleSpec(Strict):
    plate: str = Field(..., pattern=r"^[A-Z0-9]{2,8}$", description="Plate text as the unit should read it")
    enter_s: float = Field(..., ge=0, le=3600, description="Seconds into the clip when it comes into view")
    speed_kmh: float = Field(50.0, gt=0, le=250, description="Closing speed: sets how long it stays in view")
    leave_s: float | None = Field(None, gt=0, le=3600, description="Leaves view (default from speed_kmh)")
    lane: Literal["left", "centre", "right"] = Field("right", description="Where in the frame it drives")
    style: Literal["white", "white_red", "white_blue", "yellow", "blue", "dark", "green"] = "white"
    conditions: list[Condition] = Field(default_factory=list, description="Look of the camera while it passes")


class HotlistRow(Strict):
    plate: str = Field(..., pattern=r"^[A-Z0-9]{2,8}$")
    state: str = Field("", max_length=2)
    category: str = Field("stolen vehicle", max_length=64)


FaultKind = Literal[
    "gps_unplug", "nmea_garbage", "camera_frozen", "camera_gone", "broker_down", "broker_restart_clean",
    "kill9", "disk_full", "corrupt_db", "clock_jump", "downlink", "alert_output_fails",
]


class Fault(Strict):
    kind: FaultKind
    at_s: float = Field(0.0, ge=0, le=3600, description="Seconds after the daemon started (clip time for camera faults)")
    seconds: float = Field(5.0, ge=0, le=3600, description="How long the fault lasts")
    long_seconds: float | None = Field(None, ge=0, le=7200, description="Duration under --long (broker_down: 600)")
    days: float = Field(0.0, ge=-400, le=400, description="clock_jump: how far the wall clock jumps")
    variant: Literal["unsigned", "forged", "replayed", "oversize", ""] = Field("", description="downlink: spoilt how")
    count: int = Field(1, ge=1, le=50, description="kill9: how many kills (at random points, seeded)")
    at_start: bool = Field(False, description="disk_full/clock_jump: in force before the daemon starts")
    expect: str = Field(..., min_length=10, description="The behaviour the unit must show, in words")


class EventSpec(Strict):
    kind: str = Field(..., description="malfunction, back_in_service, security, data_loss, info, ...")
    source: str = Field(..., description="gps, camera:front, sync.downlink ...; a trailing * matches a prefix")
    reason: str | None = Field(None, description="The event's detail.reason must equal this")
    count: int | None = Field(None, ge=0, description="Exactly this many such events")


class ScreenCheck(Strict):
    path: str = Field(..., pattern=r"^/")
    status: int = Field(200, ge=100, le=599)
    contains_hits: bool = Field(False, description="The body names every expected hit plate")


class Expect(Strict):
    reads: list[str] | Literal["all"] = Field("all", description="Plates that must be read ('all': every vehicle)")
    max_missed_reads: int = Field(0, ge=0, le=1000)
    position_within_m: float | None = Field(60.0, gt=0, le=100000,
                                            description="A positioned read lies this close to the route at its time")
    max_reads_per_plate: int | None = Field(None, ge=1, description="No plate read more often than this")
    all_positioned: bool = Field(True, description="Every read carries a current (fix) position")
    hits: list[str] = Field(default_factory=list, description="Plates that must raise a hit; no others may")
    may_hit: list[str] = Field(default_factory=list, description="Plates that may hit but need not (e.g. passing while the unit is down)")
    hit_within_ms: float = Field(6000.0, gt=0, le=600000, description="Hit stored this soon after the vehicle appears")
    delivered_exactly_once: bool = Field(True, description="Every stored read/hit/event/audit id reaches the agency")
    delivery_timeout_s: float = Field(60.0, gt=0, le=3600)
    events: list[EventSpec] = Field(default_factory=list, description="Events that must be recorded and delivered")
    no_events: list[EventSpec] = Field(default_factory=list, description="Events that must not occur")
    audit: list[str] = Field(default_factory=list, description="Audit entries (event names) that must exist")
    hotlist_entries: int | None = Field(None, ge=0, description="Live hotlist rows on the unit at the end")
    min_reads_kept: int | None = Field(None, ge=0, description="Purge: at least this many reads still stored")
    max_reads_kept: int | None = Field(None, ge=0, description="Purge: at most this many reads still stored")
    min_health_reports: int = Field(1, ge=0, description="Health reports the agency must receive, each naming every camera")
    exit_codes: list[int] = Field(default_factory=lambda: [0], description="Acceptable exit codes of the last run")
    screen: list[ScreenCheck] = Field(default_factory=list, description="HTTP checks when the unit has a screen")


class Scenario(Strict):
    name: str = Field(..., min_length=3, max_length=120)
    description: str = Field("", max_length=2000)
    set: Literal["short", "long"] = Field("short", description="short: CI; long: with --long")
    expected_to_fail_until: str | None = Field(None, min_length=5, max_length=300,
                                               description="Known failure: reported as xfail until the named fix")
    seed: int = Field(7, ge=0)
    fps: float = Field(8.0, gt=0, le=30)
    lead_in_s: float = Field(4.0, ge=0, le=600, description="Empty road before the first vehicle")
    tail_s: float = Field(3.0, ge=0, le=600, description="Empty road after the last vehicle")
    conditions: list[Condition] = Field(default_factory=list)
    route: RouteSpec = Field(default_factory=RouteSpec)
    vehicles: list[VehicleSpec] = Field(default_factory=list)
    hotlist: list[HotlistRow] = Field(default_factory=list, description="Sent signed over the MQTT downlink")
    config: dict[str, Any] = Field(default_factory=dict,
                                   description="Unit config overrides (validated by the unit itself)")
    faults: list[Fault] = Field(default_factory=list)
    expect: Expect = Field(default_factory=Expect)
    max_run_s: float = Field(240.0, gt=0, le=7200, description="The daemon is stopped after this long")

    @model_validator(mode="after")
    def _vehicles_fit(self) -> "Scenario":
        plates = [v.plate for v in self.vehicles]
        if self.expect.reads != "all":
            unknown = sorted(set(self.expect.reads) - set(plates))
            if unknown:
                raise ValueError(f"expect.reads names plates no vehicle carries: {unknown}")
        unknown_hits = sorted(set(self.expect.hits) - set(plates))
        if unknown_hits:
            raise ValueError(f"expect.hits names plates no vehicle carries: {unknown_hits}")
        return self

    def expected_reads(self) -> list[str]:
        return [v.plate for v in self.vehicles] if self.expect.reads == "all" else list(self.expect.reads)


def load(path: Path) -> Scenario:
    """The scenario at `path` (or a name in hil/scenarios/); ConfigError naming file:line when it is wrong."""
    path = resolve(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "(file)", f"cannot read: {exc.strerror}")]) from None
    return parse_toml_model(Scenario, text, str(path))


def resolve(path: Path | str) -> Path:
    path = Path(path)
    if not path.exists() and path.parent == Path(".") and (SCENARIO_DIR / f"{path.stem}.toml").exists():
        return SCENARIO_DIR / f"{path.stem}.toml"
    return path


def catalogue() -> list[tuple[Path, Scenario | ConfigError]]:
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            out.append((path, load(path)))
        except ConfigError as exc:
            out.append((path, exc))
    return out
