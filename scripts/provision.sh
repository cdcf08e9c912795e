#!/usr/bin/env bash
# Provision a Raspberry Pi OS (bookworm) unit from this checkout: service user, virtualenv, config,
# udev names, chrony, systemd unit; then a selftest. Run as root on the unit:
#
#   sudo scripts/provision.sh --config my-unit.toml [--root /] [--no-venv] [--no-start]
#
# --root DIR installs into DIR instead of / (image building, tests); users, systemctl and udevadm are
# only touched when DIR is /. The config is validated before anything is written.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
ROOT=/
CONFIG=""
VENV=1
START=1
while [ $# -gt 0 ]; do
  case "$1" in
    --config) CONFIG=$2; shift 2 ;;
    --root) ROOT=$2; shift 2 ;;
    --no-venv) VENV=0; shift ;;
    --no-start) START=0; shift ;;
    *) echo "provision: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$CONFIG" ] || { echo "provision: --config FILE is required" >&2; exit 2; }
PY=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PY" ] || PY=python3

echo "provision: validating $CONFIG"
"$PY" -m firmware config validate "$CONFIG"

live=0
[ "$(realpath "$ROOT")" = "/" ] && live=1
dest() { echo "${ROOT%/}$1"; }

install -d -m 0755 "$(dest /etc/alpr-unit)" "$(dest /etc/udev/rules.d)" "$(dest /etc/systemd/system)" \
  "$(dest /etc/chrony/conf.d)" "$(dest /etc/systemd/system/chrony.service.d)" "$(dest /opt/alpr-unit)"
install -m 0640 "$CONFIG" "$(dest /etc/alpr-unit/unit.toml)"
install -m 0644 device/udev/99-alpr-unit.rules "$(dest /etc/udev/rules.d/99-alpr-unit.rules)"
install -m 0644 systemd/alpr-unit.service "$(dest /etc/systemd/system/alpr-unit.service)"
install -m 0644 systemd/alpr-unit-audit-verify.service systemd/alpr-unit-audit-verify.timer \
  systemd/alpr-unit-kiosk.service "$(dest /etc/systemd/system/)"
# The unit runs with a private /dev and no extra groups: this drop-in names the device nodes and the
# groups (only those that exist) that this config needs (firmware/tech/units.py).
PYTHONPATH="$REPO" "$PY" -m firmware.tech units --root "$ROOT"
install -m 0644 device/chrony/alpr-gnss.conf "$(dest /etc/chrony/conf.d/alpr-gnss.conf)"
install -m 0644 device/chrony/chrony.service.d/alpr-gnss.conf "$(dest /etc/systemd/system/chrony.service.d/alpr-gnss.conf)"
echo "provision: files installed under $ROOT"

if [ "$VENV" = 1 ]; then
  python3 -m venv "$(dest /opt/alpr-unit/venv)"
  "$(dest /opt/alpr-unit/venv)/bin/pip" install -q --upgrade pip
  extras=""
  [ -e /proc/device-tree/model ] && grep -qi raspberry /proc/device-tree/model && extras="[pi]"
  "$(dest /opt/alpr-unit/venv)/bin/pip" install -q "$REPO$extras"
  echo "provision: firmware $("$(dest /opt/alpr-unit/venv)/bin/alpr-unit" --version) installed"
fi

if [ "$live" = 1 ]; then
  id alpr >/dev/null 2>&1 || useradd --system --home /var/lib/alpr-unit --shell /usr/sbin/nologin alpr
  for group in video dialout gpio audio; do
    getent group "$group" >/dev/null && usermod -aG "$group" alpr
  done
  chgrp alpr /etc/alpr-unit/unit.toml
  udevadm control --reload && udevadm trigger
  systemctl daemon-reload
  systemctl restart chrony || true
  if [ "$START" = 1 ]; then
    systemctl enable --now alpr-unit alpr-unit-audit-verify.timer
    sleep 5
    sudo -u alpr /opt/alpr-unit/venv/bin/alpr-unit selftest --config /etc/alpr-unit/unit.toml || {
      echo "provision: selftest failed - see above; the unit is NOT ready for patrol" >&2; exit 1; }
  fi
fi
echo "provision: done"
