"""Fixtures for tests that need a real MQTT broker: a private mosquitto on a free loopback port
with freshly generated TLS certificates, and a de-duplicating collector on the agency side.

Reusable by any test module: `from tests.mosquitto import broker, pki, collector_for, seed_reads`
(import the fixtures into the module so pytest sees them). Skips cleanly where mosquitto is absent.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from firmware.sync.config import SyncConfig
from firmware.sync.testbroker import Collector, Mosquitto, Pki, free_port, make_pki, mosquitto_binary

__all__ = ["Collector", "Mosquitto", "Pki", "broker", "pki", "free_port", "sync_config", "seed_reads",
           "requires_mosquitto"]

requires_mosquitto = pytest.mark.skipif(mosquitto_binary() is None,
                                        reason="mosquitto not installed (.ci/install-mosquitto.sh)")


@pytest.fixture
def pki(tmp_path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def broker(tmp_path, pki):
    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed (.ci/install-mosquitto.sh)")
    b = Mosquitto(tmp_path / "broker", pki).start()
    yield b
    b.stop()


def sync_config(broker: Mosquitto, pki: Pki, **overrides) -> SyncConfig:
    values = dict(host="127.0.0.1", port=broker.port, tls=True, ca_file=pki.ca, cert_file=pki.client_cert,
                  key_file=pki.client_key, reconnect_min_s=0.1, reconnect_max_s=1.0, health_interval_s=3600,
                  inflight=256)
    values.update(overrides)
    return SyncConfig(**values)


def seed_reads(conn, data_dir: Path, n: int, *, images: bool = True, hits_every: int = 0,
               start: datetime | None = None, image_bytes: int = 2048) -> list[str]:
    """Insert `n` scan files (read rows, optional crop+overview files, outbox rows) in one transaction."""
    from firmware.records import Hit, Position, Read
    from firmware.storage.db import transaction
    from firmware.storage.reads import image_paths, save_read

    start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    ids = []

    def job(c):
        for i in range(n):
            rid = str(uuid.uuid4())
            at = start + timedelta(seconds=i)
            crop = overview = None
            if images:
                crop, overview = image_paths(rid, at)
                for rel in (crop, overview):
                    target = Path(data_dir) / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(b"\xff\xd8" + os.urandom(image_bytes) + b"\xff\xd9")
            hits = ()
            if hits_every and i % hits_every == 0:
                hits = (Hit("stolen", f"ABC{i % 1000:03d}", None, "stolen", 10, "exact"),)
            read = Read(id=rid, unit_id="unit-0001", camera_id="front", plate=f"ABC{i % 1000:03d}",
                        plate_raw=f"ABC{i % 1000:03d}", state=None, confidence=0.9, char_confidences=(0.9,) * 6,
                        frames=3, box=(1, 2, 3, 4), captured_at=at, first_seen_at=at, clock_source="test",
                        frame_seq=i, capture_mono_ns=i, position=Position(method="fix", lat=35.0, lon=-80.0),
                        crop_path=crop, overview_path=overview, hits=hits)
            save_read(c, read, at)
            ids.append(rid)

    transaction(conn, job)
    return ids
