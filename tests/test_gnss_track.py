"""Position at frame time: the pure rules (fix, interpolated, extrapolated, stale, none)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.gnss.epoch import Fix
from firmware.gnss.track import Track, TrackRules, destination, distance_m, position_from

S = 1_000_000_000
T0 = datetime(2025, 6, 14, 16, 0, tzinfo=timezone.utc)
RULES = TrackRules(max_extrapolation_s=2.0, stale_after_s=10.0, max_interpolation_gap_s=5.0)


def fix(second: float, lat: float, lon: float, speed=10.0, track=90.0, **kw) -> Fix:
    return Fix(int(second * S), T0 + timedelta(seconds=second), 3, lat, lon, 100.0, speed, track, 0.9, 10, 1,
               int(second * 1e6), **kw)


def test_no_fixes_is_none():
    assert position_from([], 5 * S, RULES).method == "none"
    assert Track(RULES).position_at(5 * S).method == "none"


def test_at_a_fix_is_the_fix():
    fixes = [fix(10, 44.0, -121.0), fix(11, 44.0, -120.9999)]
    p = position_from(fixes, 10 * S + 10_000_000, RULES)
    assert p.method == "fix" and p.lat == 44.0 and p.fix_age_s == pytest.approx(0.01)
    assert p.fix_time == T0 + timedelta(seconds=10)


def test_between_fixes_is_interpolated_linearly():
    a, b = fix(10, 44.0, -121.0), fix(11, 44.001, -120.998)
    p = position_from([a, b], int(10.25 * S), RULES)
    assert p.method == "interpolated"
    assert p.lat == pytest.approx(44.00025) and p.lon == pytest.approx(-120.9995)
    assert p.fix_age_s == pytest.approx(0.25) and p.fix_time == a.time and p.mode == 3


def test_interpolation_across_antimeridian_and_track_wrap():
    a = fix(0, 10.0, 179.9999, track=350.0)
    b = fix(1, 10.0, -179.9999, track=10.0)
    p = position_from([a, b], S // 2, RULES)
    assert p.method == "interpolated"
    assert abs(p.lon) == pytest.approx(180.0, abs=1e-6)
    assert p.track_deg == pytest.approx(0.0, abs=1e-6) or p.track_deg == pytest.approx(360.0, abs=1e-6)


def test_after_last_fix_dead_reckons_with_speed_and_course_then_holds_then_goes_stale():
    last = fix(10, 44.0, -121.0, speed=27.8, track=90.0)  # 100 km/h due east
    p = position_from([last], int(11.5 * S), RULES)
    assert p.method == "extrapolated" and p.fix_age_s == pytest.approx(1.5)
    assert distance_m(44.0, -121.0, p.lat, p.lon) == pytest.approx(27.8 * 1.5, rel=1e-3)
    assert p.lon > -121.0 and p.lat == pytest.approx(44.0, abs=1e-6)
    held = position_from([last], int(15 * S), RULES)
    assert held.method == "fix" and held.lat == 44.0 and held.fix_age_s == pytest.approx(5.0)
    stale = position_from([last], int(30 * S), RULES)
    assert stale.method == "stale" and stale.fix_age_s == pytest.approx(20.0)


def test_no_speed_means_no_extrapolation():
    last = fix(10, 44.0, -121.0, speed=None, track=None)
    p = position_from([last], int(11 * S), RULES)
    assert p.method == "fix" and p.lat == 44.0 and p.fix_age_s == pytest.approx(1.0)


def test_extrapolation_bound_is_configurable():
    last = fix(10, 44.0, -121.0)
    assert position_from([last], int(10.5 * S), TrackRules(0.0, 10.0, 5.0)).method == "fix"
    assert position_from([last], int(10.5 * S), TrackRules(1.0, 10.0, 5.0)).method == "extrapolated"


def test_gap_too_long_is_not_interpolated():
    a, b = fix(10, 44.0, -121.0), fix(40, 44.1, -121.0)
    p = position_from([a, b], int(11 * S), RULES)
    assert p.method == "extrapolated" and p.lat == pytest.approx(44.0, abs=1e-6)  # from a, not towards b
    p = position_from([a, b], 13 * S, RULES)
    assert p.method == "fix" and p.lat == 44.0 and p.fix_age_s == pytest.approx(3.0)
    p = position_from([a, b], 25 * S, RULES)
    assert p.method == "stale" and p.lat == 44.0


def test_before_the_first_fix_is_none():
    assert position_from([fix(10, 44.0, -121.0)], 8 * S, RULES).method == "none"


def test_track_amends_a_repeated_epoch_and_keeps_its_first_arrival():
    track = Track(RULES)
    track.add(fix(10, 44.0, -121.0))
    amended = Fix(int(10.3 * S), T0 + timedelta(seconds=10), 3, 44.00001, -121.0, tod_us=int(10 * 1e6))
    track.add(amended)
    assert track.last_fix().lat == 44.00001 and track.last_fix().mono_ns == 10 * S


def test_track_ignores_no_fix_epochs_for_position_but_reports_them_as_latest():
    track = Track(RULES)
    track.add(fix(10, 44.0, -121.0))
    track.add(Fix(11 * S, None, 1))
    assert track.latest.mode == 1
    assert track.position_at(int(10.01 * S)).method == "fix"


@settings(max_examples=200, deadline=None)
@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(0, 360, exclude_max=True), st.floats(0, 500))
def test_destination_distance_round_trip(lat, lon, track, metres):
    lat2, lon2 = destination(lat, lon, track, metres)
    assert distance_m(lat, lon, lat2, lon2) == pytest.approx(metres, abs=1e-3, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.2, 3.0), min_size=2, max_size=10), st.floats(-5, 60))
def test_interpolated_positions_stay_between_neighbours(steps, at):
    t, fixes = 0.0, []
    for i, step in enumerate(steps):
        t += step
        fixes.append(fix(t, 44.0 + i * 1e-4, -121.0 - i * 2e-4))
    p = position_from(fixes, int(at * S), RULES)
    if p.method == "interpolated":
        assert 44.0 <= p.lat <= 44.0 + len(steps) * 1e-4
        assert p.fix_age_s >= 0
    if p.method != "none":
        assert p.fix_age_s is not None and p.fix_age_s >= -0.05


def test_receiver_reporting_no_fix_makes_later_frames_stale_at_once():
    track = Track(RULES)
    track.add(fix(10, 44.0, -121.0))
    track.add(fix(11, 44.0, -120.9999))
    track.add(Fix(12 * S, None, 1))  # receiver: "no fix" (tunnel)
    assert track.position_at(int(11.5 * S)).method == "extrapolated"  # before it said so
    lost = track.position_at(int(12.5 * S))
    assert lost.method == "stale" and lost.lat == 44.0 and lost.fix_age_s == pytest.approx(1.5)
    track.add(fix(13, 44.0, -120.9997))  # fix regained
    assert track.position_at(int(13.2 * S)).method == "extrapolated"
