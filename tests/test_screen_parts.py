"""The screen's plain parts without a browser: the malfunction rules, sessions, the live-update hub and
the [screen] config section."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from firmware.config import ConfigError, parse_config
from firmware.malfunctions import malfunctions
from firmware.screen.hub import Hub
from firmware.screen.sessions import KEY_FILE, Sessions

HEALTHY = {
    "cameras": [{"camera": "front", "stalled": False, "fps": 9.8}],
    "gps": {"connected": True, "fix_age_s": 0.4},
    "hotlists": {"lists": [{"name": "stolen", "age_s": 3600, "stale": False}]},
    "disk_free_mb": 5000,
    "alerts": {"outputs": [{"sink": "gpio", "ok": True, "problem": None}]},
    "roster": {"present": True},
}


def with_(**changes) -> dict:
    health = {k: (dict(v) if isinstance(v, dict) else v) for k, v in HEALTHY.items()}
    health.update(changes)
    return health


def test_a_healthy_unit_has_no_malfunction():
    assert malfunctions(HEALTHY, min_free_mb=512) == []


@pytest.mark.parametrize("changes, source, words, severity", [
    ({"cameras": [{"camera": "rear", "stalled": True}]}, "camera:rear", "Camera rear stalled", "critical"),
    ({"gps": {"connected": False, "fix_age_s": None}}, "gps", "not connected", "warning"),
    ({"gps": {"connected": True, "fix_age_s": None}}, "gps", "No GPS fix", "warning"),
    ({"gps": {"connected": True, "fix_age_s": 42.0}}, "gps", "No GPS fix for 42 s", "warning"),
    ({"hotlists": {"lists": [{"name": "stolen", "age_s": 30 * 3600, "stale": False}]}}, "hotlist:stolen",
     "Hotlist stolen stale: 30 h old", "warning"),
    ({"hotlists": {"lists": [{"name": "bolo", "age_s": 60, "stale": True}]}}, "hotlist:bolo", "stale", "warning"),
    ({"disk_free_mb": 100}, "disk", "Disk low: 100 MB free", "critical"),
    ({"alerts": {"outputs": [{"sink": "gpio", "ok": False, "problem": "no buzzer on pin 17"}]}}, "alert:gpio",
     "Alert output gpio failed: no buzzer on pin 17", "critical"),
    ({"roster": {"present": False}}, "roster", "No user roster", "warning"),
    ({"out_of_service": True}, "unit", "Unit out of service", "critical"),
    ({"service": {"in_service": False, "reason": "storage failing"}}, "unit", "out of service: storage failing",
     "critical"),
])
def test_each_malfunction_is_named(changes, source, words, severity):
    found = malfunctions(with_(**changes), min_free_mb=512)
    assert [(m["source"], m["severity"]) for m in found] == [(source, severity)]
    assert words in found[0]["message"]


def test_critical_malfunctions_come_first():
    found = malfunctions(with_(gps={"connected": False}, disk_free_mb=1), min_free_mb=512)
    assert [m["severity"] for m in found] == ["critical", "warning"]


def test_a_missing_section_is_not_a_malfunction_by_itself():
    assert malfunctions({}) == []


def test_sessions_sign_expire_and_revoke(tmp_path):
    s = Sessions(tmp_path, idle_s=60, max_s=3600)
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE).st_mode) == 0o600
    session, token = s.new("ofc.ray", ("officer",), now=1000.0)
    assert s.check(token, 1030.0)[0] == session
    assert s.check(token, 1061.0) == (None, "expired")                 # idle
    touched = s.touch(session, 1050.0)
    assert s.check(touched, 1100.0)[0].user == "ofc.ray"
    assert s.check(touched, 4601.0) == (None, "expired")               # the shift limit
    assert s.expired(touched, 4601.0).user == "ofc.ray" and s.expired(touched, 1100.0) is None
    body, _, mac = token.partition(".")
    assert s.check(body + "." + mac[:-2] + "AA", 1001.0) == (None, "forged")
    assert s.check(None, 1001.0) == (None, "missing")
    # a restart reads the same key: the session survives; a logout does not, even across a restart
    again = Sessions(tmp_path, idle_s=60, max_s=3600)
    assert again.check(token, 1030.0)[0] == session
    again.revoke(session, 1031.0)
    assert again.check(token, 1032.0) == (None, "ended")
    assert Sessions(tmp_path, idle_s=60, max_s=3600).check(token, 1032.0) == (None, "ended")


def test_hub_drops_the_oldest_for_a_slow_browser_and_never_blocks():
    async def scenario():
        hub = Hub(queue_size=4)
        slow = hub.subscribe("a")
        for i in range(10):
            hub.publish("read", {"n": i})      # nobody reads: the publisher still returns at once
        assert [d["n"] for _, d in hub.take(slow)] == [6, 7, 8, 9]
        assert slow.dropped == 6 and hub.status()["dropped"] == 6
        await asyncio.wait_for(slow.wake.wait(), 1)
        hub.unsubscribe(slow)
        hub.publish("read", {"n": 11})
        assert hub.status()["clients"] == 0

    asyncio.run(scenario())


def test_screen_section_is_optional_and_checked():
    assert parse_config("").screen is None
    cfg = parse_config('[screen]\nlisten = "127.0.0.1:8080"\nsession_idle_s = 300\n')
    assert cfg.screen.port == 8080 and cfg.screen.session_idle_s == 300
    with pytest.raises(ConfigError) as err:
        parse_config('[screen]\nlisten = "8080"\n', "unit.toml")
    assert "unit.toml:2: screen.listen" in str(err.value)
    with pytest.raises(ConfigError):
        parse_config('[screen]\ncolour = "red"\n')


def test_the_screen_sink_reports_a_dead_server():
    from firmware.screen.hub import ScreenSink

    alive = {"ok": True}
    sink = ScreenSink(Hub(), serving=lambda: alive["ok"])
    assert sink.check() is None
    alive["ok"] = False
    assert "not running" in sink.check()
