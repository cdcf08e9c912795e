"""Hotlist file formats: every documented delimiter, fixed width, CSV with header, NCIC CODE/value,
junk and malformed lines reported by number without stopping the load."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.hotlist.formats import BadRow, FormatError, Row, parse_lines, parse_spec, text_lines


def rows(text: str, spec: str | None = None):
    return list(parse_lines(text_lines(text.encode()), parse_spec(spec) if spec else None))


def good(result):
    return [(r.plate, r.state) for r in result if isinstance(r, Row)]


@pytest.mark.parametrize("delim, name", [(";", ";"), (",", ","), (":", ":"), ("\t", "tab")])
def test_every_documented_delimiter(delim, name):
    text = f"ABC123{delim}CA{delim}stolen\nxyz-789{delim}tx{delim}felony vehicle\n"
    result = rows(text, f"delimited delim={name} cols=plate,state,category")
    assert good(result) == [("ABC123", "CA"), ("XYZ789", "TX")]
    assert [r.category for r in result] == ["stolen", "felony vehicle"]


def test_cloudrunner_trailing_semicolon_and_guess():
    result = rows("ABC123;\nABC124;CA\n")       # doc sample shape; no --format: guessed
    assert good(result) == [("ABC123", None), ("ABC124", "CA")]


def test_autovu_permit_doc_sample_with_dates_and_extra_attribute():
    text = "QC;DEF228;2012-01-31;2012-05-31;PermitID_1\nQC;345ABG;2012-01-31;2012-07-25;PermitID_2\n"
    result = rows(text, "delimited delim=; cols=PlateState,PlateNumber,EffectiveDate,ExpiryDate,PermitID")
    assert good(result) == [("DEF228", "QC"), ("345ABG", "QC")]
    first = result[0]
    assert first.effective == datetime(2012, 1, 31, tzinfo=timezone.utc)
    assert first.expiry == datetime(2012, 6, 1, tzinfo=timezone.utc)   # valid through the whole expiry day
    assert first.annotations == {"PermitID": "PermitID_1"}


def test_fixed_width_one_based_columns():
    text = "ABC123  CASV\nAB 12   TXSP\nNONE    CASV\n"
    result = rows(text, "fixed cols=LIC:1:8,LIS:9:2,MKE:11:2")
    assert good(result) == [("ABC123", "CA"), ("AB12", "TX")]
    assert result[0].annotations == {"MKE": "SV"}
    assert isinstance(result[2], BadRow) and result[2].junk and result[2].line == 3


def test_csv_with_header_keeps_ncic_fields_as_annotations():
    text = ("LIC,LIS,LIT,MKE,NIC,ORI,OCA,VMA,VCO,Category\n"
            "ABC123,CA,PC,SV,V123456789,CA0010000,22-1,FORD,BLU,stolen vehicle\n"
            "\"XY Z9\",NV,C0,FV,V987654321,NV0020000,,HOND,RED,\n")
    result = rows(text, "csv")
    assert good(result) == [("ABC123", "CA"), ("XYZ9", "NV")]
    assert result[0].annotations == {"LIT": "PC", "MKE": "SV", "NIC": "V123456789", "ORI": "CA0010000",
                                     "OCA": "22-1", "VMA": "FORD", "VCO": "BLU"}
    assert result[0].category == "stolen vehicle" and result[1].category is None
    assert result[1].annotations["LIT"] == "C0"                     # never "corrected" to CO
    assert result[0].line == 2 and result[1].line == 3


def test_headerless_guess_uses_the_first_lines_width():
    result = rows("ABC123;CA;stolen;FORD\nXYZ789;TX;;\n")
    assert good(result) == [("ABC123", "CA"), ("XYZ789", "TX")]
    assert result[0].category == "stolen" and result[0].annotations == {"F4": "FORD"}


def test_csv_header_guessed_without_format():
    assert good(rows("PlateNumber;PlateState\nABC123;CA\n")) == [("ABC123", "CA")]


def test_ncic_code_value_records():
    text = "MKE/SV.ORI/CA0010000.LIC/ABC123.LIS/CA.LIT/PC.NIC/V123456789.VMA/FORD\nMKE/SV.LIC/UNK.LIS/CA\n"
    result = rows(text)
    assert good(result) == [("ABC123", "CA")]
    assert result[0].annotations["NIC"] == "V123456789" and result[0].annotations["MKE"] == "SV"
    assert isinstance(result[1], BadRow) and result[1].junk


def test_malformed_file_keeps_good_rows_and_reports_bad_lines():
    text = "\n".join([
        "# agency list",       # 1 comment
        "ABC123;CA",           # 2 good
        "NONE;CA",             # 3 junk
        ";TX",                 # 4 junk (empty)
        "ABCDEFGHIJKL;CA",     # 5 too long
        "AB*C*D*E;CA",         # 6 three wildcards
        "GOOD1;CALIF",         # 7 bad state
        "GOOD2;CA;extra",      # 8 too many fields
        "",                    # 9 blank
        "ÄBC12;CA",            # 10 odd characters
        "XYZ789;NV",           # 11 good
        "S*K3*7;",             # 12 good wildcard entry
    ])
    result = rows(text, "delimited delim=; cols=plate,state")
    assert good(result) == [("ABC123", "CA"), ("XYZ789", "NV"), ("S*K3*7", None)]
    bad = {r.line: r for r in result if isinstance(r, BadRow)}
    assert sorted(bad) == [3, 4, 5, 6, 7, 8, 10]
    assert bad[3].junk and bad[4].junk and not bad[5].junk
    assert "longer" in bad[5].reason and "wildcard" in bad[6].reason and "state" in bad[7].reason
    assert "fields" in bad[8].reason


def test_bad_dates_are_bad_rows():
    result = rows("ABC123;2026-13-45\nABC124;2026-02-01T10:00:00Z\n", "delimited delim=; cols=plate,expiry")
    assert isinstance(result[0], BadRow) and "expiry" in result[0].reason
    assert result[1].expiry == datetime(2026, 2, 1, 10, tzinfo=timezone.utc)


def test_latin1_and_bom_are_read():
    data = b"\xef\xbb\xbfABC123;CA;Jos\xc3\xa9\nXYZ789;TX;Ren\xe9\n"
    result = list(parse_lines(text_lines(data), parse_spec("delimited delim=; cols=plate,state,OWNER")))
    assert good(result) == [("ABC123", "CA"), ("XYZ789", "TX")]
    assert result[1].annotations == {"OWNER": "René"}


@pytest.mark.parametrize("spec", ["tsv", "delimited delim=#", "fixed cols=plate:0:5", "fixed cols=state:1:2",
                                  "delimited cols=state", "csv sep=,"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(FormatError):
        parse_spec(spec)


def test_block_boundaries_do_not_split_or_renumber_lines():
    data = b"".join(f"P{i:05d};CA\r\n".encode() for i in range(500)) + b"LAST1;TX"
    whole = list(parse_lines(text_lines(data), None))
    for block in (1, 7, 64, 1000):
        assert list(parse_lines(text_lines(data, block=block), None)) == whole
    assert len(whole) == 501 and whole[-1].line == 501 and whole[-1].plate == "LAST1"


_plate = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=1, max_size=8).filter(
    lambda p: p not in {"NONE", "UNK", "UNKN", "NULL"})
_state = st.one_of(st.none(), st.sampled_from(["CA", "TX", "QC", "NV"]))


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(st.tuples(_plate, _state), min_size=1, max_size=30),
       delim=st.sampled_from([(";", ";"), (",", ","), (":", ":"), ("\t", "tab")]), spaced=st.booleans())
def test_delimited_and_fixed_round_trip(entries, delim, spaced):
    char, name = delim
    text = "".join(f"{' ' + p.lower() + ' ' if spaced else p}{char}{s or ''}\n" for p, s in entries)
    assert good(rows(text, f"delimited delim={name} cols=plate,state")) == entries
    fixed = "".join(f"{p:<10}{s or '':<2}\n" for p, s in entries)
    assert good(rows(fixed, "fixed cols=plate:1:10,state:11:2")) == entries
