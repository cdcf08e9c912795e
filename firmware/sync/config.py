"""MQTT uplink/downlink settings. An empty host means: keep everything local in the outbox."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from firmware.configbase import Section


class SyncConfig(Section):
    host: str = Field("", description="MQTT broker host; empty disables sync (records wait in the outbox)")
    port: int = Field(8883, ge=1, le=65535, description="MQTT broker port")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version")
    agency: str = Field("agency", min_length=1, max_length=64, description="Agency id used in topic names")
    tls: bool = Field(True, description="Use TLS to the broker")
    ca_file: Path | None = Field(None, description="CA bundle that signs the broker certificate")
    cert_file: Path | None = Field(None, description="Client certificate for mutual TLS")
    key_file: Path | None = Field(None, description="Client private key for mutual TLS")
    username: str | None = Field(None, description="Username when not using client certificates")
    password: str | None = Field(None, description="Password when not using client certificates")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive")
    inflight: int = Field(64, ge=1, le=1024, description="Unacknowledged messages in flight at once")
    health_interval_s: float = Field(60.0, ge=1, le=3600, description="Seconds between health reports")
    daily_byte_budget: int | None = Field(None, ge=0, description="Upload byte cap per UTC day; none = unlimited")
    downlink_public_key: str | None = Field(
        None, description="Agency Ed25519 public key (hex or PEM path) that signs downlink messages"
    )
