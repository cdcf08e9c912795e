"""Wire format and the sender's pure rules: topics, image framing, backoff, byte budget."""

import json
import random

import pytest
from hypothesis import given, strategies as st

from firmware.sync import messages as m


def test_uplink_topics_follow_the_documented_layout():
    assert m.uplink_topic("cmpd", "unit-7", "read") == "alpr/v1/cmpd/unit-7/read"
    for kind in ("read", "hit", "disposition", "audit", "health", "event", "image", "status"):
        assert m.uplink_topic("a", "u", kind).split("/") == ["alpr", "v1", "a", "u", kind]
    with pytest.raises(ValueError):
        m.uplink_topic("a", "u", "secret")


def test_downlink_topics_parse_back_and_never_collide_with_uplink():
    topic = m.downlink_topic("cmpd", "all", "hotlist", "stolen", "17", "0")
    parsed = m.parse_downlink_topic(topic, "cmpd")
    assert parsed == m.DownlinkTopic("all", "hotlist", ("stolen", "17", "0"))
    assert m.parse_downlink_topic(topic, "other") is None
    assert m.parse_downlink_topic("alpr/v1/cmpd/down/all/shell", "cmpd") is None
    # a unit called "down" publishing uplink does not land in the downlink filters
    uplink = m.uplink_topic("cmpd", "down", "read")
    assert m.parse_downlink_topic(uplink, "cmpd") is None
    assert m.downlink_filters("cmpd", "u1") == ["alpr/v1/cmpd/down/all/#", "alpr/v1/cmpd/down/u1/#"]


@given(st.binary(max_size=5000), st.uuids(), st.sampled_from(["crop", "overview"]))
def test_image_frames_round_trip(jpeg, read_id, role):
    payload = m.encode_image(f"{read_id}:{role}", str(read_id), role, jpeg, "u1")
    header, body = m.decode_image(payload)
    assert body == jpeg
    assert header["id"] == f"{read_id}:{role}" and header["read_id"] == str(read_id) and header["role"] == role
    assert m.message_id(payload, "image") == f"{read_id}:{role}"


@given(st.binary(min_size=1, max_size=2000))
def test_truncated_image_frames_are_detected(jpeg):
    payload = m.encode_image("r:crop", "r", "crop", jpeg, "u1")
    with pytest.raises(ValueError):
        m.decode_image(payload[:-1])


def test_json_message_id():
    assert m.message_id(json.dumps({"id": "abc", "schema": 1}).encode(), "read") == "abc"


@given(st.integers(1, 200), st.floats(0.05, 10), st.floats(0, 1000), st.integers(0, 2**32))
def test_backoff_is_bounded_and_jittered(attempt, low, extra, seed):
    high = low + extra
    delay = m.backoff_delay(attempt, low, high, random.Random(seed))
    assert low / 2 <= delay <= max(low / 2, min(high, low * 2 ** (attempt - 1))) + 1e-9
    assert delay <= high + 1e-9


def test_backoff_grows_then_caps():
    rng = random.Random(1)
    early = max(m.backoff_delay(1, 1, 60, rng) for _ in range(200))
    late = max(m.backoff_delay(10, 1, 60, rng) for _ in range(200))
    assert early <= 1 and 30 < late <= 60
    spread = {round(m.backoff_delay(10, 1, 60, rng), 3) for _ in range(50)}
    assert len(spread) > 40  # a fleet does not reconnect in lockstep


@pytest.mark.parametrize("kind,used,budget,ok", [
    ("read", 0, None, True), ("image", 10**12, None, True), ("read", 99, 100, True), ("read", 100, 100, False),
    ("image", 500, 100, False), ("hit", 500, 100, True), ("audit", 10**9, 0, True), ("read", 0, 0, False),
])
def test_budget_allows(kind, used, budget, ok):
    assert m.budget_allows(kind, used, budget, ["hit", "audit", "disposition", "event"]) is ok


def test_sendable_kinds():
    assert m.sendable_kinds(0, None, ["hit"]) is None
    assert m.sendable_kinds(5, 10, ["hit"]) is None
    assert m.sendable_kinds(10, 10, ["hit", "audit"]) == ("hit", "audit")
