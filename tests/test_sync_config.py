"""The [sync] section: mistakes a technician can make are caught with the file, line and key."""

import pytest

from firmware.config import ConfigError, parse_config


def test_defaults_keep_everything_local():
    cfg = parse_config("")
    assert cfg.sync.host == "" and cfg.sync.protocol == "5" and cfg.sync.tls is True
    assert cfg.sync.budget_exempt == ["hit", "audit", "disposition", "event"]


@pytest.mark.parametrize("text,key", [
    ('[sync]\ncert_file = "/etc/alpr/unit.crt"\n', "sync"),
    ('[sync]\npassword = "x"\n', "sync"),
    ('[sync]\nreconnect_min_s = 10\nreconnect_max_s = 1\n', "sync"),
    ('[sync]\ndownlink_public_key = "not-a-key"\n', "sync.downlink_public_key"),
    ('[sync]\ninflight = 0\n', "sync.inflight"),
    ('[sync]\nprotocol = "4"\n', "sync.protocol"),
    ('[sync]\nbudget_exempt = ["health"]\n', "sync.budget_exempt.0"),
    ('[sync]\nagency = "a/b"\n', "sync.agency"),
    ('[sync]\nhots = "x"\n', "sync.hots"),
])
def test_mistakes_are_reported_with_their_line(text, key):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "unit.toml")
    problem = info.value.problems[0]
    assert problem.key == key and problem.line in (1, 2, 3)


def test_a_valid_sync_section():
    cfg = parse_config('[sync]\nhost = "mqtt.agency.example"\nport = 8883\nprotocol = "3.1.1"\n'
                       'downlink_public_key = "' + "ab" * 32 + '"\ndaily_byte_budget = 50000000\n')
    assert cfg.sync.protocol == "3.1.1" and cfg.sync.daily_byte_budget == 50_000_000
    assert parse_config('[sync]\ndownlink_public_key = "/etc/alpr-unit/agency.pub"\n').sync.downlink_public_key \
        == "/etc/alpr-unit/agency.pub"
