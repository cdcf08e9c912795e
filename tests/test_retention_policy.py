"""The retention rule, exhaustively: properties over generated reads, holds and clocks."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from firmware.config import parse_config
from firmware.retention import policy as P
from firmware.retention.config import RetentionConfig
from firmware.retention.query import check_purpose

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PLATES = ("ABC123", "XYZ789", "NCW4431")
CAMS = ("front", "rear")

times = st.integers(min_value=0, max_value=400 * 86400).map(lambda s: T0 + timedelta(seconds=s))
reads = st.builds(
    P.ReadFacts, id=st.just("r"), captured_at=times, plate=st.sampled_from(PLATES), camera_id=st.sampled_from(CAMS),
    unit_id=st.just("u1"), queued=st.booleans(), pending=st.integers(0, 3),
)


@st.composite
def holds(draw):
    start = draw(times)
    end = start + timedelta(seconds=draw(st.integers(0, 60 * 86400)))
    created = draw(times)
    released = draw(st.none() | times)
    return P.HoldFacts(id=f"h{draw(st.integers(0, 99))}", start_at=start, end_at=end,
                       expires_at=created + timedelta(days=365), plate=draw(st.none() | st.sampled_from(PLATES)),
                       camera_id=draw(st.none() | st.sampled_from(CAMS)), unit_id=draw(st.none() | st.just("u1")),
                       released_at=released)


policies = st.builds(P.Policy, local_retention=st.integers(1, 90).map(lambda d: timedelta(days=d)))


@settings(max_examples=600, deadline=None)
@given(read=reads, hs=st.lists(holds(), max_size=4), now=times, policy=policies)
def test_a_held_read_is_never_purged(read, hs, now, policy):
    decision = P.decide_read(read, hs, now, policy)
    if any(h.active(now) and h.covers(read) for h in hs):
        assert not decision.purge and decision.reason == P.KEEP_HELD
        assert decision.hold_id in {h.id for h in hs if h.active(now) and h.covers(read)}


@settings(max_examples=600, deadline=None)
@given(read=reads, hs=st.lists(holds(), max_size=4), now=times, policy=policies)
def test_nothing_unheld_survives_past_90_days(read, hs, now, policy):
    decision = P.decide_read(read, hs, now, policy)
    held = any(h.active(now) and h.covers(read) for h in hs)
    if now - read.captured_at >= timedelta(days=90) and not held:
        assert decision.purge and decision.reason == P.PURGE_LEGAL_MAX
        assert decision.data_loss == (not read.synced)


@settings(max_examples=600, deadline=None)
@given(read=reads, now=times, policy=policies)
def test_unsynced_reads_wait_for_sync_until_the_ceiling(read, now, policy):
    decision = P.decide_read(read, [], now, policy)
    age = now - read.captured_at
    if age < policy.local_retention:
        assert not decision.purge and decision.reason == P.KEEP_YOUNG
    elif age < timedelta(days=90):
        assert decision.purge == read.synced
        assert decision.reason == (P.PURGE_SYNCED if read.synced else P.KEEP_UNSYNCED)
        assert not decision.data_loss


@settings(max_examples=300, deadline=None)
@given(read=reads, hold=holds(), now=times)
def test_hold_activity_and_coverage(read, hold, now):
    active = now < hold.expires_at and (hold.released_at is None or now < hold.released_at)
    assert hold.active(now) == active
    covers = (hold.start_at <= read.captured_at <= hold.end_at and hold.plate in (None, read.plate)
              and hold.camera_id in (None, read.camera_id))
    assert hold.covers(read) == covers


def test_hold_expiry_resets_from_each_request():
    assert P.hold_expiry(T0, 365) == T0 + timedelta(days=365)
    later = T0 + timedelta(days=200)
    assert P.hold_expiry(later, 365) == T0 + timedelta(days=565)


def test_unqueued_read_is_not_synced():
    r = P.ReadFacts("r", T0, "ABC123", "front", "u1", queued=False, pending=0)
    assert not r.synced
    assert P.decide_read(r, [], T0 + timedelta(days=30), P.Policy()).reason == P.KEEP_UNSYNCED


@pytest.mark.parametrize("age_days,acked,purge", [(10, True, False), (1097, False, False), (1097, True, True)])
def test_audit_rule(age_days, acked, purge):
    d = P.decide_audit(T0, acked, T0 + timedelta(days=age_days), P.Policy())
    assert d.purge is purge


def test_policy_refuses_more_than_90_days():
    with pytest.raises(ValueError):
        P.Policy(local_retention=timedelta(days=91))
    with pytest.raises(ValueError):
        P.Policy(legal_max=timedelta(days=120))


def test_config_refuses_more_than_90_days_with_file_and_line():
    with pytest.raises(Exception) as exc:
        parse_config("[retention]\nlocal_retention_days = 120\n", "unit.toml")
    assert "unit.toml:2" in str(exc.value) and "local_retention_days" in str(exc.value)
    with pytest.raises(ValidationError):
        RetentionConfig(prohibited_purposes=["commercial"])
    with pytest.raises(ValidationError):
        RetentionConfig(purposes=["stolen vehicle", "traffic enforcement"])


@pytest.mark.parametrize("user,purpose,reason", [
    ("bob", "stolen vehicle", "allowed"),
    ("bob", "  Stolen   VEHICLE ", "allowed"),
    ("bob", "traffic enforcement", "prohibited"),
    ("bob", "Crash investigation", "prohibited"),
    ("bob", "hit and run follow-up", "prohibited"),
    ("bob", "commercial", "prohibited"),
    ("bob", "curiosity", "not_listed"),
    ("", "stolen vehicle", "no_user"),
])
def test_purpose_check(user, purpose, reason):
    check = check_purpose(user, purpose, RetentionConfig())
    assert check.reason == reason
    assert check.allowed == (reason == "allowed")
