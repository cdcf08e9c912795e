"""The unit config a rig run generates: the scenario's overrides over a base that points the unit at the
rig's pty, frames folder and broker. Written as TOML, the same file format a technician provisions,
so `alpr-unit run --config` validates it exactly as in the field.
"""

from __future__ import annotations

import json
from typing import Any


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)   # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(data: dict) -> str:
    """Top-level tables and arrays of tables; nested values inline (all a unit config needs)."""
    lines: list[str] = []
    for key, value in data.items():
        if not isinstance(value, (dict, list)) or (isinstance(value, list) and not all(isinstance(v, dict) for v in value)) \
                or value == []:
            lines.append(f"{key} = {_scalar(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {_scalar(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {_scalar(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def base_config(*, unit_id: str, data_dir: str, frames_dir: str, fps: float, gps_port: str, broker_port: int,
                pki, public_key: str, agency: str, camera_kind: str = "folder", camera_uri: str | None = None) -> dict:
    return {
        "unit": {"id": unit_id, "data_dir": data_dir, "min_free_mb": 1},
        "cameras": [{"id": "front", "kind": camera_kind, "uri": camera_uri or frames_dir, "fps": fps,
                     "queue_size": 64, "stall_timeout_s": 3.0, "reopen_backoff_max_s": 1.0}],
        "gps": {"source": "serial", "port": gps_port, "baud": 9600, "silence_timeout_s": 3.0},
        "alerts": {"sinks": ["log", "recording"]},
        "sync": {"host": "127.0.0.1", "port": broker_port, "tls": True, "ca_file": str(pki.ca),
                 "cert_file": str(pki.client_cert), "key_file": str(pki.client_key), "agency": agency,
                 "reconnect_min_s": 0.2, "reconnect_max_s": 2.0, "health_interval_s": 2.0,
                 "downlink_public_key": public_key},
        "logging": {"level": "INFO", "format": "json"},
    }
