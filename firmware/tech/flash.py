"""`alpr-unit-tech flash`: a Raspberry Pi OS image (.img or .img.xz) + the firmware package + the unit's
bundle -> a card (or an image file) that provisions itself on first boot.

Written without mounting anything (firmware/tech/image.py): the package, the bundle and any extra
Debian packages go to /var/lib/alpr-unit-firstboot (root-only: the bundle holds the unit's key), the
first-boot unit and script are installed and enabled, and the GNSS UART / camera overlays from the
package's config.txt fragment are added to config.txt now (so the first boot needs no second
reboot). Every file written is read back from the card and compared by sha256.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import stat
import tarfile
from importlib import resources
from pathlib import Path

from firmware.tech.bundle import read_bundle
from firmware.tech.cli import EXIT_FAILED, EXIT_OK, EXIT_RUNTIME, TechError
from firmware.tech.image import (ImageError, ext4_commands, ext4_exists, ext4_free_bytes, ext4_read, fat_read,
                                 fat_write, missing_tools, partitions)

FIRSTBOOT_DIR = "/var/lib/alpr-unit-firstboot"
FRAGMENT = "usr/share/alpr-unit/boot/config.txt.fragment"
BEGIN, END = "# --- alpr-unit begin (alpr-unit-tech flash) ---", "# --- alpr-unit end ---"
CHUNK = 4 << 20


def register(sub) -> None:
    p = sub.add_parser("flash", help="write a Pi OS image with the firmware, the unit's bundle and a first-boot unit")
    p.add_argument("--image", type=Path, required=True, help="Raspberry Pi OS (bookworm, arm64) .img or .img.xz")
    p.add_argument("--bundle", type=Path, required=True, help="the unit's bundle from alpr-unit-tech provision")
    p.add_argument("--deb", type=Path, required=True, help="the alpr-unit package (arm64 for a Pi)")
    p.add_argument("--extra-deb", type=Path, action="append", default=[],
                   help="more Debian packages to install at first boot without network (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="image file to write, or a whole card: /dev/sdX")
    p.add_argument("--arch", default="arm64", help="architecture the package must be built for (default arm64)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_flash)


def deb_members(deb: Path) -> tuple[dict, dict[str, bytes]]:
    """(control fields, selected data files) of a .deb, read with the standard library (ar + tar)."""
    wanted = {f"./{FRAGMENT}", FRAGMENT}
    control, files = {}, {}
    try:
        with deb.open("rb") as handle:
            if handle.read(8) != b"!<arch>\n":
                raise TechError(f"--deb {deb}: not a Debian package")
            while header := handle.read(60):
                name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
                body = handle.read(size)
                handle.read(size % 2)
                if name.startswith("control.tar") or name.startswith("data.tar"):
                    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                        for member in tar.getmembers():
                            if name.startswith("control") and member.name.lstrip("./") == "control":
                                text = tar.extractfile(member).read().decode()
                                control = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
                            elif member.name in wanted and member.isfile():
                                files[FRAGMENT] = tar.extractfile(member).read()
    except (OSError, ValueError, tarfile.TarError, lzma.LZMAError) as exc:
        raise TechError(f"--deb {deb}: cannot read it: {exc}") from exc
    return control, files


def check_output(out: Path, force: bool) -> bool:
    """True when out is a block device; refuses a mounted one and an existing file without --force."""
    if out.exists() and stat.S_ISBLK(out.stat().st_mode):
        real = os.path.realpath(out)
        mounts = Path("/proc/mounts").read_text().split("\n") if Path("/proc/mounts").exists() else []
        if any(line.split(" ")[0].startswith(real) for line in mounts if line):
            raise TechError(f"--out {out}: a partition of it is mounted - unmount it first (is it the wrong disk?)")
        return True
    if str(out).startswith("/dev/"):
        raise TechError(f"--out {out}: no such block device (lsblk lists the cards)")
    if out.exists() and not force:
        raise TechError(f"--out {out} exists (use --force to overwrite)")
    if not out.parent.is_dir():
        raise TechError(f"--out {out}: folder {out.parent} does not exist")
    return False


def copy_image(image: Path, out: Path, device: bool) -> str:
    """Decompress or copy the image onto out; returns the sha256 of what was written."""
    digest = hashlib.sha256()
    opener = lzma.open if image.name.endswith(".xz") else open
    try:
        with opener(image, "rb") as src, open(out, "r+b" if device else "wb") as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except lzma.LZMAError as exc:
        raise TechError(f"--image {image}: not a valid .xz file: {exc}") from exc
    return digest.hexdigest()


def patch_config_txt(text: str, fragment: str) -> str:
    """config.txt with the fragment in one marked block (replaced, never repeated, on a second flash)."""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head.rstrip("\n") + "\n" + rest.split(END, 1)[1].lstrip("\n")
    lines = [line for line in fragment.splitlines() if line.strip() and not line.lstrip().startswith("# Append")]
    return text.rstrip("\n") + "\n\n[all]\n" + BEGIN + "\n" + "\n".join(lines) + "\n" + END + "\n"


def root_files(bundle: Path, deb: Path, extras: list[Path]) -> list[tuple[str, Path | bytes, int]]:
    """(path in the root filesystem, content, mode) of everything flash adds."""
    data = resources.files("firmware.tech") / "firstboot"
    files = [(f"{FIRSTBOOT_DIR}/alpr-unit.deb", deb, 0o600), (f"{FIRSTBOOT_DIR}/bundle.tar", bundle, 0o600),
             ("/usr/local/sbin/alpr-unit-firstboot", (data / "alpr-unit-firstboot").read_bytes(), 0o755),
             ("/etc/systemd/system/alpr-unit-firstboot.service",
              (data / "alpr-unit-firstboot.service").read_bytes(), 0o644)]
    files += [(f"{FIRSTBOOT_DIR}/extra/{p.name}", p, 0o600) for p in extras]
    return files


def _flash(args) -> int:
    # 1. every input checked before the output is touched
    if missing := missing_tools():
        raise TechError("missing tools: " + ", ".join(missing) + " (apt-get install fdisk mtools e2fsprogs)")
    if not args.image.is_file() or not (args.image.name.endswith(".img") or args.image.name.endswith(".img.xz")):
        raise TechError(f"--image {args.image}: need an existing .img or .img.xz file")
    manifest, _ = read_bundle(args.bundle)
    control, deb_files = deb_members(args.deb)
    if control.get("Package") != "alpr-unit":
        raise TechError(f"--deb {args.deb}: package {control.get('Package')!r}, not alpr-unit")
    if control.get("Architecture") not in (args.arch, "all"):
        raise TechError(f"--deb {args.deb}: built for {control.get('Architecture')}, this card needs {args.arch} "
                        f"(make deb ARCH={args.arch})")
    if FRAGMENT not in deb_files:
        raise TechError(f"--deb {args.deb}: has no {FRAGMENT}")
    for extra in args.extra_deb:
        if not extra.is_file() or extra.suffix != ".deb":
            raise TechError(f"--extra-deb {extra}: not a .deb file")
    device = check_output(args.out, args.force)

    # 2. write
    written = copy_image(args.image, args.out, device)
    try:
        layout = partitions(args.out)
        config_txt = patch_config_txt(fat_read(args.out, layout.boot_offset, "config.txt").decode(),
                                      deb_files[FRAGMENT].decode())
        fat_write(args.out, layout.boot_offset, "config.txt", config_txt.encode())
        files = root_files(args.bundle, args.deb, args.extra_deb)
        need = sum(len(c) if isinstance(c, bytes) else c.stat().st_size for _, c, _ in files) + (8 << 20)
        free = ext4_free_bytes(args.out, layout.root_offset)
        if free < need:
            raise TechError(f"the image's root partition has {free >> 20} MB free, {need >> 20} MB needed: grow "
                            "partition 2 of the image first (truncate -s +1G IMG; growpart; resize2fs)", EXIT_RUNTIME)
        commands, staged = [], []
        for folder in ("/var/lib", FIRSTBOOT_DIR, f"{FIRSTBOOT_DIR}/extra", "/usr/local/sbin",
                       "/etc/systemd/system/multi-user.target.wants"):
            if not ext4_exists(args.out, layout.root_offset, folder):
                commands += [f"mkdir {folder}", f"sif {folder} uid 0", f"sif {folder} gid 0"]
        commands.append(f"sif {FIRSTBOOT_DIR} mode 040700")
        tmp = Path(args.out.parent if not device else "/tmp") / f".alpr-flash-{os.getpid()}"
        tmp.mkdir()
        try:
            for path, content, mode in files:
                source = content if isinstance(content, Path) else tmp / Path(path).name
                if isinstance(content, bytes):
                    source.write_bytes(content)
                staged.append((path, source))
                if ext4_exists(args.out, layout.root_offset, path):
                    commands.append(f"rm {path}")
                commands += [f'write "{source}" {path}', f"sif {path} mode 0{0o100000 | mode:o}",
                             f"sif {path} uid 0", f"sif {path} gid 0"]
            link = "/etc/systemd/system/multi-user.target.wants/alpr-unit-firstboot.service"
            if not ext4_exists(args.out, layout.root_offset, link):
                commands.append(f"symlink {link} /etc/systemd/system/alpr-unit-firstboot.service")
            ext4_commands(args.out, layout.root_offset, commands)

            # 3. read back and compare
            report = {"image_sha256": written, "unit": manifest.get("unit"), "files": {}}
            bad = []
            for path, source in staged:
                expected = hashlib.sha256(source.read_bytes()).hexdigest()
                got = hashlib.sha256(ext4_read(args.out, layout.root_offset, path)).hexdigest()
                report["files"][path] = got
                if got != expected:
                    bad.append(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if fat_read(args.out, layout.boot_offset, "config.txt").decode() != config_txt:
            bad.append("config.txt")
    except ImageError as exc:
        raise TechError(str(exc), EXIT_RUNTIME) from exc
    if bad:
        print(f"flash: read-back differs for {', '.join(bad)} - the card may be failing; use another", flush=True)
        return EXIT_FAILED
    os.sync()
    print(f"flash: {args.out} ready for unit {manifest.get('unit')}: image sha256 {written[:16]}..., "
          f"{len(report['files']) + 1} files written and read back identical")
    for path, digest in sorted(report["files"].items()):
        print(f"  {digest}  {path}")
    return EXIT_OK
