"""Hotlist files that try to knock the parser over (issue 18 item 2): every line stands alone.

The cases the fault injection found (a `"` with a CR, CR-only files, binary data, UTF-16) first,
then property tests over arbitrary bytes: no exception escapes, and good lines interleaved with
garbage are always stored.
"""

from __future__ import annotations

import codecs
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.hotlist.formats import BadRow, Row, parse_lines, parse_spec
from firmware.hotlist.store import HotlistError, import_hotlist
from firmware.hotlist.textfile import MAX_LINE_CHARS, TextInfo, text_lines
from firmware.storage.db import open_database, transaction
from rosters import provisioned

REPO = Path(__file__).resolve().parent.parent
AT = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
SPEC = "delimited delim=; cols=plate,state,category"


def parse(data: bytes, spec: str | None = SPEC, block: int = 1 << 20):
    info = TextInfo()
    rows = list(parse_lines(text_lines(data, block=block, info=info), parse_spec(spec) if spec else None))
    return rows, info


def good(rows):
    return [(r.plate, r.state, r.category) for r in rows if isinstance(r, Row)]


def bad(rows):
    return {r.line: r.reason for r in rows if isinstance(r, BadRow)}


@pytest.fixture
def db(tmp_path):
    conn = open_database(tmp_path / "data")
    yield conn
    conn.close()


def load(conn, data: bytes, **kw):
    return transaction(conn, lambda c: import_hotlist(c, data, name="stolen", at=AT, unit_id="unit-0001",
                                                      historical=False, **kw))


def stored(conn):
    return sorted(((r[0], r[1], r[2]) for r in conn.execute("SELECT plate, state, category FROM hotlist_entries")),
                  key=repr)


# --- the findings, one by one ---------------------------------------------------------------

def test_a_quote_with_a_carriage_return_is_one_bad_line_not_an_aborted_load(db):
    data = b'GOOD001;CA;stolen\nBAD"1\r;CA\nGOOD002;CA;stolen\n'
    report = load(db, data)       # a lone CR ends a line (universal newlines): BAD"1 and ;CA are lines 2 and 3
    assert stored(db) == [("GOOD001", "CA", "stolen"), ("GOOD002", "CA", "stolen")]
    assert report.accepted == 2 and report.bad == 1 and report.junk == 1
    assert report.errors == [{"line": 2, "reason": "unbalanced quotes"},
                             {"line": 3, "reason": "junk plate (NONE/UNK/empty)"}]
    assert report.newlines == "mixed (lf 3, cr 1)"


def test_a_cr_only_file_never_merges_rows(db):
    report = load(db, b"GOOD001;CA;stolen\rGOOD002;CA;stolen\rGOOD003;TX;felony\r")
    assert stored(db) == [("GOOD001", "CA", "stolen"), ("GOOD002", "CA", "stolen"), ("GOOD003", "TX", "felony")]
    assert report.newlines == "cr" and report.bad == 0


def test_crlf_and_a_crlf_split_between_blocks():
    data = b"".join(f"P{i:05d};CA;x\r\n".encode() for i in range(300))
    whole, info = parse(data)
    assert len(good(whole)) == 300 and info.newlines() == "crlf"
    for block in (1, 2, 3, 11, 64):
        rows, info = parse(data, block=block)
        assert good(rows) == good(whole) and info.newlines() == "crlf", block


def test_nul_and_control_characters_make_only_their_line_bad():
    rows, _ = parse(b"GOOD001;CA\nBA\x00D1;CA\nGOOD002;CA;sto\x07len\nGOOD003;TX\n")
    assert good(rows) == [("GOOD001", "CA", None), ("GOOD003", "TX", None)]
    assert "NUL" in bad(rows)[2] and "0x07" in bad(rows)[3]


@pytest.mark.parametrize("block", [7, 1000, 1 << 20])
def test_an_overlong_line_is_reported_by_number_and_never_held_whole(block):
    huge = b"A" * (3 * 1024 * 1024)
    data = b"GOOD001;CA\n" + huge + b"\nGOOD002;CA\n" + b"B;" * 40_000 + b"\nGOOD003;TX\n" + huge
    rows, info = parse(data, block=block)
    assert good(rows) == [("GOOD001", "CA", None), ("GOOD002", "CA", None), ("GOOD003", "TX", None)]
    assert sorted(bad(rows)) == [2, 4, 6] and all("longer than" in r for r in bad(rows).values())
    assert info.overlong_lines == 3 and MAX_LINE_CHARS < len(huge)


def test_boms_utf16_and_latin1_are_read_and_named(db):
    text = "GOOD001;CA;Ren\u00e9\nGOOD002;TX;stolen\n"
    for data, name in [
        (codecs.BOM_UTF8 + text.encode(), "utf-8 (BOM)"),
        (text.encode("utf-16"), "utf-16-le (BOM)"),
        (codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "utf-16-be (BOM)"),
        (text.encode("utf-16-le"), "utf-16-le (no BOM, detected from the bytes)"),
        (text.encode("utf-32"), "utf-32-le (BOM)"),
    ]:
        report = load(db, data)
        assert stored(db) == [("GOOD001", "CA", "René"), ("GOOD002", "TX", "stolen")], name
        assert report.encoding == name and report.bad == 0
    report = load(db, "GOOD001;CA;Ren\u00e9\nGOOD002;TX;stolen\n".encode("latin-1"))
    assert report.encoding == "utf-8, 1 lines not UTF-8 read as latin-1 (first: line 1)"
    assert stored(db)[0] == ("GOOD001", "CA", "René")
    assert load(db, "GOOD001;CA;Ren\u00e9\n".encode("latin-1")).encoding == "latin-1 (not UTF-8)"


def test_ascii_after_a_stray_bom_is_not_mistaken_for_utf16():
    rows, info = parse(codecs.BOM_UTF16_LE + b"X\nGOOD001;CA\nGOOD002;TX\n")
    assert ("GOOD001", "CA", None) in good(rows) and ("GOOD002", "TX", None) in good(rows)
    assert info.codec == "utf-8"


def test_unbalanced_quotes_are_a_bad_line_and_balanced_ones_still_parse():
    rows, _ = parse(b'"GOOD001";CA\n"BAD1;CA\nGOOD002;"TX";"felony; armed"\n')
    assert good(rows) == [("GOOD001", "CA", None), ("GOOD002", "TX", "felony; armed")]
    assert bad(rows) == {2: "unbalanced quotes"}


def test_a_signed_replace_that_is_binary_or_empty_is_refused_in_one_line(db):
    load(db, b"KEEP001;CA\n")
    for data, words in [(bytes(range(256)) * 64, "binary"), (b"", "empty"), (b"# only a comment\n\n", "empty"),
                        (b"NONE;CA\nUNK;TX\n", "no usable entry")]:
        with pytest.raises(HotlistError) as raised:
            load(db, data)
        assert words in str(raised.value) and "\n" not in str(raised.value)
        assert stored(db) == [("KEEP001", "CA", None)]        # the list in force is untouched
    with pytest.raises(HotlistError, match="binary"):
        load(db, bytes(range(256)) * 64, mode="add")
    assert load(db, b"", allow_empty=True).entries == 0       # clearing a list stays possible, deliberately


# --- the CLI: one line, never a traceback --------------------------------------------------------------

def run_import(tmp_path, data: bytes, *extra):
    listfile = tmp_path / "list.txt"
    listfile.write_bytes(data)
    provisioned(tmp_path / "data")
    return subprocess.run([sys.executable, "-m", "firmware", "hotlist", "import", str(listfile), "--list", "stolen",
                           "--data-dir", str(tmp_path / "data"), "--json", "--user", "adm.ann", *extra], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("data, words", [
    (bytes(range(256)) * 256, "binary"),
    (b"\x89PNG\r\n\x1a\n" + bytes(4096), "binary"),
    (b"", "empty"),
])
def test_cli_binary_or_empty_input_is_one_line_and_exit_2(tmp_path, data, words):
    result = run_import(tmp_path, data)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_loads_the_good_lines_and_reports_the_bad_ones_by_number(tmp_path):
    import json

    result = run_import(tmp_path, b'GOOD001;CA;stolen\r\nBAD"1\r2;CA\x00\r\nGOOD002;CA;stolen\r\n')
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["accepted"] == 2 and report["encoding"] == "utf-8"
    assert [e["line"] for e in report["errors"]] == [2, 3]


# --- property tests ----------------------------------------------------------------------------------

_plate = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=1, max_size=8).filter(
    lambda p: p not in {"NONE", "UNK", "UNKN", "NULL", "UNKNOWN", "NA", "N/A"})
_good_line = st.tuples(_plate, st.sampled_from([None, "CA", "TX", "QC"]),
                       st.sampled_from([None, "stolen", "felony vehicle", "amber alert"]))
_garbage = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b'"', b'"""', b'a;"b', b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\xfe\xff\x00A", b";;;;",
                     b"#", b" ", b"\t", b"A" * 70_000, b"\x00A" * 300, b"\x85", "\u2028".encode()]),
).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_ending = st.sampled_from([b"\n", b"\r\n", b"\r"])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), spec=st.sampled_from([None, SPEC, "csv", "fixed cols=plate:1:8,state:9:2",
                                                            "ncic", "delimited delim=tab cols=plate,-,category"]),
       block=st.sampled_from([1, 5, 64, 1 << 20]))
def test_no_exception_escapes_for_arbitrary_bytes(data, spec, block):
    rows, info = parse(data, spec, block)
    assert all(isinstance(r, (Row, BadRow)) for r in rows)
    assert [r.line for r in rows] == sorted(r.line for r in rows)
    assert info.encoding() and info.newlines()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(st.one_of(_good_line, _garbage), min_size=1, max_size=40), endings=st.data())
def test_good_lines_interleaved_with_garbage_are_always_stored(db, lines, endings):
    """While the garbage is the minority (a file mostly not text is refused whole: the next test)."""
    garbage = sum(1 for item in lines if not isinstance(item, tuple))
    goods = endings.draw(st.lists(_good_line, min_size=garbage + 1, max_size=garbage + 5))
    body = lines + goods                     # more good lines than garbage ones
    parts, want = [], set()
    for item in body:
        if isinstance(item, tuple):
            plate, state, category = item
            parts.append(f"{plate};{state or ''};{category or ''}".encode())
            want.add(item)
        else:
            parts.append(item)
        parts.append(endings.draw(_ending))
    report = load(db, b"".join(parts), fmt=SPEC)
    got = set(stored(db))
    assert want <= got, (want - got, report.errors[:5])
    assert report.accepted >= len([i for i in body if isinstance(i, tuple)])


def test_a_file_mostly_not_text_is_refused_whole_and_a_few_bad_lines_are_not(db, tmp_path):
    """More lines that cannot be text (NUL or control bytes) than half the file: refused, the list in force
    kept, by every import path; up to half: the good rows load and the bad ones are reported by number."""
    from firmware.hotlist.staged import import_hotlist_staged

    junk = [b"\x00\x17\x9c\x01binary", b"\x1b[0m\x07", bytes(range(1, 9)) + b"ABC123"]
    mostly = b"".join(junk[i % 3] + b"\n" + f"GOOD{i:03d};CA\n".encode() for i in range(20)) + junk[0] + b"\n"
    half = b"".join(junk[i % 3] + b"\n" + f"GOOD{i:03d};CA\n".encode() for i in range(20))
    load(db, b"KEEP001;CA\n")
    for mode in ("replace", "add", "remove"):
        with pytest.raises(HotlistError, match=r"not a text hotlist \(binary data: 21 of its 41 lines are not text"):
            load(db, mostly, mode=mode)
        assert stored(db) == [("KEEP001", "CA", None)]
    with pytest.raises(HotlistError, match="21 of its 41 lines"):
        import_hotlist_staged(lambda job: transaction(db, job), mostly, name="stolen", at=AT, unit_id="unit-0001")
    assert stored(db) == [("KEEP001", "CA", None)]
    assert db.execute("SELECT count(*) FROM hotlists").fetchone()[0] == 1     # no staging list left behind
    report = load(db, half)
    assert report.accepted == 20 and report.bad == report.unreadable == 20
    assert [e["line"] for e in report.errors] == list(range(1, 41, 2)) and len(stored(db)) == 20
    big = tmp_path / "random.bin"                 # the sweep's finding: 100 KB of random bytes loaded 2 "entries"
    big.write_bytes(random.Random(7).randbytes(100_000))
    with pytest.raises(HotlistError, match="random.bin is not a text hotlist"):
        import_hotlist_staged(lambda job: transaction(db, job), big, name="stolen", at=AT, unit_id="unit-0001")
    assert len(stored(db)) == 20


# --- over the downlink: a validly signed list with bad lines ---------------------------------------------

def test_a_signed_list_with_bad_lines_loads_the_good_ones_and_audits_the_bad(tmp_path):
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from firmware.clock import ManualClock
    from firmware.storage.db import Writer
    from firmware.sync.config import SyncConfig
    from firmware.sync.downlink import hotlist_manifest, sign
    from firmware.sync.inbox import DownlinkInbox
    from firmware.sync.messages import downlink_topic

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    conn = open_database(tmp_path / "data")
    writer = Writer(conn).start()
    inbox = DownlinkInbox(SyncConfig(agency="cmpd", downlink_public_key=public), writer, "unit-0001", ManualClock(AT))

    def send(seq, content, mode="replace"):
        manifest, chunks = hotlist_manifest(content, name="stolen", chunk_size=16, mode=mode)
        results = [inbox.handle(downlink_topic("cmpd", "all", "hotlist", "stolen"),
                                sign(key, kind="hotlist", agency="cmpd", target="all", seq=seq, data=manifest,
                                     issued_at=AT))]
        results += [inbox.handle(downlink_topic("cmpd", "all", "hotlist", "stolen", str(seq), str(i)), c)
                    for i, c in enumerate(chunks)]
        return results[-1]

    try:
        assert send(1, b'GOOD001;CA\r\nBAD"1\r;CA\r\nGOOD002;TX\r\nBA\x00D2;CA\r\n') == "accepted"
        assert send(2, bytes(range(256)) * 8, mode="add") == "rejected"
        assert send(3, b"# nothing today\n", mode="add") == "rejected"
    finally:
        writer.stop()
    assert sorted(r[0] for r in conn.execute("SELECT plate FROM hotlist_entries")) == ["GOOD001", "GOOD002"]
    accepted = [json.loads(r[0]) for r in conn.execute("SELECT detail FROM audit_log WHERE event ="
                                                        " 'downlink_accepted'")]
    report = accepted[0]["summary"]["report"]
    assert report["accepted"] == 2 and report["encoding"] == "utf-8"
    assert [(e["line"], e["reason"]) for e in report["errors"]] == [
        (2, "unbalanced quotes"), (3, "junk plate (NONE/UNK/empty)"),
        (5, "NUL byte in the line (binary data, or UTF-16 text?)")]
    loaded = json.loads(conn.execute("SELECT detail FROM audit_log WHERE event = 'hotlist.import'").fetchone()[0])
    assert loaded["errors"] == report["errors"] and loaded["newlines"] == "mixed (crlf 4, cr 1)"
    rejected = [json.loads(r[0]) for r in conn.execute("SELECT detail FROM audit_log WHERE event ="
                                                        " 'downlink_rejected'")]
    assert [r["reason"] for r in rejected] == ["invalid", "invalid"]
    assert "binary" in rejected[0]["detail"] and "empty" in rejected[1]["detail"]
    assert all("\n" not in r["detail"] for r in rejected)
    conn.close()
