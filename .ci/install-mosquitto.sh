#!/usr/bin/env bash
# Install the mosquitto broker the sync tests start (each test runs its own private instance on a
# free loopback port; the system service is never used and is stopped/disabled if the package starts it).
# Idempotent: does nothing when a mosquitto binary is already present. Called by .ci/run.
set -euo pipefail
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto
elif command -v dnf >/dev/null 2>&1; then
  $SUDO dnf install -y mosquitto
elif command -v apk >/dev/null 2>&1; then
  $SUDO apk add --no-cache mosquitto
elif command -v brew >/dev/null 2>&1; then
  brew install mosquitto
else
  echo "install-mosquitto: no known package manager; install mosquitto >= 2.0 by hand" >&2
  exit 1
fi
# the tests never use the system broker; do not leave one listening on 1883
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  $SUDO systemctl disable --now mosquitto || true
fi
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]
