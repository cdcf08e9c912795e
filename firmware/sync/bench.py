"""Backlog drain to a local mosquitto: messages/s and MB/s from a full outbox to a subscriber's hands.

Seeds a throwaway data dir with N scan files (read + crop + overview), starts a private mosquitto
with mutual TLS on a free loopback port and a de-duplicating collector, then times SyncService
draining the backlog until every message id has arrived.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from firmware.cli import number


def add_arguments(parser) -> None:
    parser.add_argument("--reads", type=number(1, 10 ** 7), default=5000,
                        help="scan files in the backlog (3 messages each)")
    parser.add_argument("--image-bytes", type=number(1, 16 * 2 ** 20), default=16384, help="bytes per stored image")
    parser.add_argument("--inflight", type=number(1, 1024), default=256, help="sync.inflight window")
    parser.add_argument("--protocol", choices=["5", "3.1.1"], default="5")
    parser.add_argument("--properties", action="store_true", help="sync.message_properties (MQTT 5 user properties)")
    parser.add_argument("--no-tls", action="store_true", help="plain TCP instead of mutual TLS")
    parser.add_argument("--timeout", type=number(1.0, 86400.0, float), default=600,
                        help="seconds to wait for the backlog to arrive")


def _seed(conn, data_dir: Path, n: int, image_bytes: int) -> None:
    from firmware.records import Position, Read
    from firmware.storage.db import transaction
    from firmware.storage.reads import image_paths, save_read

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    blob = os.urandom(image_bytes)

    def job(c):
        for i in range(n):
            rid = str(uuid.uuid4())
            at = start + timedelta(seconds=i)
            crop, overview = image_paths(rid, at)
            for rel in (crop, overview):
                target = data_dir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(blob)
            save_read(c, Read(id=rid, unit_id="bench", camera_id="front", plate="ABC123", plate_raw="ABC123",
                              state=None, confidence=0.9, char_confidences=(0.9,) * 6, frames=3, box=(1, 2, 3, 4),
                              captured_at=at, first_seen_at=at, clock_source="test", frame_seq=i,
                              capture_mono_ns=i, position=Position(method="fix", lat=35.0, lon=-80.0),
                              crop_path=crop, overview_path=overview), at)

    transaction(conn, job)


def run(args) -> dict:
    from firmware.clock import SystemClock
    from firmware.storage.db import Writer, open_database
    from firmware.sync.config import SyncConfig
    from firmware.sync.service import SyncService
    from firmware.sync.testbroker import Collector, Mosquitto, make_pki

    with tempfile.TemporaryDirectory(prefix="alpr-sync-bench-") as tmp:
        root = Path(tmp)
        pki = None if args.no_tls else make_pki(root / "pki", "bench")
        data_dir = root / "data"
        conn = open_database(data_dir)
        _seed(conn, data_dir, args.reads, args.image_bytes)
        expected = args.reads * 3
        with Mosquitto(root / "broker", pki) as broker:
            collector = Collector(broker.port, pki).start()
            config = SyncConfig(host="127.0.0.1", port=broker.port, tls=pki is not None, protocol=args.protocol,
                                ca_file=pki.ca if pki else None, cert_file=pki.client_cert if pki else None,
                                key_file=pki.client_key if pki else None, inflight=args.inflight,
                                message_properties=args.properties, health_interval_s=3600, downlink=False)
            writer = Writer(conn).start()
            service = SyncService(config, data_dir, writer, "bench", SystemClock())
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            service.start()
            done = collector.wait_for(lambda: collector.unique() >= expected, args.timeout)
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            status = service.status()
            service.stop()
            writer.stop()
            collector.stop()
        conn.close()
    sent_bytes = status["sender"]["bytes_acked"]
    return {
        "bench": "sync", "complete": done, "messages": collector.unique(), "expected": expected,
        "received_incl_duplicates": collector.received, "seconds": round(elapsed, 3),
        "messages_per_s": round(collector.unique() / elapsed, 1), "mb_per_s": round(sent_bytes / elapsed / 1e6, 2),
        "payload_mb": round(sent_bytes / 1e6, 2), "process_cpu_s": round(cpu, 2),
        "cpu_ms_per_message": round(1000 * cpu / max(1, collector.unique()), 3),
        "inflight": args.inflight, "tls": pki is not None, "protocol": args.protocol,
        "image_bytes": args.image_bytes, "machine": f"{platform.machine()} {os.cpu_count()} cpu",
        "note": "broker, collector and unit share this machine",
    }
