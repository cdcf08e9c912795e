"""The unit's one config file: TOML, validated by pydantic, errors named by file, line and key.

Each subsystem owns its section model (`firmware/<subsystem>/config.py`); this module only composes
them and turns validation errors into messages a technician can act on.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from firmware.configbase import Section
from firmware.gnss.config import GnssConfig
from firmware.hotlist.config import HotlistConfig
from firmware.recognition.config import RecognitionConfig
from firmware.retention.config import RetentionConfig
from firmware.screen.config import ScreenConfig
from firmware.sync.config import SyncConfig

DEFAULT_CONFIG_PATH = Path("/etc/alpr-unit/unit.toml")


class UnitSection(Section):
    id: str = Field("unit-0001", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
                    description="Unit identifier, unique in the fleet; appears on every record")
    data_dir: Path = Field(Path("/var/lib/alpr-unit"), description="Where the database and images live")
    min_free_mb: int = Field(512, ge=0, le=1_000_000, description="Below this much free disk, images are skipped")
    reserve_mb: int = Field(16, ge=0, le=4096, description="Disk set aside (a reserve file in data_dir), given "
                            "back when the disk is found full so the database opens and capture goes on; 0: none")


class CameraConfig(Section):
    id: str = Field(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                    description="Camera name, e.g. front or rear")
    kind: Literal["picamera2", "opencv", "folder"] = Field(
        ..., description="picamera2 (Pi CSI), opencv (V4L2 device, RTSP/HTTP URL, video file) or folder of images"
    )
    uri: str = Field("", description="Device path, URL, video file or folder, by kind")
    fps: float = Field(10.0, gt=0, le=120, description="Target frame rate (folder and video: pacing rate)")
    width: int = Field(1280, ge=160, le=4096, description="Requested frame width")
    height: int = Field(720, ge=120, le=3072, description="Requested frame height")
    loop: bool = Field(False, description="Folder/video: start again at the end instead of stopping")
    stall_timeout_s: float = Field(5.0, gt=0, le=300, description="No frame for this long counts as a stall")
    frozen_after_s: float = Field(
        10.0, ge=0, le=600,
        description="A live camera whose frames stay bit-identical this long (a stuck sensor or driver repeating its "
                    "last buffer) is a malfunction until a frame differs; sensor noise keeps real frames apart. "
                    "Folders and video files are not judged; 0 switches it off")
    reopen_backoff_max_s: float = Field(30.0, ge=0.1, le=600, description="Longest wait between reopen attempts")
    queue_size: int = Field(4, ge=1, le=256, description="Frames buffered before the oldest is dropped (counted)")


class ConsensusConfig(Section):
    max_gap_frames: int = Field(5, ge=1, le=100, description="A track ends when unseen for this many frames")
    max_delay_s: float = Field(2.0, gt=0, le=30, description="A read is emitted at most this long after first seen")
    min_frames: int = Field(1, ge=1, le=50, description="Frames a track needs before it becomes a read")
    iou_threshold: float = Field(0.1, ge=0, le=1, description="Box overlap that links detections across frames")
    text_similarity: float = Field(0.5, ge=0, le=1, description="Text similarity that links detections")
    state_views: int = Field(
        3, ge=1, le=8,
        description="The plate's state is read on this many of a vehicle's sightings, the largest plates first "
                    "(~20 ms each, once per vehicle), and the answers combined: two different states give no state. "
                    "Each keeps only a small cut around its plate (at most ~0.4 MB), not the frame")


class AlertsConfig(Section):
    sinks: list[Literal["log", "recording", "gpio", "sound"]] = Field(
        default_factory=lambda: ["log"], description="Where alerts go"
    )
    gpio_buzzer_pin: int = Field(17, ge=0, le=40, description="BCM pin of the buzzer (gpio sink)")
    gpio_led_pin: int = Field(27, ge=0, le=40, description="BCM pin of the alert LED (gpio sink)")
    sound_device: str = Field("default", description="ALSA device for aplay (sound sink)")
    sound_volume: float = Field(0.8, ge=0, le=1, description="Alert tone amplitude")
    unacknowledged_after_s: float = Field(
        300, ge=10, le=86_400,
        description="A hit shown in the car that nobody answers within this time is recorded as unacknowledged "
                    "(never auto-rejected; it stays open on the screen)")
    high_priority_max: int = Field(
        20, ge=0, le=100, description="Hits from lists with priority at or below this (0 highest) get the urgent "
                                      "buzzer/LED pattern and tone")


class StorageConfig(Section):
    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of stored crops and overviews")
    store_overview: bool = Field(True, description="Store a vehicle overview image with each read")
    overview_max_width: int = Field(1280, ge=160, le=4096, description="Overview images are scaled down to this")


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    format: Literal["json", "text"] = Field("json", description="json: one JSON object per line; text: for people")


class UnitConfig(Section):
    unit: UnitSection = Field(default_factory=UnitSection, description="Identity and data location")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras; several run at once")
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig, description="Models")
    consensus: ConsensusConfig = Field(default_factory=ConsensusConfig, description="Multi-frame voting")
    gps: GnssConfig = Field(default_factory=GnssConfig, description="GNSS receiver")
    hotlist: HotlistConfig = Field(default_factory=HotlistConfig, description="Hotlist matching")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert outputs")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Scan file storage")
    sync: SyncConfig = Field(default_factory=SyncConfig, description="MQTT sync")
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Purge and audit")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logs")
    screen: ScreenConfig | None = Field(None, description="The officer's in-car screen (a local web app); off when absent")

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cams: list[CameraConfig]) -> list[CameraConfig]:
        ids = [c.id for c in cams]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique, repeated: {', '.join(dupes)}")
        return cams

    @model_validator(mode="after")
    def _file_source_needs_file(self) -> "UnitConfig":
        if self.gps.source == "file" and self.gps.file is None:
            raise ValueError("gps.source = 'file' needs gps.file")
        return self


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.key}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def key_lines(text: str) -> dict[tuple, int]:
    """Map key paths (as pydantic reports them: ('cameras', 0, 'fps')) to 1-based line numbers.

    A line scanner, not a TOML parser: it only needs to find where keys are written.
    """
    lines: dict[tuple, int] = {}
    prefix: tuple = ()
    array_counts: dict[tuple, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            name = tuple(p.strip().strip("\"'") for p in header.group(2).split("."))
            if header.group(1) == "[[":
                index = array_counts.get(name, -1) + 1
                array_counts[name] = index
                prefix = name + (index,)
            else:
                prefix = name
            lines.setdefault(prefix, number)
            continue
        key = _KEY.match(raw)
        if key:
            parts = tuple(p.strip().strip("\"'") for p in key.group(1).split("."))
            lines.setdefault(prefix + parts, number)
    return lines


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def parse_config(text: str, path: str = "<string>") -> UnitConfig:
    return parse_toml_model(UnitConfig, text, path)


def parse_toml_model(model: type[BaseModel], text: str, path: str = "<string>"):
    """Validate TOML `text` as `model`; every problem names the file and line (also the HIL rig's scenarios)."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError([ConfigProblem(path, int(match.group(1)) if match else None, "(syntax)", str(exc))])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = key_lines(text)
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc) or "(top level)"
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown key (not a setting of this section)"
            problems.append(ConfigProblem(path, _line_for(loc, lines), key, message))
        raise ConfigError(problems)


def validate_override(model: type[BaseModel], data: dict, where: str = "command line"):
    """Validate settings rebuilt with a command's options: a bad option value is a config error (exit 2)
    naming the setting, as the same value in the file would be, not an internal error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([ConfigProblem(where, None, ".".join(str(p) for p in err["loc"]), err["msg"])
                           for err in exc.errors()]) from None


def load_config(path: Path | None, data_dir: Path | None = None) -> UnitConfig:
    """Load `path` (or the built-in defaults when None) and apply a --data-dir override."""
    if path is None:
        config = UnitConfig()
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([ConfigProblem(str(path), None, "(file)", f"cannot read: {exc.strerror}")])
        except UnicodeDecodeError as exc:
            raise ConfigError([ConfigProblem(str(path), None, "(file)", f"not UTF-8 text (byte {exc.start}): "
                                                                          "not a TOML config file")]) from None
        config = parse_config(text, str(path))
    if data_dir is not None:
        config = config.model_copy(update={"unit": config.unit.model_copy(update={"data_dir": Path(data_dir)})})
    return config
