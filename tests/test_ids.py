"""Time-ordered record ids: valid RFC 9562 v7 UUIDs, sortable by creation time, unique."""

import uuid

import pytest
from hypothesis import given, strategies as st

from firmware.ids import id_time_ms, new_id


@given(ms=st.integers(0, (1 << 48) - 1), rand=st.binary(min_size=10, max_size=10))
def test_layout_round_trips(ms, rand):
    rid = new_id(ms, rand)
    u = uuid.UUID(rid)
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert id_time_ms(rid) == ms
    assert str(u) == rid and len(rid) == 36


@given(a=st.integers(0, (1 << 48) - 2), gap=st.integers(1, 10**9), ra=st.binary(min_size=10, max_size=10),
       rb=st.binary(min_size=10, max_size=10))
def test_later_ids_sort_after_earlier_ones_as_text(a, gap, ra, rb):
    b = min(a + gap, (1 << 48) - 1)
    assert new_id(a, ra) < new_id(b, rb)  # the text order SQLite's index uses


def test_ids_made_now_are_unique_and_near_the_clock():
    import time

    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    assert all(before <= id_time_ms(i) <= after for i in ids)


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        new_id(-1)
    with pytest.raises(ValueError):
        id_time_ms(str(uuid.uuid4()))
