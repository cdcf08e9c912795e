"""The per-unit systemd drop-in: device nodes, groups and data paths the confined daemon may use.

systemd/alpr-unit.service runs with a private /dev and no supplementary groups, so it starts on any
Debian machine (a hard `SupplementaryGroups=gpio` fails with 216/GROUP where no gpio group exists).
What this unit's hardware needs is decided here from its config and from the groups and device
nodes that exist, and written as alpr-unit.service.d/50-unit.conf by the package's postinst and by
first boot. `plan_dropin` is a pure function over plain data; `write_dropin` does the I/O.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

DROPIN = Path("etc/systemd/system/alpr-unit.service.d/50-unit.conf")
DEFAULT_DATA_DIR = Path("/var/lib/alpr-unit")
# group -> what it grants on Raspberry Pi OS / Debian
WANTED_GROUPS = ("video", "render", "dialout", "gpio", "audio")
NODE_PATTERNS = {
    "picamera2": ("/dev/media*", "/dev/video*", "/dev/v4l-subdev*", "/dev/dma_heap"),
    "gpio": ("/dev/gpiochip*", "/dev/gpiomem*"),
    "sound": ("/dev/snd",),
}


def needed_groups(config) -> list[str]:
    """Groups the daemon needs for this config (before checking which exist)."""
    groups = []
    if any(c.kind in ("picamera2", "opencv") for c in config.cameras):
        groups += ["video", "render"]
    if config.gps.source == "serial":
        groups.append("dialout")
    if "gpio" in config.alerts.sinks:
        groups.append("gpio")
    if "sound" in config.alerts.sinks:
        groups.append("audio")
    return groups


def needed_node_patterns(config) -> list[str]:
    """Device paths (globs) this config reads or writes."""
    patterns: list[str] = []
    for camera in config.cameras:
        if camera.kind == "picamera2":
            patterns += NODE_PATTERNS["picamera2"]
        elif camera.kind == "opencv" and camera.uri.startswith("/dev/"):
            patterns.append(camera.uri)
        elif camera.kind == "opencv" and camera.uri.isdigit():
            patterns.append(f"/dev/video{int(camera.uri)}")
    if config.gps.source == "serial":
        patterns.append(config.gps.port)
    for sink in ("gpio", "sound"):
        if sink in config.alerts.sinks:
            patterns += NODE_PATTERNS[sink]
    return list(dict.fromkeys(patterns))


def plan_dropin(config, existing_groups: set[str], existing_nodes: list[str]) -> str:
    """The drop-in text for this config, given the groups and device nodes that exist."""
    lines = ["# Written by `alpr-unit-tech units` from /etc/alpr-unit/unit.toml; do not edit, run it again.",
             "[Service]"]
    groups = [g for g in dict.fromkeys(needed_groups(config)) if g in existing_groups]
    if groups:
        lines.append("SupplementaryGroups=" + " ".join(groups))
    data_dir = Path(config.unit.data_dir)
    if data_dir != DEFAULT_DATA_DIR:
        lines.append(f"ReadWritePaths={data_dir}")
    # A node listed in the config is bound even when absent now ('-': skipped if missing at start),
    # so a receiver plugged in later is seen after a restart (the udev rule restarts the daemon).
    binds = list(dict.fromkeys(existing_nodes + [p for p in needed_node_patterns(config) if "*" not in p]))
    if binds:
        lines.append("BindPaths=" + " ".join(f"-{node}" for node in sorted(binds)))
    return "\n".join(lines) + "\n"


def existing_groups(root: Path) -> set[str]:
    try:
        text = (root / "etc/group").read_text()
    except OSError:
        return set()
    return {line.split(":", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def existing_nodes(config, root: Path) -> list[str]:
    found = []
    for pattern in needed_node_patterns(config):
        for path in sorted(glob.glob(str(root) + pattern)):
            found.append("/" + os.path.relpath(path, root))
    return found


def write_dropin(config, root: Path = Path("/")) -> Path:
    text = plan_dropin(config, existing_groups(root), existing_nodes(config, root))
    target = root / DROPIN
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, target)
    return target
