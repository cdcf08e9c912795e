"""alpr-unit-tech flash against a Pi-OS-shaped image built here (sfdisk table, FAT boot, ext4 root),
inspected afterwards with mtools and debugfs: no loop mount anywhere."""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import subprocess

import pytest

from conftest import REPO
from firmware.tech.image import missing_tools
from tech_helpers import agency_pki, tech

pytestmark = pytest.mark.skipif(bool(missing_tools()) or not shutil.which("mkfs.vfat") and
                                not shutil.which("/usr/sbin/mkfs.vfat"), reason="needs fdisk, mtools, e2fsprogs, dosfstools")
BOOT_START, BOOT_SECTORS, ROOT_START, ROOT_SECTORS = 2048, 65536, 67584, 131072


def sh(*args, data: bytes | None = None) -> bytes:
    return subprocess.run([str(a) for a in args], input=data, capture_output=True, check=True).stdout


def pi_os_image(tmp_path):
    """64 MiB: a dos table, bootfs (FAT32, config.txt) and rootfs (ext4, a minimal /etc)."""
    image = tmp_path / "pios.img"
    with image.open("wb") as handle:
        handle.truncate((ROOT_START + ROOT_SECTORS) * 512)
    sh("sfdisk", "-q", image, data=f"label: dos\nstart={BOOT_START}, size={BOOT_SECTORS}, type=c\n"
                                  f"start={ROOT_START}, size={ROOT_SECTORS}, type=83\n".encode())
    boot = tmp_path / "boot.part"
    with boot.open("wb") as handle:
        handle.truncate(BOOT_SECTORS * 512)
    sh("mkfs.vfat", "-n", "BOOTFS", boot)          # FAT16 at this size; Pi OS uses FAT32 at 512 MiB
    (tmp_path / "config.txt").write_text("# Pi OS\ndtparam=audio=on\ncamera_auto_detect=1\n[all]\narm_64bit=1\n")
    sh("mcopy", "-i", boot, tmp_path / "config.txt", "::config.txt")
    rootdir = tmp_path / "rootdir"
    for folder in ("etc/systemd/system", "var/lib", "usr/local"):
        (rootdir / folder).mkdir(parents=True)
    (rootdir / "etc/hostname").write_text("raspberrypi\n")
    root = tmp_path / "root.part"
    with root.open("wb") as handle:
        handle.truncate(ROOT_SECTORS * 512)
    sh("mkfs.ext4", "-q", "-d", rootdir, root)
    for part, start in ((boot, BOOT_START), (root, ROOT_START)):
        sh("dd", f"if={part}", f"of={image}", "bs=512", f"seek={start}", "conv=notrunc", "status=none")
    return image


def small_deb(tmp_path, arch="arm64"):
    """Only what flash reads from the package: its control fields and the boot fragment."""
    stage = tmp_path / f"deb-{arch}"
    (stage / "DEBIAN").mkdir(parents=True)
    (stage / "DEBIAN/control").write_text(f"Package: alpr-unit\nVersion: 0.1.0\nArchitecture: {arch}\n"
                                          "Maintainer: t <t@invalid.example>\nDescription: test\n")
    fragment = stage / "usr/share/alpr-unit/boot/config.txt.fragment"
    fragment.parent.mkdir(parents=True)
    shutil.copy(REPO / "device/boot/config.txt.fragment", fragment)
    out = tmp_path / f"alpr-unit_{arch}.deb"
    sh("dpkg-deb", "--root-owner-group", "-Zxz", "--build", stage, out)
    return out


@pytest.fixture
def inputs(tmp_path):
    agency = agency_pki(tmp_path / "agency")
    bundle = tmp_path / "car-1042.tar"
    made = tech("provision", "--technician", "T. Tech", "--unit-id", "car-1042", "--agency", "durham-pd", "--broker", "mqtts://mqtt.example",
                "--broker-ca", agency.pki.ca, "--downlink-key", agency.downlink_hex, "--ca-cert", agency.pki.ca,
                "--ca-key", agency.ca_key, "--template", REPO / "device/config/unit.toml", "--out", bundle)
    assert made.returncode == 0, made.stderr
    return pi_os_image(tmp_path), bundle, small_deb(tmp_path)


def table(image):
    parts = json.loads(sh("sfdisk", "--json", image))["partitiontable"]["partitions"]
    return [(p["start"], p["size"], p["type"]) for p in parts]


def ext4(image, command):
    return sh("debugfs", "-R", command, f"{image}?offset={ROOT_START * 512}").decode()


def test_flash_writes_package_bundle_firstboot_and_overlays_and_reads_them_back(tmp_path, inputs):
    image, bundle, deb = inputs
    xz = tmp_path / "pios.img.xz"
    xz.write_bytes(lzma.compress(image.read_bytes(), preset=0))
    card = tmp_path / "card.img"
    result = tech("flash", "--image", xz, "--bundle", bundle, "--deb", deb, "--out", card)
    assert result.returncode == 0, result.stderr
    assert "read back identical" in result.stdout
    assert table(card) == table(image)

    config_txt = sh("mtype", "-i", f"{card}@@{BOOT_START * 512}", "::config.txt").decode()
    assert config_txt.startswith("# Pi OS\ndtparam=audio=on")
    assert "dtoverlay=pps-gpio,gpiopin=18" in config_txt and "enable_uart=1" in config_txt
    for path, source in (("/var/lib/alpr-unit-firstboot/bundle.tar", bundle),
                         ("/var/lib/alpr-unit-firstboot/alpr-unit.deb", deb)):
        dumped = tmp_path / "dumped"
        sh("debugfs", "-R", f"dump {path} {dumped}", f"{card}?offset={ROOT_START * 512}")
        assert hashlib.sha256(dumped.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
        assert hashlib.sha256(source.read_bytes()).hexdigest() in result.stdout
    stat = ext4(card, "stat /var/lib/alpr-unit-firstboot/bundle.tar")
    assert "Mode:  0600" in stat and "User:     0" in stat
    assert "Mode:  0700" in ext4(card, "stat /var/lib/alpr-unit-firstboot")
    assert "Mode:  0755" in ext4(card, "stat /usr/local/sbin/alpr-unit-firstboot")
    link = ext4(card, "stat /etc/systemd/system/multi-user.target.wants/alpr-unit-firstboot.service")
    assert 'Fast link dest: "/etc/systemd/system/alpr-unit-firstboot.service"' in link
    unit = ext4(card, "cat /etc/systemd/system/alpr-unit-firstboot.service")
    assert "ExecStart=/usr/local/sbin/alpr-unit-firstboot" in unit
    fsck = subprocess.run(["e2fsck", "-fn", f"{card}?offset={ROOT_START * 512}"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr

    # flashing the card image again replaces the block instead of adding a second one
    again = tech("flash", "--image", card, "--bundle", bundle, "--deb", deb, "--out", tmp_path / "card2.img")
    assert again.returncode == 0, again.stderr
    twice = sh("mtype", "-i", f"{tmp_path / 'card2.img'}@@{BOOT_START * 512}", "::config.txt").decode()
    assert twice.count("dtoverlay=pps-gpio") == 1


def test_flash_refuses_wrong_inputs_before_writing(tmp_path, inputs):
    image, bundle, deb = inputs
    out = tmp_path / "card.img"
    amd64 = small_deb(tmp_path, "amd64")
    cases = [
        (["--image", tmp_path / "missing.img"], "need an existing .img or .img.xz"),
        (["--deb", amd64], "built for amd64, this card needs arm64"),
        (["--deb", bundle], "not a Debian package"),
        (["--bundle", deb], "cannot read the bundle"),
        (["--out", "/dev/alpr-no-such-card"], "no such block device"),
    ]
    for change, message in cases:
        args = {"--image": image, "--bundle": bundle, "--deb": deb, "--out": out}
        args.update(dict(zip(change[::2], change[1::2])))
        result = tech("flash", *[x for kv in args.items() for x in kv])
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert not out.exists()
    out.write_bytes(b"precious")
    result = tech("flash", "--image", image, "--bundle", bundle, "--deb", deb, "--out", out)
    assert result.returncode == 2 and "exists" in result.stderr and out.read_bytes() == b"precious"


def test_a_full_root_partition_is_named_not_half_written(tmp_path, inputs):
    image, bundle, _ = inputs
    big = tmp_path / "big"
    (big / "DEBIAN").mkdir(parents=True)
    (big / "DEBIAN/control").write_text("Package: alpr-unit\nVersion: 0.1.0\nArchitecture: arm64\n"
                                        "Maintainer: t <t@invalid.example>\nDescription: test\n")
    fragment = big / "usr/share/alpr-unit/boot/config.txt.fragment"
    fragment.parent.mkdir(parents=True)
    fragment.write_text("enable_uart=1\n")
    (big / "opt").mkdir()
    (big / "opt/blob").write_bytes(__import__("os").urandom(80 << 20))    # more than the 64 MiB root holds
    deb = tmp_path / "big.deb"
    sh("dpkg-deb", "-Z", "none", "--root-owner-group", "--build", big, deb)
    result = tech("flash", "--image", image, "--bundle", bundle, "--deb", deb, "--out", tmp_path / "card.img")
    assert result.returncode == 3 and "MB free" in result.stderr, result.stderr


def test_first_boot_and_maintainer_scripts_parse_and_first_boot_finds_the_technician(tmp_path, inputs):
    _, bundle, _ = inputs
    scripts = [REPO / "firmware/tech/firstboot/alpr-unit-firstboot",
               *(REPO / "packaging/deb" / n for n in ("postinst", "prerm", "postrm"))]
    for script in scripts:
        checked = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{script}: {checked.stderr}"
    root = tmp_path / "root"
    assert tech("install-bundle", bundle, "--root", root).returncode == 0
    text = (REPO / "firmware/tech/firstboot/alpr-unit-firstboot").read_text()
    line = next(l for l in text.splitlines() if l.startswith("tech=$(sed"))
    sed = line[len("tech=$("):-1].replace("/etc/alpr-unit/provisioning.json", str(root / "etc/alpr-unit/provisioning.json"))
    found = subprocess.run(["sh", "-c", sed], capture_output=True, text=True)
    assert found.stdout.strip() == "T. Tech"
