"""Bad input through the real `alpr-unit` (a subprocess, ALPR_DEBUG=1 so a traceback would show): each case
once fell into the top-level "internal error" guard (exit 3), hung, or answered 0/1 where the README's exit
code table says 2. Each must now exit with the table's code, say what is wrong in one line on stderr, and print
no traceback. Where the command would have changed something, it must not have."""

import json
import os
import random
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from conftest import REPO, alpr_unit_cmd
from firmware.auth import hash_credential
from firmware.retention.audit import append_audit
from firmware.retention.auditkey import provision_key
from firmware.storage.db import open_database, transaction
from rosters import AT, STAFF, provisioned

NOT_UTF8 = b"why \xff\xfe"          # as a shell passes bytes from a Latin-1 terminal or a broken paste
HUGE = "9" * 23                     # past SQLite's 64-bit integers
FACTS = ["--case", "26-9", "--officer", "Det. Lee", "--agency", "DPD", "--statement", "ALPR-1/9", "--parties",
         "State v. Doe", "--facts", "Vehicle seen leaving the scene of the robbery", "--plate", "ABC123"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A provisioned unit (the agency's roster, one user with a PIN), and the bad files the cases feed in."""
    root = tmp_path_factory.mktemp("bad-input")
    pin_user = {"id": "ofc.pin", "name": "Pin", "roles": ["officer"], "credential": hash_credential("4321")}
    provisioned(root / "data", [*STAFF, pin_user])
    (root / "empty").mkdir()
    (root / "binary").write_bytes(b"\xff\xfe\x00\x01binary")
    (root / "binary.jsonl").write_bytes(b'{"seq": 1, "prev_hash": "\xff"}\n\xff\xfe\n')
    (root / "random.bin").write_bytes(random.Random(7).randbytes(100_000))   # 2 of its ~800 lines read as plates
    (root / "bad.json").write_text('{"users": [\n')
    (root / "bad_roster.json").write_text(json.dumps({"users": [{"id": 5}]}))
    (root / "roster.json").write_text(json.dumps({"users": [{"id": "a", "name": "Ann"}]}))
    (root / "stream.jsonl").write_text(json.dumps({"seq": 1, "id": "x", "hash": 5}) + "\n")
    (root / "audit.key").write_text(json.dumps({"schema": 1, "unit_id": "unit-0001", "first_seq": 1,
                                                "key": "ab" * 32, "created_at": "2026-01-10T00:00:00Z"}))
    (root / "route.nmea").write_text("$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\n")
    (root / "gps.toml").write_text(f'[unit]\nid = "unit-0001"\ndata_dir = "{root / "data"}"\n'
                                   f'[gps]\nsource = "file"\nfile = "{root / "route.nmea"}"\n')
    _audit_streams(root)
    made = subprocess.run([*alpr_unit_cmd(), "sync", "keygen", "--out", str(root / "agency.key")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return {k: str(root / v) for k, v in {"root": ".", "data": "data", "empty": "empty", "binary": "binary",
                                          "binary_jsonl": "binary.jsonl", "random": "random.bin", "bad_json": "bad.json",
                                          "bad_roster": "bad_roster.json", "roster": "roster.json",
                                          "stream": "stream.jsonl", "audit_key": "audit.key", "nmea": "route.nmea",
                                          "gps_config": "gps.toml", "agency_key": "agency.key",
                                          "unit_key": "unit.key", "huge_seq": "huge_seq.jsonl",
                                          "inf_seq": "inf_seq.jsonl"}.items()}


def _audit_streams(root: Path) -> None:
    """A unit's real synced audit stream (4 entries under a provisioned key, as the unit queues them), with
    one more line whose seq is 10**12 (the agency would derive 10**12 keys) or Infinity."""
    conn = open_database(root / "audited")
    transaction(conn, lambda c: provision_key(c, root / "unit.key", unit_id="unit-0001", at=AT, user="tech.tim"))
    for i in range(3):
        transaction(conn, lambda c: append_audit(c, unit_id="unit-0001", event="query", at=AT, user="ofc.ray",
                                                 purpose="stolen vehicle", detail={"n": i}))
    payloads = [json.loads(row[0]) for row in conn.execute("SELECT payload FROM outbox WHERE kind = 'audit'"
                                                               " ORDER BY seq")]
    conn.close()
    lines, last = [json.dumps(p) for p in payloads], payloads[-1]
    (root / "huge_seq.jsonl").write_text("\n".join([*lines, json.dumps({**last, "seq": 10 ** 12})]) + "\n")
    (root / "inf_seq.jsonl").write_text("\n".join([*lines, json.dumps({**last, "seq": float("inf")})]) + "\n")


D = ["--data-dir", "{data}"]
SIGN = ["sync", "sign", "--kind", "roster", "--agency", "DPD"]

# (id, argv, stdin, exit code, what the last line of stderr must say)
CASES = [
    ("gps watch --baud abc", ["gps", "watch", "--file", "{nmea}", "--baud", "abc", "--seconds", "1"], None, 2,
     "baud: Input should be 4800"),
    ("gps watch --baud 1234", ["gps", "watch", "--file", "{nmea}", "--baud", "1234", "--seconds", "1"], None, 2,
     "baud: Input should be 4800"),
    ("gps watch --port too long", ["gps", "watch", "--port", "/dev/" + "x" * 300, "--seconds", "1"], None, 2,
     "port: String should have at most 256 characters"),
    ("gps watch --seconds nan", ["gps", "watch", "--file", "{nmea}", "--seconds", "nan"], None, 2,
     "argument --seconds: 'nan' is not a number from 0"),
    ("run --seconds nan", ["run", "--seconds", "nan", "--data-dir", "{root}/run"], None, 2,
     "argument --seconds: 'nan' is not a number from 0"),
    ("demo --fps 0", ["demo", "--fps", "0", "--seconds", "1", "--data-dir", "{root}/demo"], None, 2,
     "cameras.0.fps: Input should be greater than 0"),
    ("demo --screen not host:port", ["demo", "--screen", "nohost", "--seconds", "1", "--data-dir", "{root}/demo"],
     None, 2, "screen.listen: Value error, listen must be host:port"),
    ("selftest --gps-timeout nan", ["selftest", "--config", "{gps_config}", "--gps-timeout", "nan"], None, 2,
     "argument --gps-timeout: 'nan' is not a number"),
    ("hotlist add --days 0", ["hotlist", "add", "XYZ987", "--reason", "robbery suspect vehicle, case 26-77",
                              "--days", "0", *D, "--user", "ofc.ray"], None, 2, "a manual entry lives 1 to 30 days"),
    ("hotlist add --state too long", ["hotlist", "add", "XYZ987", "--reason", "robbery suspect vehicle, case 26-77",
                                      "--state", "CALIF", *D, "--user", "ofc.ray"], None, 2,
     "state must be 1-3 letters or digits"),
    ("hotlist import of random bytes", ["hotlist", "import", "{random}", "--list", "stolen", *D, "--user", "adm.ann"],
     None, 2, "random.bin is not a text hotlist (binary data: 757 of its 801 lines are not text"),
    ("hotlist extend huge id", ["hotlist", "extend", HUGE, "--reason", "suspect still at large, case 26-70", *D,
                                "--user", "sgt.sue"], None, 2, f"no manual entry with id {HUGE}"),
    ("hotlist remove huge id", ["hotlist", "remove", HUGE, "--reason", "vehicle recovered", *D, "--user", "ofc.ray"],
     None, 2, f"no manual entry with id {HUGE}"),
    ("hotlist add --reason of 740 characters", ["hotlist", "add", "XYZ987", "--reason",
                                                "robbery suspect vehicle, case 26-77; " * 20, *D, "--user", "ofc.ray"],
     None, 1, "the reason is over 500 characters"),
    ("hotlist add --reason not UTF-8", ["hotlist", "add", "XYZ987", "--reason", NOT_UTF8, *D, "--user", "ofc.ray"],
     None, 2, "the value given for reason is not UTF-8 text"),
    ("sync sign --key not PEM", [*SIGN, "--key", "{binary}", "{roster}"], None, 2,
     "is not an unencrypted Ed25519 private key in PEM"),
    ("sync sign data not JSON", [*SIGN, "--key", "{agency_key}", "{bad_json}"], None, 2, "bad.json:2: not JSON"),
    ("sync sign data not UTF-8", [*SIGN, "--key", "{agency_key}", "{binary}"], None, 2, "is not UTF-8 text"),
    ("sync sign invalid roster", [*SIGN, "--key", "{agency_key}", "{bad_roster}"], None, 2,
     "is not a valid roster message (a unit would reject it): users.0.id"),
    ("sync sign --seq -1", [*SIGN, "--key", "{agency_key}", "--seq", "-1", "{roster}"], None, 2,
     "argument --seq: '-1' is not a whole number from 0"),
    ("sync sign --key missing", [*SIGN, "--key", "{root}/missing.key", "{roster}"], None, 2,
     "argument --key: no such file: '"),
    ("sync sign data file missing", [*SIGN, "--key", "{agency_key}", "{root}/missing.json"], None, 2,
     "argument data: no such file: '"),
    ("sync keygen over an existing key", ["sync", "keygen", "--out", "{agency_key}"], None, 2,
     "exists; not overwriting"),
    ("bench recognition on a folder without images", ["bench", "recognition", "--images", "{empty}"], None, 2,
     "no images in"),
    ("sync keygen --out in a missing folder", ["sync", "keygen", "--out", "{root}/missing/agency.key"], None, 2,
     "missing/agency.key: no folder"),
    ("agency verify-audit stream file missing", ["agency", "verify-audit", "--key", "{audit_key}",
                                                 "{root}/missing.jsonl"], None, 2,
     "argument target: no such file or folder: '"),
    ("agency verify-audit --stream missing", ["agency", "verify-audit", "--key", "{audit_key}", "{data}", "--stream",
                                              "{root}/missing.jsonl"], None, 2, "argument --stream: no such file: '"),
    ("agency verify-audit folder without a database", ["agency", "verify-audit", "--key", "{audit_key}", "{empty}"],
     None, 2, "no database at"),
    ("sync hash-credential not UTF-8", ["sync", "hash-credential", "--stdin"], b"\xff\xfe\xfd\xfc\n", 2,
     "the secret is not UTF-8 text"),
    ("sync hash-credential too short", ["sync", "hash-credential", "--stdin"], b"12\n", 2,
     "a credential needs at least 4 characters"),
    ("hit list --pin-stdin not UTF-8", ["hit", "list", *D, "--user", "ofc.pin", "--pin-stdin"],
     b"\xff\xfe\xfd\xfc\n", 1, "wrong PIN or password (audited)"),
    ("hit list --limit huge", ["hit", "list", "--limit", HUGE, *D, "--user", "ofc.ray"], None, 2,
     f"argument --limit: '{HUGE}' is not a whole number from 1"),
    ("query --limit -1", ["query", "--purpose", "stolen vehicle", "--limit", "-1", *D, "--user", "ofc.ray"], None, 2,
     "argument --limit: '-1' is not a whole number from 1"),
    ("query --from after --to", ["query", "--purpose", "stolen vehicle", "--from", "2026-03-05", "--to",
                                 "2026-03-01", *D, "--user", "ofc.ray"], None, 2, "--from is after --to"),
    ("report --from after --to", ["report", "--from", "2026-03-05", "--to", "2026-03-01", *D, "--user", "adm.ann"],
     None, 2, "--from is after --to"),
    ("maintenance list --to 9999-12-31", ["maintenance", "list", "--to", "9999-12-31", *D, "--user", "tech.tim"],
     None, 2, "argument --to: out of range: '9999-12-31'"),
    ("hold add --from year 1 with a zone", ["hold", "add", "--from", "0001-01-01T00:00+01:00", "--to", "2026-03-01",
                                            *FACTS, *D, "--user", "adm.ann"], None, 2,
     "argument --from: out of range"),
    ("agency verify-audit stream line without prev_hash", ["agency", "verify-audit", "--key", "{audit_key}",
                                                          "{stream}"], None, 1, "(unreadable_line)"),
    ("agency verify-audit stream not UTF-8", ["agency", "verify-audit", "--key", "{audit_key}", "{binary_jsonl}"],
     None, 1, "(unreadable_line)"),
    ("agency verify-audit stream line with seq 10**12", ["agency", "verify-audit", "--key", "{unit_key}",
                                                        "{huge_seq}"], None, 1,
     "first bad entry: seq 1000000000000 (seq_implausible), line 5"),
    ("agency verify-audit stream line with seq Infinity", ["agency", "verify-audit", "--key", "{unit_key}",
                                                          "{inf_seq}"], None, 1,
     "first bad entry: seq 0 (unreadable_line), line 5"),
    ("read --threads 0", ["read", "{empty}", "--threads", "0"], None, 2,
     "argument --threads: '0' is not a whole number from 1 to 8"),
    ("db check no unit data", ["db", "check", "--data-dir", "{empty}"], None, 2, "no unit data in"),
    ("db recover no unit data", ["db", "recover", "--data-dir", "{empty}"], None, 2, "no unit data in"),
    ("provision --user blank", ["provision", "--user", " ", "--data-dir", "{root}/new-unit"], None, 2,
     "--user must name the technician"),
    ("scrub a folder that is not there", ["scrub", "{root}/missing", *D], None, 2, "is not a directory"),
    ("bench hotlist --entries 0", ["bench", "hotlist", "--entries", "0"], None, 2,
     "argument --entries: '0' is not a whole number from 1"),
    ("bench gps --chunk 0", ["bench", "gps", "--chunk", "0"], None, 2,
     "argument --chunk: '0' is not a whole number from 1"),
    ("bench gps --min-year 0", ["bench", "gps", "--repeat", "1", "--min-year", "0"], None, 2,
     "argument --min-year: '0' is not a whole number from 1980 to 2099"),
    ("bench hotlist --hit-share 2", ["bench", "hotlist", "--entries", "10", "--reads", "10", "--hit-share", "2"], None,
     2, "argument --hit-share: '2' is not a number from 0.0 to 1.0"),
    ("bench purge --reads -1", ["bench", "purge", "--reads", "-1"], None, 2,
     "argument --reads: '-1' is not a whole number from 1"),
    ("bench purge --days nan", ["bench", "purge", "--reads", "1", "--days", "nan"], None, 2,
     "argument --days: 'nan' is not a number from 0.01"),
    ("bench purge --batch 0", ["bench", "purge", "--reads", "1", "--batch", "0"], None, 2,
     "argument --batch: '0' is not a whole number from 1 to 20000"),
    ("bench sync --inflight 0", ["bench", "sync", "--reads", "1", "--inflight", "0"], None, 2,
     "argument --inflight: '0' is not a whole number from 1 to 1024"),
    ("bench recognition --passes 0", ["bench", "recognition", "--images", "{empty}", "--passes", "0"], None, 2,
     "argument --passes: '0' is not a whole number from 1"),
    ("bench pipeline --threads 0", ["bench", "pipeline", "--threads", "0"], None, 2,
     "argument --threads: '0' is not a whole number from 1 to 8"),
    ("bench alert --hits 0", ["bench", "alert", "--no-browser", "--seconds", "1", "--hits", "0"], None, 2,
     "argument --hits: '0' is not a whole number from 1"),
    ("bench camera --repeats -1", ["bench", "camera", "--repeats", "-1"], None, 2,
     "argument --repeats: '-1' is not a whole number from 10 to 100000"),
]


def _fill(arg, files: dict):
    return arg if isinstance(arg, bytes) else arg.format(**files)


@pytest.mark.parametrize("name, argv, stdin, code, says", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_its_exit_code_and_one_clear_line(files, name, argv, stdin, code, says):
    env = {**os.environ, "ALPR_DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run([*alpr_unit_cmd(), *(_fill(a, files) for a in argv)], cwd=REPO, env=env,
                            input=stdin or b"", capture_output=True, timeout=60)
    out, err = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
    assert "Traceback" not in out + err and "internal error" not in err, err[-3000:]
    assert result.returncode == code, (result.returncode, out[-500:], err[-1500:])
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and says in lines[-1], err


def test_refused_options_change_nothing(files):
    """The demo checks its options before it replaces the old clip; provision before it creates a data dir; a
    hotlist import refused as a whole loads no row."""
    root = Path(files["root"])
    for case in ("demo --fps 0", "provision --user blank", "hotlist import of random bytes"):
        argv = next(c[1] for c in CASES if c[0] == case)
        result = subprocess.run([*alpr_unit_cmd(), *(_fill(a, files) for a in argv)], cwd=REPO,
                                capture_output=True, timeout=60)
        assert result.returncode == 2
    assert not (root / "demo").exists() and not (root / "new-unit").exists()
    with closing(sqlite3.connect(Path(files["data"]) / "alpr.db")) as db:   # the refused import loaded no row
        assert db.execute("SELECT count(*) FROM hotlist_entries").fetchone()[0] == 0
