#!/usr/bin/env bash
# Build the alpr-unit Debian package for one architecture on any Debian/Ubuntu host (x86 included):
#
#   scripts/build-deb.sh amd64|arm64 [OUTDIR]        (or: make deb ARCH=arm64)
#
# Network is needed here, at build time only: pip downloads the dependencies as binary wheels for the
# TARGET architecture and CPython 3.11 (Debian bookworm / Raspberry Pi OS bookworm). The package carries
# them in /opt/alpr-unit/wheels; its postinst builds /opt/alpr-unit/venv from them with the unit's own
# python3, so nothing is fetched at install time and no build-host path ends up in the unit.
# Env: PYTHON (default .venv/bin/python), DEB_COMPRESS (xz|gzip|none; default xz), VERSION_SUFFIX.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
ARCH=${1:-}
OUTDIR=${2:-dist}
PY=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PY" ] || PY=python3
case "$ARCH" in
  amd64) PLAT=x86_64 ;;
  arm64) PLAT=aarch64 ;;
  *) echo "build-deb: usage: $0 amd64|arm64 [OUTDIR]" >&2; exit 2 ;;
esac
for tool in dpkg-deb fakeroot; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (apt-get install dpkg-dev fakeroot)" >&2; exit 2; }
done
VERSION=$("$PY" -c 'import firmware; print(firmware.__version__)')${VERSION_SUFFIX:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/alpr-unit_${VERSION}_${ARCH}"
wheels="$stage/opt/alpr-unit/wheels"
mkdir -p "$wheels"

echo "build-deb: firmware wheel"
"$PY" -m pip wheel -q --no-deps --wheel-dir "$wheels" "$REPO" 2>&1 | grep -v '^WARNING: Location' || true
ls "$wheels"/alpr_unit-*.whl >/dev/null
mapfile -t deps < <("$PY" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')
platforms=(--platform "manylinux2014_$PLAT")
for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_$PLAT"); done   # bookworm: glibc 2.36
echo "build-deb: dependency wheels for cp311 $PLAT"
"$PY" -m pip download -q --disable-pip-version-check --only-binary=:all: --python-version 3.11 --implementation cp \
  --abi cp311 --abi abi3 --abi none "${platforms[@]}" --dest "$wheels" "${deps[@]}" 2>&1 | grep -v '^WARNING: Location' || true
"$PY" - "$wheels" "$VERSION" <<'PY'
import sys
from pathlib import Path
wheels, version = Path(sys.argv[1]), sys.argv[2].split("+")[0].split("~")[0]
pins = sorted({"==".join(w.name.split("-")[:2]) for w in wheels.glob("*.whl") if not w.name.startswith("alpr_unit-")})
(wheels / "requirements.txt").write_text("alpr-unit\n" + "\n".join(pins) + "\n")
PY

install -D -m 0644 -t "$stage/lib/systemd/system" systemd/*.service systemd/*.timer
install -D -m 0644 device/chrony/chrony.service.d/alpr-gnss.conf "$stage/lib/systemd/system/chrony.service.d/alpr-gnss.conf"
install -D -m 0644 device/chrony/alpr-gnss.conf "$stage/etc/chrony/conf.d/alpr-gnss.conf"
install -D -m 0644 device/udev/99-alpr-unit.rules "$stage/lib/udev/rules.d/99-alpr-unit.rules"
install -D -m 0644 -t "$stage/usr/share/alpr-unit/config" device/config/*.toml
install -D -m 0644 device/boot/config.txt.fragment "$stage/usr/share/alpr-unit/boot/config.txt.fragment"
doc="$stage/usr/share/doc/alpr-unit"
install -D -m 0644 README.md "$doc/README.md"
install -m 0644 NOTICE "$doc/NOTICE"
{ echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: alpr-unit"
  echo; echo "Files: *"; echo "Copyright: 2026 the alpr-unit developers"; echo "License: Apache-2.0"
  echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
  echo; echo "Files: opt/alpr-unit/wheels/*"; echo "Copyright: their respective authors (see each wheel's metadata)"
  echo "License: various-free"; echo " Each wheel carries its licence in its .dist-info directory."; } > "$doc/copyright"
chmod 0644 "$doc/copyright"
printf 'alpr-unit (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- alpr-unit maintainers <alpr-unit@invalid.example>  %s\n' \
  "$VERSION" "$VERSION" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
  | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
install -D -m 0644 packaging/deb/lintian-overrides "$stage/usr/share/lintian/overrides/alpr-unit"
mkdir -p "$stage/usr/bin"
ln -s /opt/alpr-unit/venv/bin/alpr-unit "$stage/usr/bin/alpr-unit"
ln -s /opt/alpr-unit/venv/bin/alpr-unit-tech "$stage/usr/bin/alpr-unit-tech"

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size/" packaging/deb/control.in > "$stage/DEBIAN/control"
install -m 0644 packaging/deb/conffiles "$stage/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/control"
find "$stage" -type d -exec chmod 0755 {} +
mkdir -p "$OUTDIR"
out="$OUTDIR/alpr-unit_${VERSION}_${ARCH}.deb"
fakeroot dpkg-deb -Z"${DEB_COMPRESS:-xz}" --build "$stage" "$out" >/dev/null
echo "$out"
