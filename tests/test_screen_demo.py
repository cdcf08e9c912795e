"""`alpr-unit demo --screen`: the demo provisions its roster, serves the screen, prints the address and
the logins, and keeps the screen up until Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

from conftest import alpr_unit_cmd


def test_demo_screen_serves_the_printed_address_with_the_printed_login(tmp_path):
    proc = subprocess.Popen([*alpr_unit_cmd(), "demo", "--screen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not line.startswith("screen:"):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()[-2000:]
        address = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        user, pin = re.search(r"logins: (\S+) PIN (\d+)", line).groups()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        form = urllib.parse.urlencode({"user": user, "pin": pin}).encode()
        with opener.open(address + "login", data=form, timeout=30) as resp:    # follows the redirect to /
            assert resp.status == 200 and "data-boot" in resp.read().decode()
        with opener.open(address + "api/state", timeout=30) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        assert "summary:" in out
    finally:
        if proc.poll() is None:
            proc.kill()
