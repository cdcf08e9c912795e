"""Card images without loop mounts: partition table by sfdisk, the FAT boot partition by mtools at a
byte offset (`img@@offset`), the ext4 root by debugfs at a byte offset (`img?offset=`). Works in CI and
in an unprivileged container. Thin wrappers; each raises ImageError with the tool's own message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TOOLS = {"sfdisk": "fdisk", "mcopy": "mtools", "mtype": "mtools", "debugfs": "e2fsprogs"}


class ImageError(Exception):
    pass


@dataclass(frozen=True)
class Partitions:
    boot_offset: int
    root_offset: int


def missing_tools() -> list[str]:
    return [f"{tool} ({package})" for tool, package in TOOLS.items()
            if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists() or Path(f"/sbin/{tool}").exists())]


def _run(command: list[str], what: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(command, input=data, capture_output=True, timeout=600)
    if done.returncode != 0:
        raise ImageError(f"{what}: {done.stderr.decode(errors='replace').strip() or done.returncode}")
    return done.stdout


def _tool(name: str) -> str:
    return shutil.which(name) or next(p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if Path(p).exists())


def partitions(image: Path) -> Partitions:
    """Raspberry Pi OS layout: partition 1 FAT (boot), partition 2 Linux (root)."""
    table = json.loads(_run([_tool("sfdisk"), "--json", str(image)], "reading the partition table"))["partitiontable"]
    sector = table.get("sectorsize", 512)
    parts = table.get("partitions", [])
    if len(parts) < 2:
        raise ImageError(f"{image}: expected a boot and a root partition, found {len(parts)}")
    fat_types = {"b", "c", "e", "ef", "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"}
    linux_types = {"83", "0fc63daf-8483-4772-8e79-3d69d8477de4"}
    if parts[0]["type"].lower() not in fat_types or parts[1]["type"].lower() not in linux_types:
        raise ImageError(f"{image}: partitions 1 and 2 are types {parts[0]['type']} and {parts[1]['type']}, "
                         "not FAT boot + Linux root (is this a Raspberry Pi OS image?)")
    return Partitions(parts[0]["start"] * sector, parts[1]["start"] * sector)


def fat_read(image: Path, offset: int, path: str) -> bytes:
    return _run([_tool("mtype"), "-i", f"{image}@@{offset}", f"::{path}"], f"reading {path} from the boot partition")


def fat_write(image: Path, offset: int, path: str, data: bytes) -> None:
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(data)
        tmp.flush()
        _run([_tool("mcopy"), "-o", "-i", f"{image}@@{offset}", tmp.name, f"::{path}"],
             f"writing {path} to the boot partition")


def ext4_spec(image: Path, offset: int) -> str:
    return f"{image}?offset={offset}"


def ext4_commands(image: Path, offset: int, commands: list[str]) -> str:
    """Run debugfs commands (read-write); debugfs reports most errors on stdout/stderr, not its status."""
    script = "\n".join(commands) + "\n"
    done = subprocess.run([_tool("debugfs"), "-w", "-f", "-", ext4_spec(image, offset)], input=script.encode(),
                          capture_output=True, timeout=1800)
    text = (done.stdout + done.stderr).decode(errors="replace")
    bad = [line for line in text.splitlines() if any(w in line for w in (
        "Could not allocate", "No free space", "File exists", "not found", "Filesystem opened read/only",
        "Ext2 file too big", "Couldn't", "Bad magic"))]
    if done.returncode != 0 or bad:
        raise ImageError("writing the root partition: " + ("; ".join(bad) or text.strip()[-400:]))
    return text


def ext4_read(image: Path, offset: int, path: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out"
        _run([_tool("debugfs"), "-R", f"dump -p {path} {target}", ext4_spec(image, offset)], f"reading {path}")
        if not target.exists():
            raise ImageError(f"{path} is not in the root partition")
        return target.read_bytes()


def ext4_exists(image: Path, offset: int, path: str) -> bool:
    out = subprocess.run([_tool("debugfs"), "-R", f"stat {path}", ext4_spec(image, offset)], capture_output=True,
                         timeout=60)
    return b"Inode:" in out.stdout


def ext4_free_bytes(image: Path, offset: int) -> int:
    out = _run([_tool("debugfs"), "-R", "stats", ext4_spec(image, offset)], "reading the root filesystem").decode()
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return int(fields["Free blocks"].strip()) * int(fields["Block size"].strip())
