"""Matching rules: vendor-documented examples, an independent brute-force oracle, and the compact
index held to the reference on random lists and random misreads (hypothesis)."""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.hotlist.index import IndexBuilder
from firmware.hotlist.match import (
    EQUIVALENCE_CLASSES, Match, MatchOptions, canonical, describe, entry_problem, explain, normalise_entry,
    normalise_plate, reference_matches,
)

ALNUM = string.ascii_uppercase + string.digits
ONE = MatchOptions(max_equivalent=1)


def kind(entry, read, options=ONE, entry_state=None, read_state=None):
    m = explain(entry, entry_state, read, read_state, options)
    return None if m is None else m.kind


# ---- vendor examples (../shared/docs/hotlist-formats.md, Genetec AutoVu) ---------------------------

@pytest.mark.parametrize("entry", ["A8C123", "ABC1Z3", "ABCI23"])
def test_autovu_equivalence_examples_hit(entry):
    assert kind(entry, "ABC123") == "equivalent"


def test_autovu_equivalence_two_swaps_do_not_hit_with_one_allowed():
    assert kind("A8CIZ3", "ABC123") is None
    assert kind("A8CIZ3", "ABC123", MatchOptions(max_equivalent=2)) is None  # three swaps
    assert kind("A8CI23", "ABC123", MatchOptions(max_equivalent=2)) == "equivalent"


@pytest.mark.parametrize("read", ["NSK357", "ASDK37"])
def test_autovu_wildcard_examples_hit(read):
    assert kind("S*K3*7", read) == "wildcard"


@pytest.mark.parametrize("read", ["SUKA357", "SKU573"])
def test_autovu_wildcard_examples_miss(read):
    assert kind("S*K3*7", read) is None


def test_wildcard_position_does_not_matter():
    for read in ["NSK357", "ASDK37", "SK37AB", "ABSK37"]:
        assert {kind(e, read) for e in ("S*K3*7", "**SK37", "SK37**")} == {"wildcard"}


def test_wildcards_off_ignores_wildcard_entries():
    assert kind("S*K3*7", "NSK357", MatchOptions(wildcards=False)) is None


@pytest.mark.parametrize("read", ["AB123", "ABC0123"])
def test_autovu_length_difference_examples(read):
    assert kind("ABC123", read, MatchOptions(length_difference=True)) == "length"
    assert kind("ABC123", read) is None


def test_positions_explain_the_hit():
    m = explain("ABC123", None, "A8C1Z3", None, MatchOptions(max_equivalent=2))
    assert m == Match("equivalent", (1, 4), False)
    assert "[1,4]" in describe(m, "ABC123", "A8C1Z3")
    assert explain("ABC123", None, "ABC0123", None, MatchOptions(length_difference=True)).positions == (3,)
    assert explain("ABC123", None, "AB123", None, MatchOptions(length_difference=True)).positions == (2,)
    assert explain("S*K3*7", None, "NSK357", None).positions == (0, 4)


def test_state_contradiction_is_a_possible_hit():
    assert explain("ABC123", "CA", "ABC123", "TX").possible is True
    assert explain("ABC123", "CA", "ABC123", "CA").possible is False
    assert explain("ABC123", "CA", "ABC123", None).possible is False
    assert explain("ABC123", None, "ABC123", "TX").possible is False


def test_equivalence_classes_are_the_documented_ones():
    for cls in EQUIVALENCE_CLASSES:
        assert len({canonical(c) for c in cls}) == 1
    assert canonical("ODQ0") == "0000" and canonical("A") == "A" and canonical("E") == "E"
    assert kind("ABC123", "ABC12E") is None


def test_normalise_and_refuse():
    assert normalise_plate(" abc-12 3 ") == "ABC123"
    assert normalise_entry("s*k3*7") == "S*K3*7"
    for junk in ["", "NONE", "unk", "UNKNOWN", " - "]:
        assert entry_problem(junk) == "junk"
    assert entry_problem("A***B") and entry_problem("ABCDEFGHIJK") and entry_problem("ÄBC123")
    assert entry_problem("ABC-123") is None


# ---- an oracle written independently of match.py ----------------------------------------------------

def _same_class(a, b):
    return a == b or any(a in cls and b in cls for cls in EQUIVALENCE_CLASSES)


def oracle(entry, read, opts):
    """Enumerate instead of reason: every kind a (entry, read) pair qualifies for, by definition."""
    if not read:
        return None
    if "*" in entry:
        lit, k = entry.replace("*", ""), entry.count("*")
        if not opts.wildcards or not 1 <= k <= 2 or not lit:
            return None
        for drop in range(0, k + 1):
            if len(read) - drop != len(lit):
                continue
            for cut in itertools.combinations(range(len(read)), drop):
                if "".join(c for i, c in enumerate(read) if i not in cut) == lit:
                    return "wildcard"
        return None
    if entry == read:
        return "exact"
    if len(entry) == len(read):
        diffs = [i for i in range(len(read)) if entry[i] != read[i]]
        ok = all(_same_class(entry[i], read[i]) for i in diffs) and len(diffs) <= opts.max_equivalent
        return "equivalent" if ok else None
    if opts.length_difference:
        if any(read[:i] + read[i + 1:] == entry for i in range(len(read))):
            return "length"
        if any(read[:i] + c + read[i:] == entry for i in range(len(read) + 1) for c in ALNUM):
            return "length"
    return None


confusable = st.sampled_from("0ODQ1I2Z5S8B6GAXK37")
plates = st.text(alphabet=confusable, min_size=1, max_size=8)
options = st.builds(MatchOptions, max_equivalent=st.integers(0, 2), length_difference=st.booleans(),
                    wildcards=st.booleans())


@settings(max_examples=400, deadline=None)
@given(entry=plates, read=plates, opts=options)
def test_explain_agrees_with_the_oracle(entry, read, opts):
    m = explain(entry, None, read, None, opts)
    assert (m.kind if m else None) == oracle(entry, read, opts)


@settings(max_examples=300, deadline=None)
@given(entry=st.text(alphabet=confusable, min_size=2, max_size=8).flatmap(
    lambda s: st.integers(0, len(s) - 1).flatmap(
        lambda i: st.sampled_from([s[:i] + "*" + s[i:], "*" + s + "*", s[:i] + "*" + s[i:] + "*"]))),
    read=plates)
def test_wildcard_agrees_with_the_oracle(entry, read):
    m = explain(entry, None, read, None, ONE)
    assert (m.kind if m else None) == oracle(entry, read, ONE)
    if m:  # the positions left over, removed, give back the literals in order
        assert "".join(c for i, c in enumerate(read) if i not in m.positions) == entry.replace("*", "")


# ---- the compact index against the brute-force reference --------------------------------------------

def _misread(rng_choices, plate):
    """A plausible OCR error of a plate: look-alike swap, drop, insert, or another plate."""
    how, pos, ch = rng_choices
    pos = pos % (len(plate) + 1)
    if how == 0 and pos < len(plate):
        for cls in EQUIVALENCE_CLASSES:
            if plate[pos] in cls:
                return plate[:pos] + cls[(cls.index(plate[pos]) + 1) % len(cls)] + plate[pos + 1:]
    if how == 1 and pos < len(plate) and len(plate) > 1:
        return plate[:pos] + plate[pos + 1:]
    if how == 2:
        return plate[:pos] + ch + plate[pos:]
    return plate


entries_st = st.lists(st.tuples(
    st.one_of(plates, st.text(alphabet=confusable, min_size=2, max_size=6).map(lambda s: s[:1] + "*" + s[1:])),
    st.sampled_from([None, "CA", "TX"])), min_size=1, max_size=60)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=entries_st, opts=options, picks=st.lists(st.tuples(
    st.integers(0, 59), st.tuples(st.integers(0, 3), st.integers(0, 10), st.sampled_from(ALNUM)),
    st.sampled_from([None, "CA", "TX"])), min_size=1, max_size=8), noise=st.lists(plates, max_size=4))
def test_index_equals_brute_force(entries, opts, picks, noise):
    builder = IndexBuilder()
    for i, (plate, state) in enumerate(entries):
        builder.add(plate, state, row_id=i)
    index = builder.build()
    reads = [(_misread(how, entries[i % len(entries)][0].replace("*", "") or "A"), st_) for i, how, st_ in picks]
    reads += [(n, None) for n in noise]
    for read, state in reads:
        want = {(i, m) for i, m in reference_matches(entries, read, state, opts)}
        got = {(c.row_id, c.match) for c in index.lookup(read, state, 0, opts)}
        assert got == want, (read, state)


def test_index_at_scale_finds_misreads_and_nothing_else():
    import numpy as np

    rng = np.random.default_rng(7)
    chars = np.frombuffer(ALNUM.encode(), dtype="S1")
    plates_ = sorted({bytes(r).decode() for r in rng.choice(chars, size=(20_000, 7)).view("S7").ravel()})
    builder = IndexBuilder()
    for i, p in enumerate(plates_):
        builder.add(p, "CA", row_id=i)
    index = builder.build()
    pairs = [(p, None) for p in plates_]
    for p in plates_[:300]:
        read = p.replace("0", "O", 1) if "0" in p else p
        got = {(c.row_id, c.match) for c in index.lookup(read, None, 0, ONE)}
        brute = {(i, m) for i, m in reference_matches(pairs, read, None, ONE)}
        assert got == brute and any(plates_[i] == p for i, _ in got)


def test_validity_dates_are_honoured():
    builder = IndexBuilder()
    builder.add("ABC123", None, 1, effective_s=100, expires_s=200)
    builder.add("XYZ789", None, 2)
    index = builder.build()
    assert [c.row_id for c in index.lookup("ABC123", None, 150)] == [1]
    assert index.lookup("ABC123", None, 99) == [] and index.lookup("ABC123", None, 200) == []
    assert [c.row_id for c in index.lookup("XYZ789", None, 10**12)] == [2]
