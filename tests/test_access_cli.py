"""Every command that shows or changes unit data, through the real CLI (in-process `main`): refused without a
login, refused for a removed or untrained user, refused for a role that may not, allowed otherwise, and
each attempt audited; and the exit codes of issue 18 (no unit data, another unit's data, a corrupt
database) for each of them."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from firmware.access import ACTIONS
from firmware.cli import main
from firmware.records import Hit, Read
from firmware.storage.db import open_database, transaction
from firmware.storage.reads import save_read
from rosters import install_roster

NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY = NOW.strftime("%Y-%m-%d")

# (name, argv after the command words, action, a user allowed, a role's user refused or None)
# {hit}, {hold}, {entry}, {file} are filled from the unit built by the fixture.
COMMANDS = [
    ("hit list", ["hit", "list"], "hits.view", "ofc.ray", "tech.tim"),
    ("hit show", ["hit", "show", "{hit}"], "hits.view", "aud.al", "tech.tim"),
    ("hit check", ["hit", "check", "{hit}", "--check", "plate", "--result", "match"], "hits.verify", "ofc.ray",
     "adm.ann"),
    ("hit verify", ["hit", "verify", "{hit}", "--disposition", "misread"], "hits.verify", "sgt.sue", "aud.al"),
    ("query", ["query", "--purpose", "stolen vehicle", "--plate", "ABC123"], "reads.search", "ofc.ray", "tech.tim"),
    ("hotlist import", ["hotlist", "import", "{file}", "--list", "extra", "--format", "csv"], "hotlist.import",
     "adm.ann", "ofc.ray"),
    ("hotlist show", ["hotlist", "show"], "hotlist.view", "tech.tim", None),
    ("hotlist show --manual", ["hotlist", "show", "--manual"], "hotlist.manual_view", "aud.al", "tech.tim"),
    ("hotlist add", ["hotlist", "add", "XYZ987", "--reason", "robbery suspect vehicle, case 26-77"],
     "hotlist.manual_add", "ofc.ray", "aud.al"),
    ("hotlist extend", ["hotlist", "extend", "{entry}", "--reason", "suspect still at large, case 26-70", "--days",
                        "30"], "hotlist.manual_extend", "sgt.sue", "tech.tim"),
    ("hotlist remove", ["hotlist", "remove", "{entry}", "--reason", "vehicle recovered"], "hotlist.manual_remove",
     "ofc.ray", "aud.al"),
    ("hotlist match", ["hotlist", "match", "ABC123"], "hotlist.match", "ofc.ray", "tech.tim"),
    ("hold add", ["hold", "add", "--plate", "ABC123", "--from", DAY, "--to", DAY, "--case", "26-9", "--officer",
                  "Det. Lee", "--agency", "DPD", "--statement", "ALPR-1/9", "--camera", "front",
                  "--parties", "State v. Doe", "--facts", "Vehicle seen leaving the scene of the robbery"],
     "hold.manage", "adm.ann", "ofc.ray"),
    ("hold renew", ["hold", "renew", "{hold}", "--statement", "ALPR-1/10"], "hold.manage", "adm.ann", "sgt.sue"),
    ("hold release", ["hold", "release", "{hold}", "--reason", "case closed by the court"], "hold.manage",
     "adm.ann", "aud.al"),
    ("hold list", ["hold", "list"], "hold.view", "aud.al", "ofc.ray"),
    ("maintenance add", ["maintenance", "add", "--kind", "inspection", "--description", "checked the cables"],
     "maintenance.write", "tech.tim", "ofc.ray"),
    ("maintenance list", ["maintenance", "list"], "maintenance.view", "tech.tim", "ofc.ray"),
    ("purge", ["purge", "--dry-run"], "purge.run", "tech.tim", "ofc.ray"),
    ("report", ["report", "--from", DAY, "--to", DAY], "report.view", "adm.ann", "ofc.ray"),
    ("audit verify", ["audit", "verify"], "audit.verify", "tech.tim", "ofc.ray"),
    ("sync requeue", ["sync", "requeue"], "sync.manage", "tech.tim", "ofc.ray"),
]
IDS = [c[0] for c in COMMANDS]


def _read() -> Read:
    hit = Hit("ncic", "ABC123", "NC", "stolen vehicle", 0, "exact")
    return Read(id="read-1", unit_id="unit-0001", camera_id="front", plate="ABC123", plate_raw="ABC123", state="NC",
                confidence=0.9, char_confidences=(0.9,) * 6, frames=3, box=(0, 0, 10, 5), captured_at=NOW,
                first_seen_at=NOW, clock_source="gps", frame_seq=1, capture_mono_ns=1, hits=(hit,))


@pytest.fixture
def unit(tmp_path, capsys):
    """A unit with the agency's roster, one read with a hit, a hotlist, a manual entry and a hold."""
    data = tmp_path / "data"
    conn = open_database(data)
    install_roster(conn)
    transaction(conn, lambda c: save_read(c, _read(), NOW))
    hit_id = conn.execute("SELECT id FROM hits").fetchone()[0]
    conn.close()
    listfile = tmp_path / "list.csv"
    listfile.write_text("PlateNumber,PlateState,Category\nABC123,NC,stolen vehicle\n")
    base = ["--data-dir", str(data), "--json"]
    assert main(["hotlist", "import", str(listfile), "--list", "ncic", "--format", "csv", *base,
                 "--user", "adm.ann"]) == 0
    assert main(["hotlist", "add", "DEF456", "--reason", "wanted person, warrant 26-5", *base,
                 "--user", "ofc.ray"]) == 0
    entry = json.loads(capsys.readouterr().out.splitlines()[-1])["id"]
    assert main(["hold", "add", "--plate", "ABC123", "--from", DAY, "--to", DAY, "--case", "26-1", "--officer", "L",
                 "--agency", "DPD", "--statement", "ALPR-1/1", "--camera", "front", "--parties", "State v. Roe",
                 "--facts", "Vehicle seen leaving the scene of the robbery", *base, "--user", "adm.ann"]) == 0
    hold = json.loads(capsys.readouterr().out.splitlines()[-1])["id"]
    fill = {"hit": hit_id[:8], "hold": hold, "entry": str(entry), "file": str(listfile)}
    return data, fill


def audit(data, since=0):
    conn = open_database(data)
    try:
        return [(r["event"], r["user"], json.loads(r["detail"])) for r in
                conn.execute("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq", (since,))]
    finally:
        conn.close()


def last_seq(data):
    conn = open_database(data)
    try:
        return conn.execute("SELECT coalesce(max(seq), 0) FROM audit_log").fetchone()[0]
    finally:
        conn.close()


def run(capsys, unit, argv, user):
    data, fill = unit
    argv = [a.format(**fill) for a in argv] + ["--data-dir", str(data), "--json"]
    if user is not None:
        argv += ["--user", user]
    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines() if line.startswith("{")], out.err


def test_the_table_names_every_action_a_command_uses():
    assert {c[2] for c in COMMANDS} <= set(ACTIONS)


@pytest.mark.parametrize("name, argv, action, allowed, refused", COMMANDS, ids=IDS)
def test_allowed_and_audited(unit, capsys, name, argv, action, allowed, refused):
    since = last_seq(unit[0])
    code, lines, err = run(capsys, unit, argv, allowed)
    assert code in (0, 1) and "refused" not in err, err
    if name not in ("hotlist show",):       # stale lists make `hotlist show` exit 1 by design
        assert code == 0, err
    entries = audit(unit[0], since)
    assert entries[0][:2] == ("login_ok", allowed)
    event, user, detail = entries[1]
    assert (event, user, detail["action"], detail["reason"]) == ("access", allowed, action, "allowed")


@pytest.mark.parametrize("name, argv, action, allowed, refused", [c for c in COMMANDS if c[4]],
                         ids=[c[0] for c in COMMANDS if c[4]])
def test_a_role_that_may_not_is_refused_and_audited(unit, capsys, name, argv, action, allowed, refused):
    since = last_seq(unit[0])
    code, lines, err = run(capsys, unit, argv, refused)
    assert code == 1 and "refused" in err and lines[-1]["reason"] == "role_not_allowed"
    entries = audit(unit[0], since)
    assert [(e, u, d.get("action"), d.get("reason")) for e, u, d in entries] == [
        ("login_ok", refused, action, None), ("access_refused", refused, action, "role_not_allowed")]


@pytest.mark.parametrize("name, argv, action, allowed, refused", COMMANDS, ids=IDS)
def test_removed_untrained_and_unknown_users_are_refused_and_audited(unit, capsys, name, argv, action, allowed,
                                                                     refused):
    since = last_seq(unit[0])
    for user, reason in (("ofc.gone", "inactive"), ("ofc.new", "untrained"), ("stranger", "unknown_user")):
        code, lines, err = run(capsys, unit, argv, user)
        assert code == 1 and "refused" in err and lines[-1]["reason"] == reason, (user, err)
    got = [(e, u, d.get("method") or d.get("reason")) for e, u, d in audit(unit[0], since)]
    assert got == [("login_failed", "ofc.gone", "inactive"), ("login_ok", "ofc.new", "no_credential"),
                   ("access_refused", "ofc.new", "untrained"), ("login_failed", "stranger", "unknown_user")]


@pytest.mark.parametrize("name, argv, action, allowed, refused", COMMANDS, ids=IDS)
def test_no_login_no_data(unit, capsys, name, argv, action, allowed, refused):
    since = last_seq(unit[0])
    with pytest.raises(SystemExit) as exited:       # --user is required: a usage error, nothing opened
        run(capsys, unit, argv, None)
    assert exited.value.code == 2 and audit(unit[0], since) == []


def test_no_roster_refuses_data_and_provisioning_is_audited(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["provision", "--data-dir", str(data), "--user", "tech.tim", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["malfunction"] == "no roster"
    d = ["--data-dir", str(data), "--json", "--user", "tech.tim"]
    assert main(["query", "--purpose", "stolen vehicle", *d]) == 1
    with pytest.raises(SystemExit) as exited:                # no --provisioning path to stored reads
        main(["query", "--purpose", "stolen vehicle", *d, "--provisioning"])
    assert exited.value.code == 2
    assert main(["purge", "--dry-run", *d]) == 1
    assert main(["purge", "--dry-run", *d, "--provisioning"]) == 0
    assert main(["audit", "verify", *d, "--provisioning"]) == 0
    events = [(e, d.get("method") or d.get("reason"), d.get("provisioning")) for e, _, d in audit(data)]
    assert events == [("unit_provisioned", None, None), ("login_failed", "no_roster", None),
                      ("login_failed", "no_roster", None), ("login_ok", "provisioning", None),
                      ("access", "provisioning", True), ("login_ok", "provisioning", None),
                      ("access", "provisioning", True)]


# --- issue 18: commands open only what exists, for the unit it belongs to, and fail as the README says --------
@pytest.mark.parametrize("name, argv, action, allowed, refused", COMMANDS, ids=IDS)
def test_exit_codes_for_missing_foreign_and_corrupt_unit_data(tmp_path, capsys, name, argv, action, allowed,
                                                              refused):
    fill = {"hit": "abcd1234", "hold": "h1", "entry": "1", "file": str(tmp_path / "list.csv")}
    (tmp_path / "list.csv").write_text("PlateNumber\nABC123\n")
    args = [a.format(**fill) for a in argv] + ["--json", "--user", allowed]
    missing = tmp_path / "typo"
    capsys.readouterr()
    assert main(args + ["--data-dir", str(missing)]) == 2
    assert "no unit data in" in capsys.readouterr().err and not missing.exists()
    other = tmp_path / "other"
    conn = open_database(other)
    install_roster(conn)
    conn.execute("INSERT INTO unit_identity (id, unit_id, bound_at) VALUES (1, 'unit-0042', 'x')")
    conn.close()
    assert main(args + ["--data-dir", str(other)]) == 2
    assert "belongs to unit 'unit-0042'" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "alpr.db").write_bytes(b"this is not a database\n" * 400)
    assert main(args + ["--data-dir", str(corrupt)]) == 3
    err = capsys.readouterr().err
    assert "not a SQLite database or it is damaged" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    binary = tmp_path / "unit.toml"
    binary.write_bytes(bytes(range(256)) * 8)
    assert main(args + ["--config", str(binary), "--data-dir", str(other)]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err


def test_ids_accept_a_unique_prefix_and_say_when_ambiguous_or_unknown(unit, capsys):
    data, fill = unit
    d = ["--data-dir", str(data), "--json", "--user", "adm.ann"]
    assert main(["hold", "renew", fill["hold"][:6], "--statement", "ALPR-1/2", *d]) == 0
    capsys.readouterr()
    assert main(["hold", "renew", "zz-no-such", *d]) == 2
    assert "no hold 'zz-no-such'" in capsys.readouterr().err
    officer = ["--data-dir", str(data), "--json", "--user", "ofc.ray"]
    assert main(["hit", "show", fill["hit"][:6], *officer]) == 0
    for wrong in ("zzzz9999", "ab"):
        capsys.readouterr()
        assert main(["hit", "show", wrong, *officer]) == 2
        assert "hit" in json.loads(capsys.readouterr().out)["error"]


def test_people_get_tables_and_empty_results_say_so(unit, capsys, tmp_path):
    data, fill = unit
    d = ["--data-dir", str(data)]
    capsys.readouterr()
    assert main(["query", "--purpose", "stolen vehicle", "--plate", "ABC123", *d, "--user", "ofc.ray"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["captured", "(UTC)", "plate", "state"] and "ABC123" in out[1]
    assert out[1].startswith(NOW.strftime("%Y-%m-%d %H:%M:%SZ"))
    assert main(["query", "--purpose", "stolen vehicle", "--plate", "NOPE99", *d, "--user", "ofc.ray"]) == 0
    assert capsys.readouterr().out.strip() == "no stored reads match"
    assert main(["hold", "list", "--status", "expired", *d, "--user", "aud.al"]) == 0
    assert capsys.readouterr().out.strip() == "no expired holds on this unit"
    assert main(["hotlist", "show", *d, "--user", "tech.tim"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["list", "source"] and lines[1].split()[-2] == "0min"
    empty = tmp_path / "empty"
    open_database(empty).close()
    conn = open_database(empty)
    install_roster(conn)
    conn.close()
    assert main(["hotlist", "match", "ABC123", "--data-dir", str(empty), "--user", "ofc.ray"]) == 1
    assert "no hotlists loaded" in capsys.readouterr().err


def test_data_at_rest_is_not_world_readable(tmp_path):
    import os
    import subprocess
    import sys

    data = tmp_path / "data"
    env = dict(os.environ)
    subprocess.run(f"umask 022 && exec {sys.executable} -m firmware provision --data-dir {data} --user tech.tim",
                   shell=True, check=True, capture_output=True, env=env, timeout=60)
    modes = {p.name: p.stat().st_mode & 0o777 for p in [data, *data.iterdir()]}
    assert modes["data"] == 0o750 and modes["alpr.db"] == 0o640, {k: oct(v) for k, v in modes.items()}
    assert all(not m & 0o027 for m in modes.values())


def test_purpose_screen_for_manual_entries_everywhere(unit, capsys):
    data, _ = unit
    d = ["--data-dir", str(data), "--json", "--user", "ofc.ray"]
    for reason, why in ((".", "no_reason"), ("speed enforcement", "prohibited"), ("hit-and-run suspect", "prohibited"),
                        ("suspect", "no_reason")):
        capsys.readouterr()
        assert main(["hotlist", "add", "QRS321", "--reason", reason, *d]) == 1
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["reason"] == why
    conn = open_database(data)
    try:
        assert conn.execute("SELECT count(*) FROM hotlist_entries WHERE plate = 'QRS321'").fetchone()[0] == 0
        refused = conn.execute("SELECT count(*) FROM audit_log WHERE event = 'query_refused'").fetchone()[0]
    finally:
        conn.close()
    assert refused == 4


def _leaf_commands():
    import argparse

    from firmware.cli import build_parser

    found = {}

    def walk(parser, path):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[" ".join(path)] = {o for a in parser._actions for o in a.option_strings}
            return
        for name, sub in subs[0].choices.items():
            walk(sub, [*path, name])

    walk(build_parser(), [])
    return found


def test_every_command_takes_json_and_data_commands_take_a_user():
    commands = _leaf_commands()
    assert [c for c, opts in commands.items() if "--json" not in opts] == []
    data_commands = {" ".join(c[1][:2]) if c[1][0] in ("hit", "hotlist", "hold", "maintenance", "audit", "sync")
                     else c[1][0] for c in COMMANDS}
    assert [c for c in data_commands if "--user" not in commands[c]] == []


def test_an_unexpected_failure_is_one_line_and_exit_3(unit, capsys, monkeypatch):
    from firmware.retention import purge

    def broken(self, dry_run=False):
        raise RuntimeError("disk controller said no")

    monkeypatch.setattr(purge.Purger, "run", broken)
    capsys.readouterr()
    assert main(["purge", "--data-dir", str(unit[0]), "--user", "tech.tim"]) == 3
    err = capsys.readouterr().err
    assert err.strip() == ("internal error: RuntimeError: disk controller said no (set ALPR_DEBUG=1 for the "
                           "traceback)")


def test_single_results_for_people_are_aligned_with_utc_times(capsys):
    from firmware.cli import emit

    emit({"event": "x", "oldest_queued_at": "2026-05-01T12:03:04.123Z", "ok": True, "n": None}, as_json=False)
    assert capsys.readouterr().out.splitlines() == ["event:             x",
                                                    "oldest_queued_at:  2026-05-01 12:03:04Z",
                                                    "ok:                yes", "n:                 -"]


def test_the_units_own_audit_check_needs_no_person_and_is_audited(unit, capsys):
    data, _ = unit
    since = last_seq(data)
    assert main(["audit", "verify", "--data-dir", str(data), "--json", "--system"]) == 0
    assert [(e, u, d["action"], d["reason"]) for e, u, d in audit(data, since)] == [
        ("access", "system", "audit.verify", "system")]
    with pytest.raises(SystemExit):
        main(["audit", "verify", "--data-dir", str(data), "--system", "--user", "tech.tim"])
    with pytest.raises(SystemExit):
        main(["purge", "--data-dir", str(data), "--system"])


def test_main_leaves_the_callers_umask_alone(unit):
    import os

    before = os.umask(0o022)
    try:
        main(["audit", "verify", "--data-dir", str(unit[0]), "--system"])
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)
