"""A small TOML writer for the unit config (tables, arrays of tables, scalars, lists of scalars).

The standard library reads TOML but cannot write it, and the config needs nothing more than this.
"""

from __future__ import annotations

import json
from datetime import date, datetime


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)          # a JSON string is a valid TOML basic string
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps(data: dict) -> str:
    out: list[str] = []
    plain = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_array(v)}
    out += [f"{k} = {_value(v)}" for k, v in plain.items()]
    for key, value in data.items():
        if isinstance(value, dict):
            _table(out, [key], value)
        elif _is_table_array(value):
            for item in value:
                out += ["", f"[[{key}]]"] + [f"{k} = {_value(v)}" for k, v in item.items()]
    return "\n".join(out).lstrip("\n") + "\n"


def _table(out: list[str], path: list[str], table: dict) -> None:
    out += ["", f"[{'.'.join(path)}]"]
    out += [f"{k} = {_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for key, value in table.items():
        if isinstance(value, dict):
            _table(out, path + [key], value)


def _is_table_array(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
