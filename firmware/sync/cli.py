"""`alpr-unit sync status|run|requeue|keygen|sign`: look at and drive the MQTT sync without the daemon.

`sync run` runs the sync service alone against a data dir: technicians use it to drain a unit's
backlog over a workshop network, and the crash tests kill it with SIGKILL mid-drain.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from firmware.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_common, emit, existing_path, load_unit_config, number

STATUS_FRESH_S = 15.0


def register(sub) -> None:
    sync = sub.add_parser("sync", help="MQTT store-and-forward: status, run, requeue, agency keys")
    sync_sub = sync.add_subparsers(dest="sync_command", required=True)

    status = sync_sub.add_parser("status", help="queued by kind, in flight, last ack, connected (reads the DB)")
    add_common(status)
    status.set_defaults(func=_status)

    run = sync_sub.add_parser("run", help="run the sync service alone until SIGTERM/SIGINT")
    add_common(run)
    run.add_argument("--until-empty", action="store_true", help="exit 0 once the outbox is empty")
    run.add_argument("--timeout", type=float, default=None, help="give up after this many seconds (exit 1)")
    run.set_defaults(func=_run)

    requeue = sync_sub.add_parser("requeue", help="send acknowledged records again (the agency lost them)")
    add_common(requeue)
    requeue.add_argument("--kind", choices=["hit", "audit", "disposition", "event", "read", "image", "report"])
    from firmware.access_cli import add_access_arguments

    add_access_arguments(requeue, provisioning=True)
    requeue.set_defaults(func=_requeue)

    keygen = sync_sub.add_parser("keygen", help="agency side: make an Ed25519 key pair for signing downlink")
    keygen.add_argument("--out", type=Path, required=True, help="private key file to write (PEM, mode 0600)")
    keygen.add_argument("--json", action="store_true", help="the output is JSON either way (kept for symmetry)")
    keygen.set_defaults(func=_keygen)

    sign = sync_sub.add_parser("sign", help="agency side: sign a downlink message (roster, hold, config,"
                                            " audit_checkpoint)")
    sign.add_argument("--key", type=existing_path(), required=True, help="agency private key (PEM)")
    sign.add_argument("--kind", choices=["roster", "hold", "config", "audit_checkpoint"], required=True,
                      help="audit_checkpoint: the `checkpoint` that `agency verify-audit` prints, for one unit")
    sign.add_argument("--agency", required=True)
    sign.add_argument("--target", default="all", help="'all' or a unit id")
    sign.add_argument("--seq", type=number(0, 2 ** 63 - 1), default=None, help="default: milliseconds since the epoch")
    sign.add_argument("data", type=existing_path(), help="JSON file with the message data")
    sign.add_argument("--json", action="store_true", help="the signed envelope is JSON either way (kept for symmetry)")
    sign.set_defaults(func=_sign)

    cred = sync_sub.add_parser("hash-credential", help="agency side: hash an officer's PIN or password for the "
                                                       "roster's `credential` (the secret itself never leaves)")
    cred.add_argument("--stdin", action="store_true", help="read the secret from stdin's first line, not a prompt")
    cred.add_argument("--json", action="store_true", help='print {"credential": HASH}')
    cred.set_defaults(func=_hash_credential)


def _status(args) -> int:
    from firmware.storage import outbox
    from firmware.unit_data import open_unit

    config = load_unit_config(args)
    data_dir = config.unit.data_dir
    conn = open_unit(config)
    try:
        summary = outbox.summary(conn)
        used = conn.execute("SELECT bytes FROM sync_budget WHERE day = strftime('%Y-%m-%d', 'now')").fetchone()
    finally:
        conn.close()
    live = _live_status(Path(data_dir))
    result = {
        "enabled": bool(config.sync.host), "broker": f"{config.sync.host}:{config.sync.port}" if config.sync.host
        else None, "daemon_running": live is not None,
        "connected": live.get("connected") if live else None,
        "in_flight": live.get("in_flight", 0) if live else 0,
        "queued": summary["queued"], "queued_total": summary["queued_total"],
        "queued_payload_bytes": summary["queued_payload_bytes"], "oldest_queued_at": summary["oldest_queued_at"],
        "last_ack_at": summary["last_ack_at"], "bytes_today": used[0] if used else 0,
        "daily_byte_budget": config.sync.daily_byte_budget,
    }
    if live:
        result["downlink"] = live.get("downlink")
        result["last_error"] = live.get("last_error")
    emit(result, args.json)
    return EXIT_OK


def _live_status(data_dir: Path) -> dict | None:
    """The running service's status file, if it is fresh and its process is alive."""
    from firmware.sync.service import STATUS_FILE

    path = data_dir / STATUS_FILE
    try:
        if time.time() - path.stat().st_mtime > STATUS_FRESH_S:
            return None
        data = json.loads(path.read_text())
        os.kill(int(data["pid"]), 0)
        return data
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _run(args) -> int:
    from firmware.clock import SystemClock
    from firmware.logs import setup_logging
    from firmware.storage import outbox
    from firmware.storage.db import Writer
    from firmware.sync.service import SyncService
    from firmware.unit_data import open_unit

    config = load_unit_config(args)
    setup_logging(config.logging.level, config.logging.format)
    if not config.sync.host:
        print("sync.host is empty: nothing to connect to", file=sys.stderr)
        return EXIT_USAGE
    conn = open_unit(config)
    writer = Writer(conn).start()
    service = SyncService(config.sync, config.unit.data_dir, writer, config.unit.id, SystemClock(),
                          base_config=lambda: config.model_dump(mode="json"))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service.start()
    started = time.monotonic()
    code = EXIT_OK
    try:
        while not stop.wait(0.5):
            if args.until_empty:
                pending = writer.call(lambda c: outbox.counts(c))
                if not pending:
                    break
            if args.timeout is not None and time.monotonic() - started > args.timeout:
                code = EXIT_FAILED
                break
    finally:
        service.stop()
        writer.stop()
        conn.close()
    emit({"stopped": True, "exit": code, **{k: v for k, v in service.status().items()
                                             if k in ("queued_total", "last_ack_at", "sender")}}, args.json)
    return code


def _requeue(args) -> int:
    from firmware.access_cli import open_with_access
    from firmware.clock import SystemClock
    from firmware.retention.audit import append_audit
    from firmware.storage import outbox
    from firmware.storage.db import transaction

    config, conn, decision = open_with_access(args, "sync.manage", terms={"requeue": args.kind or "all"})
    if not decision.ok:
        conn.close()
        return EXIT_FAILED

    def job(c):
        n = outbox.requeue(c, args.kind)
        append_audit(c, unit_id=config.unit.id, event="sync_requeue", at=SystemClock().utc(), user=args.user,
                     purpose="maintenance", detail={"kind": args.kind, "rows": n})
        return n

    try:
        emit({"requeued": transaction(conn, job)}, args.json)
    finally:
        conn.close()
    return EXIT_OK


def _hash_credential(args) -> int:
    import getpass

    from firmware.auth import hash_credential

    secret = sys.stdin.readline().rstrip("\r\n") if args.stdin else getpass.getpass("PIN or password: ")
    try:
        secret.encode("utf-8")
    except UnicodeEncodeError:      # bytes stdin passed through: no unit could check a PIN typed as text
        print("the secret is not UTF-8 text", file=sys.stderr)
        return EXIT_USAGE
    if len(secret) < 4:
        print("a credential needs at least 4 characters", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        emit({"credential": hash_credential(secret)}, True)
    else:
        print(hash_credential(secret))
    return EXIT_OK


def _keygen(args) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if args.out.exists():
        print(f"{args.out} exists; not overwriting", file=sys.stderr)
        return EXIT_USAGE   # as `audit init-key` refuses the same: the command line names a key that is there
    if not args.out.parent.is_dir():    # a path the user named: bad usage, not a storage failure
        print(f"sync keygen: cannot write {args.out}: no folder {args.out.parent}", file=sys.stderr)
        return EXIT_USAGE
    key = Ed25519PrivateKey.generate()
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    emit({"private_key": str(args.out), "downlink_public_key": public}, True)
    return EXIT_OK


def _sign(args) -> int:
    """Refuses (exit 2) what no unit would accept: a key that is not the agency's Ed25519 key, a data file that
    is not JSON, data that is not a valid message of its kind (the unit validates with the same models)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from pydantic import ValidationError

    from firmware.sync.downlink import DATA_MODELS, sign

    try:
        key = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        print(f"sync sign: {args.key} is not an unencrypted Ed25519 private key in PEM (`alpr-unit sync keygen` "
              "makes one)", file=sys.stderr)
        return EXIT_USAGE
    try:
        data = json.loads(args.data.read_bytes().decode("utf-8"))
        DATA_MODELS[args.kind].model_validate(data)
    except UnicodeDecodeError:
        print(f"sync sign: {args.data} is not UTF-8 text", file=sys.stderr)
        return EXIT_USAGE
    except json.JSONDecodeError as exc:
        print(f"sync sign: {args.data}:{exc.lineno}: not JSON: {exc.msg}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"sync sign: {args.data} is not a valid {args.kind} message (a unit would reject it): "
              f"{'.'.join(str(p) for p in first['loc']) or '(top level)'}: {first['msg']}"
              f"{f' (and {exc.error_count() - 1} more)' if exc.error_count() > 1 else ''}", file=sys.stderr)
        return EXIT_USAGE
    seq = args.seq if args.seq is not None else int(time.time() * 1000)
    sys.stdout.write(sign(key, kind=args.kind, agency=args.agency, target=args.target, seq=seq, data=data).decode())
    sys.stdout.write("\n")
    return EXIT_OK
