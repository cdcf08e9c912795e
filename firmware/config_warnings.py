"""Settings that validate but should not be shipped: plaintext credentials and unit ids that are
words of the MQTT topic tree. `config validate` prints them (and `--strict` refuses the file); the
daemon logs them at start. Pure: a config in, problems out.
"""

from __future__ import annotations

from firmware.config import ConfigProblem, UnitConfig, key_lines

# Topic levels the unit's own id would collide with (firmware/sync/messages.py): alpr/v1/<agency>/<unit>/...
# beside alpr/v1/<agency>/down/<unit|all>/...; wildcards and $-topics mean something to every broker.
RESERVED_UNIT_IDS = frozenset({"down", "up", "all", "+", "#", ".", "..", "alpr", "v1"})


def config_warnings(config: UnitConfig, text: str = "", path: str = "<config>") -> list[ConfigProblem]:
    lines = key_lines(text) if text else {}
    found = []
    sync = config.sync
    if sync.host and not sync.tls and sync.password:
        found.append(ConfigProblem(path, lines.get(("sync", "tls")) or lines.get(("sync", "password")),
                                   "sync.tls", "tls = false with a password: the password and every record "
                                   "cross the network in plaintext"))
    unit_id = config.unit.id
    if unit_id.lower() in RESERVED_UNIT_IDS or unit_id.startswith("$"):
        found.append(ConfigProblem(path, lines.get(("unit", "id")), "unit.id",
                                   f"{unit_id!r} is a word of the MQTT topic tree (reserved: "
                                   f"{', '.join(sorted(RESERVED_UNIT_IDS))}): its messages would be "
                                   "mistaken for another unit's or the downlink's"))
    return found
