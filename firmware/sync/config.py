"""MQTT uplink/downlink settings. An empty host means: keep everything local in the outbox."""

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from firmware.configbase import Section


class SyncConfig(Section):
    host: str = Field("", max_length=253, description="MQTT broker host; empty disables sync (records wait in the outbox)")
    port: int = Field(8883, ge=1, le=65535, description="MQTT broker port")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version")
    agency: str = Field("agency", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
                        description="Agency id used in topic names")
    client_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$",
                                  description="MQTT client id; default alpr-<unit id> (must be stable: the session is persistent)")
    tls: bool = Field(True, description="Use TLS to the broker")
    ca_file: Path | None = Field(None, description="CA bundle that signs the broker certificate (none: system CAs)")
    cert_file: Path | None = Field(None, description="Client certificate for mutual TLS")
    key_file: Path | None = Field(None, description="Client private key for mutual TLS")
    username: str | None = Field(None, max_length=256, description="Username when not using client certificates")
    password: str | None = Field(None, max_length=1024, description="Password when not using client certificates")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive")
    session_expiry_s: int = Field(7 * 86400, ge=0, le=2**32 - 1,
                                  description="MQTT 5 session expiry: how long the broker keeps our downlink queue while offline")
    reconnect_min_s: float = Field(1.0, ge=0.05, le=600, description="First reconnect delay (full jitter below it)")
    reconnect_max_s: float = Field(60.0, ge=0.1, le=3600, description="Longest reconnect delay (exponential backoff cap)")
    connect_timeout_s: float = Field(15.0, ge=1, le=300, description="TCP/TLS connect timeout")
    inflight: int = Field(64, ge=1, le=1024,
                          description="Unacknowledged messages in flight at once (also capped by the broker's receive maximum)")
    resend_after_s: float = Field(120.0, ge=5, le=3600,
                                  description="A message with no PUBACK after this long while connected is published again")
    max_payload_bytes: int = Field(4 * 1024 * 1024, ge=4096, le=256 * 1024 * 1024,
                                   description="Largest message sent; larger records are skipped and logged as data loss")
    message_properties: bool = Field(
        False, description="MQTT 5: also send the id and kind as user properties and a content type on every"
                           " message (for broker rule engines; costs about 0.1 ms of CPU per message)")
    health_interval_s: float = Field(60.0, ge=1, le=3600, description="Seconds between health reports")
    daily_byte_budget: int | None = Field(None, ge=0, le=10**13,
                                          description="Upload byte cap per UTC day; none = unlimited")
    budget_exempt: list[Literal["hit", "audit", "disposition", "event", "read", "image"]] = Field(
        default_factory=lambda: ["hit", "audit", "disposition", "event"],
        description="Kinds still sent after the daily byte budget is spent",
    )
    downlink: bool = Field(True, description="Subscribe to signed downlink messages (hotlists, roster, holds, config)")
    downlink_public_key: str | None = Field(
        None, max_length=4096,
        description="Agency Ed25519 public key (64 hex chars, or a path to a PEM file) that signs downlink messages;"
                    " none = every downlink message is rejected",
    )
    downlink_max_age_s: int = Field(30 * 86400, ge=60, le=10 * 365 * 86400,
                                    description="Signed downlink messages issued longer ago than this are rejected")
    downlink_max_bytes: int = Field(64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024,
                                    description="Largest hotlist accepted over the downlink (sum of its chunks)")
    downlink_buffer_bytes: int = Field(
        128 * 1024 * 1024, ge=1024, le=2 * 1024 * 1024 * 1024,
        description="Memory promised at once to hotlist transfers whose signed manifest arrived (each reserves its"
                    " declared size; one that does not fit is refused and audited); the receive queue is bounded"
                    " by the same number of bytes. At least downlink_max_bytes")
    downlink_max_message_bytes: int = Field(
        5 * 1024 * 1024, ge=4096, le=256 * 1024 * 1024,
        description="Largest single downlink message (a hotlist chunk, an envelope): a larger one is refused"
                    " unread and audited; with MQTT 5 the broker is also told not to send anything larger")
    downlink_transfer_timeout_s: int = Field(
        3600, ge=60, le=7 * 86400,
        description="A hotlist transfer with no new chunk for this long is dropped (audited; its memory freed)")

    @field_validator("downlink_public_key")
    @classmethod
    def _key_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if re.fullmatch(r"[0-9a-fA-F]{64}", text) or text.startswith("/"):
            return text
        raise ValueError("must be 64 hex characters (raw Ed25519 public key) or an absolute path to a PEM file")

    @model_validator(mode="after")
    def _consistent(self) -> "SyncConfig":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("sync.cert_file and sync.key_file go together")
        if self.password is not None and self.username is None:
            raise ValueError("sync.password needs sync.username")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("sync.reconnect_max_s must be >= sync.reconnect_min_s")
        if self.downlink_buffer_bytes < self.downlink_max_bytes:
            raise ValueError("sync.downlink_buffer_bytes must be >= sync.downlink_max_bytes (the largest list must fit)")
        return self
