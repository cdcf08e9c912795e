"""NMEA framing, decoding and epoch assembly on hand-made sentences, plus a fuzzing property test."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.gnss.epoch import EpochAssembler, parse_bytes
from firmware.gnss.nmea import Framer, decode, parse_coord, parse_date, parse_tod


def nmea(body: str) -> str:
    value = 0
    for ch in body.encode():
        value ^= ch
    return f"${body}*{value:02X}"


GGA = "GPGGA,123519.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"
RMC = "GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W"
GSA = "GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1"


def lines(*bodies: str) -> bytes:
    return ("\r\n".join(nmea(b) for b in bodies) + "\r\n").encode()


def test_one_epoch_from_gga_rmc_gsa():
    fixes = parse_bytes(lines(GGA, RMC, GSA))
    assert len(fixes) == 1
    fix = fixes[0]
    assert fix.time == datetime(1994, 3, 23, 12, 35, 19, tzinfo=timezone.utc)
    assert fix.lat == pytest.approx(48 + 7.038 / 60, abs=1e-9)
    assert fix.lon == pytest.approx(11 + 31.0 / 60, abs=1e-9)
    assert fix.mode == 3 and fix.quality == 1 and fix.sats == 8
    assert fix.hdop == 1.3  # GSA came last and says 1.3
    assert fix.alt_m == 545.4
    assert fix.speed_mps == pytest.approx(22.4 * 0.514444, rel=1e-4)
    assert fix.track_deg == 84.4


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "GB", "BD", "QZ", "GI"])
def test_any_talker(talker):
    fixes = parse_bytes(lines(talker + GGA[2:], talker + RMC[2:]))
    assert len(fixes) == 1 and fixes[0].has_position and fixes[0].time is not None


def test_gns_gll_zda_vtg_gst_decoded():
    bodies = [
        "GNGNS,014035.00,4332.69262,S,17235.48549,E,RRAANN,13,0.9,25.63,11.24,,,V",
        "GNGLL,4332.69262,S,17235.48549,E,014035.00,A,D",
        "GNVTG,77.5,T,,M,0.1,N,0.19,K,D",
        "GNZDA,014035.00,21,10,2023,00,00",
        "GNGST,014035.00,9.2,,,,0.013,0.012,0.020",
    ]
    counters = Counter()
    fixes = parse_bytes(lines(*bodies), counters=counters)
    assert len(fixes) == 1
    fix = fixes[0]
    assert fix.time == datetime(2023, 10, 21, 1, 40, 35, tzinfo=timezone.utc)
    assert fix.lat == pytest.approx(-(43 + 32.69262 / 60), abs=1e-9)
    assert fix.quality == 4  # GNS mode 'R' = RTK fixed
    assert fix.speed_mps == pytest.approx(0.19 / 3.6)
    assert fix.sats == 13 and fix.mode == 3
    assert counters["unparseable"] == 0


def test_bad_checksum_truncated_binary_and_proprietary_are_counted_and_skipped():
    good_a, good_b = nmea(GGA), nmea(RMC)
    bad = good_a[:-2] + ("00" if good_a[-2:] != "00" else "11")
    truncated = good_b[:30]
    ubx = bytes([0xB5, 0x62, 0x01, 0x07, 0x5C, 0x00]) + bytes(range(40)) + b"$\x00\xff"
    rtcm = bytes([0xD3, 0x00, 0x13, 0x3E, 0xD0]) + b"\x10$GP\n\x00"
    data = b"\r\n".join([
        bad.encode(), truncated.encode(), ubx + good_a.encode(), rtcm,
        nmea("PUBX,00,123519.00,4807.038,N").encode(), good_b.encode(), b"# a comment line", b"",
    ])
    counters = Counter()
    fixes = parse_bytes(data, counters=counters)
    assert counters["bad_checksum"] == 1
    assert counters["truncated"] >= 1
    assert counters["binary_lines"] >= 2
    assert counters["proprietary"] == 1
    assert counters["sentences"] == 3  # the GGA behind the UBX frame, the PUBX, the RMC
    assert len(fixes) == 1 and fixes[0].has_position


def test_lowercase_checksum_accepted_missing_checksum_rejected():
    body = "GPRMC,205206.00,A,4405.556,N,12118.398,W,000.0,000.0,090605,0.0,E"
    lower = nmea(body)[:-2] + nmea(body)[-2:].lower()
    assert Framer().frame_line(lower.encode()) == [body]
    counters = Counter()
    assert Framer(counters).frame_line(("$" + body).encode()) == []
    assert counters["truncated"] == 1


def test_framer_keeps_partial_line_between_reads():
    data = lines(GGA, RMC) + lines(GGA.replace("123519", "123520"))
    framer = Framer()
    got = []
    for i in range(0, len(data), 7):
        got += framer.feed(data[i:i + 7])
    assert got == [GGA, RMC, GGA.replace("123519", "123520")]


@pytest.mark.parametrize("text,expected", [
    ("230394", date(1994, 3, 23)), ("010100", date(2000, 1, 1)), ("311299", date(1999, 12, 31)),
    ("2208-1", None), ("320125", None), ("", None), ("0101", None), ("011325", None),
])
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("000000", 0), ("235959.99", 86_399_990_000), ("123519", 45_319_000_000),
    ("240000", None), ("126000", None), ("12", None), ("1235a9", None), ("123519.x", None),
])
def test_parse_tod(text, expected):
    assert parse_tod(text) == expected


@pytest.mark.parametrize("value,hemi,is_lat,expected", [
    ("4807.038", "N", True, 48.1173), ("4807.038", "S", True, -48.1173), ("00000.000", "E", False, 0.0),
    ("17959.999", "W", False, -(179 + 59.999 / 60)), ("9100.000", "N", True, None), ("4860.000", "N", True, None),
    ("4807.038", "E", True, None), ("", "N", True, None), ("48x7.0", "N", True, None), ("07.0", "N", True, None),
])
def test_parse_coord(value, hemi, is_lat, expected):
    got = parse_coord(value, hemi, is_lat)
    assert got == (pytest.approx(expected, abs=1e-9) if expected is not None else None)


def test_impossible_dates_rejected_for_live_receivers():
    """A 1980 cold-start date and a week-rollover date (1999 for 2019) are counted, never used."""
    counters = Counter()
    asm = EpochAssembler(min_date=date(2025, 1, 1), max_date=date(2044, 1, 1), counters=counters)
    out = []
    for i, (tod, dmy) in enumerate([("000001", "060180"), ("000002", "220899"), ("000003", "150625")]):
        body = RMC.replace("123519.00", tod + ".00").replace("230394", dmy)
        out += asm.feed(decode(body), i)
    out += asm.flush()
    assert [f.time for f in out] == [None, None, datetime(2025, 6, 15, 0, 0, 3, tzinfo=timezone.utc)]
    assert counters["implausible_date"] == 2


def test_gga_only_epochs_borrow_date_and_roll_over_midnight():
    rmc = RMC.replace("123519.00", "235959.00")
    gga_after = GGA.replace("123519.00", "000000.00")
    fixes = parse_bytes(lines(rmc, gga_after))
    assert [f.time for f in fixes] == [datetime(1994, 3, 23, 23, 59, 59, tzinfo=timezone.utc),
                                       datetime(1994, 3, 24, 0, 0, 0, tzinfo=timezone.utc)]


def test_no_fix_epochs_have_no_position():
    void_rmc = RMC.replace(",A,", ",V,")
    gga0 = GGA.replace(",1,08,", ",0,00,").replace("123519", "123520")
    gsa1 = "GPGSA,A,1,,,,,,,,,,,,,99.9,99.9,99.9"
    fixes = parse_bytes(lines(void_rmc, gga0, gsa1))
    assert [f.mode for f in fixes] == [1, 1]
    assert all(f.lat is None and not f.has_position for f in fixes)


def test_null_island_and_out_of_range_positions_rejected():
    zero = GGA.replace("4807.038,N,01131.000,E", "0000.000,N,00000.000,E")
    counters = Counter()
    fixes = parse_bytes(lines(zero), counters=counters)
    assert not fixes[0].has_position and counters["bad_position"] == 1
    far = GGA.replace("01131.000", "18131.000")
    assert not parse_bytes(lines(far))[0].has_position


def test_early_close_emits_epoch_when_learned_ender_arrives():
    asm = EpochAssembler(early_close=True)
    feed = []
    for t in ("100000", "100001", "100002"):
        for body in (GGA, RMC, GSA):
            feed.append(body.replace("123519", t))
    emitted_after = []
    for i, body in enumerate(feed):
        if asm.feed(decode(body), i):
            emitted_after.append(i)
    # epoch 1 closes when epoch 2 starts (index 3); then GSA is learned as the ender
    assert emitted_after == [3, 5, 8]


_sentence_bodies = st.sampled_from([GGA, RMC, GSA, "GNVTG,77.5,T,,M,0.1,N,0.19,K,D",
                                    "GNZDA,014035.00,21,10,2023,00,00", "GNGLL,4332.69262,S,17235.48549,E,014035.00,A,D",
                                    "GNGNS,014035.00,4332.69262,S,17235.48549,E,RRAANN,13,0.9,25.63,11.24,,,V",
                                    "GNGST,014035.00,9.2,,,,0.013,0.012,0.020"])


@st.composite
def mutated_sentence(draw):
    body = draw(_sentence_bodies)
    fields = body.split(",")
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(fields) - 1))
        fields[i] = draw(st.one_of(st.text(alphabet="0123456789.-+NSEWAVabc,*$ ", max_size=12),
                                   st.just(""), st.just("9" * 30)))
    if draw(st.booleans()):
        fields = fields[:draw(st.integers(1, len(fields)))]
    return nmea(",".join(fields)).encode()  # a valid checksum over garbage fields


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=200), mutated_sentence()), max_size=30),
       st.integers(1, 64))
def test_random_bytes_and_mutated_sentences_never_raise(chunks, read_size):
    data = b"\r\n".join(chunks)
    counters = Counter()
    fixes = parse_bytes(data, counters=counters)
    for fix in fixes:
        if fix.has_position:
            assert -90 <= fix.lat <= 90 and -180 <= fix.lon <= 180
    from firmware.gnss.sources import NmeaStream
    stream = NmeaStream(Counter(), date(1990, 1, 1), date(2099, 1, 1))
    for i in range(0, len(data), read_size):
        stream.feed(data[i:i + read_size], i)
    stream.flush()


def test_long_binary_run_without_newlines_is_bounded_and_sentences_after_it_survive():
    from firmware.gnss.nmea import MAX_LINE

    framer = Framer()
    blob = bytes(range(256)).replace(b"\n", b"") * (3 * MAX_LINE // 255)
    got = framer.feed(blob)
    assert got == [] and len(framer._tail) <= MAX_LINE
    got = framer.feed(blob[:100] + nmea(GGA).encode() + b"\r\n")
    assert got == [GGA]


def test_late_sentence_after_early_close_amends_the_whole_epoch():
    asm = EpochAssembler(early_close=True)
    out = []
    for i, body in enumerate([GGA.replace("123519", "100000"), GSA,
                              GGA.replace("123519", "100001"), GSA]):
        out += asm.feed(decode(body), i)
    # 100000 closed when 100001 began (GSA learned as the ender); 100001 closed early at its GSA
    assert [f.tod_us for f in out] == [36_000_000_000, 36_001_000_000]
    assert out[1].speed_mps is None
    out = []
    out += asm.feed(decode(RMC.replace("123519", "100001")), 10)  # late RMC of the closed epoch
    out += asm.feed(decode(GGA.replace("123519", "100002")), 11)
    assert len(out) == 1
    amended = out[0]
    assert amended.tod_us == 36_001_000_000 and amended.mono_ns == 2
    assert amended.alt_m == 545.4 and amended.speed_mps is not None and amended.time is not None
    assert asm.counters["amended_epochs"] == 1
