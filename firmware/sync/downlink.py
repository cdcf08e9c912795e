"""Signed downlink messages: verification is pure and runs before anything is parsed for meaning.

What comes from the broker decides who gets stopped, so a message is trusted only when the agency's
Ed25519 key signed it, it names this agency and this unit (or the fleet), it is newer than the last
one accepted on its stream (no replay), and its content passes the same validation as local input.
The envelope carries the signed bytes verbatim (base64), so no JSON canonicalisation is needed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from firmware.clock import iso_utc, parse_iso_utc
from firmware.sync.messages import DownlinkTopic

SCHEMA = 1
MAX_ENVELOPE_BYTES = 1024 * 1024
_HEX64 = r"^[0-9a-f]{64}$"


class Rejected(Exception):
    """A downlink message that must not be applied; `reason` is a short machine-readable word."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HotlistManifest(_Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9._-]{1,64}$")
    format: str | None = Field(None, max_length=512)
    mode: Literal["replace", "add", "remove"] = "replace"
    list_source: Literal["ncic", "agency"] = "agency"
    category: str | None = Field(None, max_length=64)
    priority: int = Field(50, ge=0, le=100)
    alert: Literal["audible", "visual", "silent"] = "audible"
    size: int = Field(..., ge=0)
    sha256: str = Field(..., pattern=_HEX64)
    chunk_size: int = Field(..., ge=1, le=4 * 1024 * 1024)
    chunks: list[str] = Field(..., min_length=1, max_length=100_000)


class RosterUser(_Strict):
    id: str = Field(..., pattern=r"^[A-Za-z0-9._@-]{1,64}$")
    name: str = Field(..., min_length=1, max_length=128)
    # "admin" is the pre-access-rule spelling of "administrator" (firmware.roster.ROLE_ALIASES)
    roles: list[Literal["officer", "supervisor", "administrator", "admin", "auditor", "technician"]] = Field(
        default_factory=list)
    credential: str | None = Field(None, max_length=512, pattern=r"^\$[A-Za-z0-9]+\$")  # a hash, never a secret
    active: bool = True
    trained_on: date | None = None     # last ALPR training; none recorded: the user is refused data access
    recert_days: int | None = Field(None, ge=1, le=3650)  # training lapses after this; default: the roster's


class Roster(_Strict):
    users: list[RosterUser] = Field(..., max_length=10_000)
    recert_days: int | None = Field(None, ge=1, le=3650)  # the agency's recertification period for every user


class HoldCommand(_Strict):
    action: Literal["add", "renew", "release"]
    hold: dict | None = None
    id: str | None = Field(None, max_length=64)
    statement_ref: str | None = Field(None, max_length=256)
    reason: str | None = Field(None, max_length=512)


class ConfigChange(_Strict):
    overlay: dict = Field(..., description="nested sections/keys to set")


class AuditCheckpoint(_Strict):
    """The agency holds this unit's audit log through entry `through_seq`, whose hash is `head_hash`."""

    through_seq: int = Field(..., ge=1)
    head_hash: str = Field(..., pattern=_HEX64)


DATA_MODELS: dict[str, type[BaseModel]] = {"hotlist": HotlistManifest, "roster": Roster, "hold": HoldCommand,
                                           "config": ConfigChange, "audit_checkpoint": AuditCheckpoint}


@dataclass(frozen=True)
class Verified:
    kind: str
    stream: str
    seq: int
    issued_at: datetime
    target: str
    digest: str
    data: Any
    duplicate: bool = False       # the same message as the last accepted one (a retained copy): nothing to do
    extra: dict = field(default_factory=dict)


def load_public_key(value: str | None) -> Ed25519PublicKey | None:
    """64 hex characters (raw key) or a path to a PEM public key."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    key = serialization.load_pem_public_key(Path(text).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("downlink_public_key is not an Ed25519 key")
    return key


def stream_of(kind: str, data: Any) -> str:
    return f"hotlist:{data.name}" if kind == "hotlist" else kind


def verify(raw: bytes, key: Ed25519PublicKey | None, *, topic: DownlinkTopic, agency: str, unit_id: str,
           now: datetime, max_age_s: int, last: Callable[[str], tuple[int, str] | None]) -> Verified:
    """Check one downlink message; returns what it says or raises Rejected. Never applies anything."""
    if key is None:
        raise Rejected("no_key", "no downlink_public_key configured: nothing from the broker is trusted")
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise Rejected("too_large", f"{len(raw)} bytes")
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected("malformed", f"envelope is not JSON: {exc}") from None
    if not isinstance(envelope, dict) or set(envelope) - {"schema", "body", "sig", "key_id"}:
        raise Rejected("malformed", "envelope must be an object with schema, body, sig")
    if "sig" not in envelope or not envelope.get("sig"):
        raise Rejected("unsigned")
    if envelope.get("schema") != SCHEMA or not isinstance(envelope.get("body"), str):
        raise Rejected("malformed", "unsupported schema or missing body")
    try:
        body = base64.b64decode(envelope["body"], validate=True)
        sig = base64.b64decode(str(envelope["sig"]), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("malformed", "body or sig is not base64") from None
    try:
        key.verify(sig, body)
    except InvalidSignature:
        raise Rejected("bad_signature") from None
    # signed by the agency from here on; still checked as strictly as local input
    try:
        signed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Rejected("malformed", "signed body is not JSON") from None
    if not isinstance(signed, dict) or signed.get("schema") != SCHEMA:
        raise Rejected("malformed", "signed body has no schema 1")
    kind, target = signed.get("kind"), signed.get("target")
    if kind != topic.kind or kind not in DATA_MODELS:
        raise Rejected("wrong_topic", f"signed kind {kind!r} published on a {topic.kind} topic")
    if signed.get("agency") != agency:
        raise Rejected("wrong_agency", str(signed.get("agency")))
    if target != topic.target or target not in ("all", unit_id):
        raise Rejected("wrong_target", f"signed for {target!r}, topic for {topic.target!r}")
    seq = signed.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise Rejected("malformed", "seq must be a non-negative integer")
    try:
        issued = parse_iso_utc(str(signed["issued_at"]))
    except (KeyError, ValueError):
        raise Rejected("malformed", "issued_at missing or not ISO-8601") from None
    if now - issued > timedelta(seconds=max_age_s):
        raise Rejected("expired", f"issued {iso_utc(issued)}")
    try:
        data = DATA_MODELS[kind].model_validate(signed.get("data"))
    except ValidationError as exc:
        raise Rejected("invalid", _short(exc)) from None
    if kind == "hotlist" and topic.rest[:1] != (data.name,):
        raise Rejected("wrong_topic", "hotlist name differs from the topic")
    stream = stream_of(kind, data)
    digest = hashlib.sha256(body).hexdigest()
    previous = last(stream)
    duplicate = False
    if previous is not None:
        last_seq, last_digest = previous
        if seq < last_seq or (seq == last_seq and digest != last_digest):
            raise Rejected("replay", f"seq {seq} not after {last_seq} on {stream}")
        duplicate = seq == last_seq
    return Verified(kind, stream, seq, issued, target, digest, data, duplicate)


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])


# --- the agency's side (tools, tests) ------------------------------------------------------------

def sign(private_key: Ed25519PrivateKey, *, kind: str, agency: str, target: str, seq: int, data: dict,
         issued_at: datetime | None = None) -> bytes:
    """Build a signed downlink envelope."""
    body = json.dumps({"schema": SCHEMA, "kind": kind, "agency": agency, "target": target, "seq": seq,
                       "issued_at": iso_utc(issued_at or datetime.now(timezone.utc)), "data": data},
                      separators=(",", ":"), sort_keys=True).encode()
    return json.dumps({"schema": SCHEMA, "body": base64.b64encode(body).decode(),
                       "sig": base64.b64encode(private_key.sign(body)).decode()}).encode()


def hotlist_manifest(content: bytes, *, name: str, chunk_size: int = 256 * 1024, **options) -> tuple[dict, list[bytes]]:
    """Split a hotlist file into chunks and describe them; the manifest is what gets signed."""
    chunks = [content[i:i + chunk_size] for i in range(0, len(content), chunk_size)] or [b""]
    manifest = {"name": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                "chunk_size": chunk_size, "chunks": [hashlib.sha256(c).hexdigest() for c in chunks], **options}
    return manifest, chunks


def assemble(manifest: HotlistManifest, chunks: dict[int, bytes]) -> bytes:
    """Join received chunks; raises Rejected when one is missing, altered or truncated."""
    parts = []
    for index, expected in enumerate(manifest.chunks):
        if index not in chunks:
            raise Rejected("incomplete", f"chunk {index} missing")
        if hashlib.sha256(chunks[index]).hexdigest() != expected:
            raise Rejected("bad_chunk", f"chunk {index} does not match its sha256 (truncated or altered)")
        parts.append(chunks[index])
    content = b"".join(parts)
    if len(content) != manifest.size or hashlib.sha256(content).hexdigest() != manifest.sha256:
        raise Rejected("bad_hotlist", "assembled hotlist does not match size/sha256 (truncated or altered)")
    return content
