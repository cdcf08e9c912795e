"""Topic names and payload framing of the uplink, and the small pure rules the sender follows.

Kept free of sockets and SQLite so the wire format (documented in docs/mqtt.md) can be tested
exhaustively and read in one place: receivers de-duplicate on the `id` every message carries.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

TOPIC_ROOT = "alpr/v1"
SCHEMA = 1
UPLINK_KINDS = ("read", "hit", "disposition", "audit", "health", "event", "image", "status", "report")
DOWNLINK_KINDS = ("hotlist", "roster", "hold", "config", "audit_checkpoint")
IMAGE_MAGIC = b"ALPRIMG1"


def uplink_topic(agency: str, unit: str, kind: str) -> str:
    if kind not in UPLINK_KINDS:
        raise ValueError(f"unknown uplink kind {kind!r}")
    return f"{TOPIC_ROOT}/{agency}/{unit}/{kind}"


def downlink_filters(agency: str, unit: str) -> list[str]:
    """What a unit subscribes to: fleet-wide and unit-addressed downlink messages."""
    return [f"{TOPIC_ROOT}/{agency}/down/all/#", f"{TOPIC_ROOT}/{agency}/down/{unit}/#"]


def downlink_topic(agency: str, target: str, kind: str, *rest: str) -> str:
    if kind not in DOWNLINK_KINDS:
        raise ValueError(f"unknown downlink kind {kind!r}")
    return "/".join((TOPIC_ROOT, agency, "down", target, kind, *rest))


@dataclass(frozen=True)
class DownlinkTopic:
    target: str          # "all" or a unit id
    kind: str            # hotlist | roster | hold | config
    rest: tuple[str, ...]


def parse_downlink_topic(topic: str, agency: str) -> DownlinkTopic | None:
    parts = topic.split("/")
    if len(parts) < 6 or "/".join(parts[:2]) != TOPIC_ROOT or parts[2] != agency or parts[3] != "down":
        return None
    if parts[5] not in DOWNLINK_KINDS:
        return None
    return DownlinkTopic(parts[4], parts[5], tuple(parts[6:]))


def encode_image(record_id: str, read_id: str, role: str, jpeg: bytes, unit: str) -> bytes:
    """An image message: magic, 4-byte big-endian header length, JSON header, then the JPEG bytes."""
    header = json.dumps({"schema": SCHEMA, "id": record_id, "read_id": read_id, "role": role, "unit": unit,
                         "content_type": "image/jpeg", "size": len(jpeg)}, separators=(",", ":")).encode()
    return IMAGE_MAGIC + len(header).to_bytes(4, "big") + header + jpeg


def decode_image(payload: bytes) -> tuple[dict, bytes]:
    """Receivers' side (and tests): split an image message into its header and JPEG bytes."""
    if not payload.startswith(IMAGE_MAGIC) or len(payload) < len(IMAGE_MAGIC) + 4:
        raise ValueError("not an image message")
    start = len(IMAGE_MAGIC) + 4
    size = int.from_bytes(payload[len(IMAGE_MAGIC):start], "big")
    if start + size > len(payload):
        raise ValueError("truncated image header")
    header = json.loads(payload[start:start + size])
    body = payload[start + size:]
    if header.get("size") != len(body):
        raise ValueError("truncated image body")
    return header, body


def message_id(payload: bytes, kind: str) -> str:
    """The de-duplication key of any uplink message (receivers' side and tests)."""
    if kind == "image":
        return decode_image(payload)[0]["id"]
    return json.loads(payload)["id"]


def backoff_delay(attempt: int, low: float, high: float, rng: random.Random | None = None) -> float:
    """Reconnect delay: exponential in `attempt` (1, 2, ...) capped at `high`, with full jitter above `low`/2.

    Jitter spreads a fleet's reconnections after a broker restart instead of stampeding it.
    """
    rng = rng or random
    ceiling = min(high, low * (2 ** max(0, min(attempt - 1, 30))))
    return rng.uniform(low / 2, max(low / 2, ceiling))


def budget_allows(kind: str, used_today: int, budget: int | None, exempt: tuple[str, ...] | list[str]) -> bool:
    """Whether a record of `kind` may be sent with `used_today` bytes already spent today."""
    if budget is None or kind in exempt:
        return True
    return used_today < budget


def sendable_kinds(used_today: int, budget: int | None, exempt) -> tuple[str, ...] | None:
    """Kinds the sender may fetch now (None: all)."""
    if budget is None or used_today < budget:
        return None
    return tuple(exempt)
