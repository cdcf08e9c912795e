#!/usr/bin/env bash
# Prepare a fresh Debian/Raspberry Pi OS machine to run and test alpr-unit from a checkout:
# system packages (when root), a virtualenv in .venv and the package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
[ -d /usr/share/fonts/truetype/dejavu ] || need_apt+=(fonts-dejavu-core)
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)   # clock-jump tests against the real daemon
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)   # the screen's Playwright tests drive it
"$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
# packaging and image tests (tests/test_deb.py, tests/test_tech_flash.py, tests/test_systemd_units.py)
for tool in fakeroot:fakeroot lintian:lintian mcopy:mtools mkfs.vfat:dosfstools sfdisk:fdisk \
            debugfs:e2fsprogs xz:xz-utils systemd-analyze:systemd apt-ftparchive:apt-utils gpg:gnupg; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${tool%%:*}" ] || [ -x "/sbin/${tool%%:*}" ] || need_apt+=("${tool#*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: apt-get install ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # mosquitto's package starts a system broker; the tests run their own on free ports.
    (systemctl disable --now mosquitto >/dev/null 2>&1 || service mosquitto stop >/dev/null 2>&1 || true)
  else
    echo "bootstrap: missing system packages: ${need_apt[*]} (run as root or install them)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test]"
echo "bootstrap: ready ($("$VENV/bin/python" --version), $("$VENV/bin/alpr-unit" --version))"
