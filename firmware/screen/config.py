"""The in-car screen's settings: the `[screen]` section. Absent means no screen (a unit without a display)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from firmware.configbase import Section


class ScreenConfig(Section):
    listen: str = Field("127.0.0.1:8080", description="host:port the screen's web server binds (loopback: the "
                        "kiosk browser runs on the unit itself; port 0 picks a free one)")
    session_idle_s: int = Field(900, ge=30, le=86_400, description="A session with no touch for this long ends; "
                                "the officer logs in again")
    session_max_s: int = Field(43_200, ge=60, le=7 * 86_400, description="A session ends this long after login "
                               "whatever the activity (one shift)")
    theme: Literal["day", "night"] = Field("day", description="Theme the screen starts in; the officer can switch")
    recent_reads: int = Field(12, ge=1, le=200, description="Reads shown on the live view")
    client_queue: int = Field(256, ge=8, le=10_000, description="Updates buffered per browser before the oldest "
                              "are dropped (counted): a slow browser never holds capture up")
    keepalive_s: float = Field(10.0, gt=0, le=120, description="Seconds between keep-alive comments on the live "
                               "stream (the page reconnects when they stop)")
    search_limit: int = Field(200, ge=1, le=10_000, description="Most reads one search on the screen returns")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("listen must be host:port, e.g. 127.0.0.1:8080")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])
