"""A real chronyd takes our SOCK refclock samples and reads their sign the right way round.

Runs chronyd with -x (never touches the system clock) on private sockets; skipped where chronyd
is not installed or the test is not root (chronyd insists). Also checks the shipped config parses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from firmware.gnss.timesync import ChronySock

CHRONYD = shutil.which("chronyd") or ("/usr/sbin/chronyd" if Path("/usr/sbin/chronyd").exists() else None)
CHRONYC = shutil.which("chronyc")
CONF = Path(__file__).resolve().parents[1] / "device" / "chrony" / "alpr-gnss.conf"

pytestmark = pytest.mark.skipif(CHRONYD is None or CHRONYC is None, reason="chrony not installed")


def test_shipped_chrony_config_parses():
    out = subprocess.run([CHRONYD, "-p", "-f", str(CONF)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "refclock SOCK /run/chrony.alpr-gnss.sock" in out.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="chronyd runs as root")
def test_chronyd_follows_gps_samples_sent_by_the_firmware(tmp_path):
    run = tmp_path / "chrony"
    run.mkdir(mode=0o700)
    conf = run / "test.conf"
    conf.write_text(
        f"refclock SOCK {run}/alpr.sock refid NMEA delay 0.2 poll 0 precision 1e-1\n"
        f"bindcmdaddress {run}/cmd.sock\ncmdport 0\nport 0\npidfile {run}/chronyd.pid\n"
    )
    proc = subprocess.Popen([CHRONYD, "-d", "-x", "-u", "root", "-f", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(100):
            if (run / "alpr.sock").exists():
                break
            time.sleep(0.05)
        sock = ChronySock(run / "alpr.sock")
        tracking = ""
        for _ in range(480):  # GPS says the system clock is 0.25 s behind (ends as soon as chrony says so)
            assert sock.send(time.time(), 0.25)
            time.sleep(0.25)
            tracking = subprocess.run([CHRONYC, "-h", str(run / "cmd.sock"), "-n", "tracking"],
                                      capture_output=True, text=True, timeout=10).stdout
            if "(NMEA)" in tracking and "seconds slow" in tracking:
                break
        sock.close()
        assert "(NMEA)" in tracking, tracking
        line = next(l for l in tracking.splitlines() if l.startswith("System time"))
        assert "slow of NTP time" in line and abs(float(line.split(":")[1].split()[0]) - 0.25) < 0.01
    finally:
        proc.terminate()
        proc.wait(timeout=10)
