"""The plate's state decisions (firmware/recognition/state.py, state_names.py): pure, tested exhaustively."""

from __future__ import annotations

import pytest

from firmware.recognition.state import (ColourCues, DesignThresholds, StateDecision, TextMatch, decide,
                                        design_state, match_phrases, normalise_words, similarity, text_evidence)
from firmware.recognition.state_names import NAME_VARIANTS, SLOGANS, STATE_NAMES, STATE_WORDS

USPS = set("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
           "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split())


def test_table_names_every_state_and_dc_once_and_no_phrase_names_two_states():
    assert set(STATE_NAMES) == USPS
    assert set(SLOGANS) <= USPS and set(NAME_VARIANTS) <= USPS
    owners: dict[str, set[str]] = {}
    for phrase, code in STATE_WORDS:
        owners.setdefault(phrase.replace(" ", ""), set()).add(code)
        assert phrase == phrase.upper() and phrase.strip() == phrase
    assert all(len(codes) == 1 for codes in owners.values())


@pytest.mark.parametrize("text,words", [
    ("Sportsman's Paradise", ["SPORTSMANS", "PARADISE"]),
    ("  Washington, DC ", ["WASHINGTON", "DC"]),
    ("dmv.ca.gov", ["DMV", "CA", "GOV"]),
    ("", []), (None, []),
])
def test_normalise_words(text, words):
    assert normalise_words(text) == words


def test_similarity_is_symmetric_and_zero_for_empty():
    assert similarity("TEXAS", "TEXAS") == 1.0
    assert similarity("", "TEXAS") == 0.0
    assert similarity("ABC", "XYZ") == similarity("XYZ", "ABC") == 0.0


def _states(text, band="header"):
    return [(m.state, m.phrase) for m in match_phrases(text, band)]


@pytest.mark.parametrize("text,state", [
    ("TEXAS", "TX"), ("Californa", "CA"), ("SEP California", "CA"), (" Newersey ", "NJ"),
    ("NEWJERSEY", "NJ"), ("CALI FORNIA", "CA"), ("Illinots", "IL"), ("lmisiana", "LA"),
])
def test_names_read_whole_merged_split_or_slightly_wrong_match(text, state):
    assert [s for s, _ in _states(text)] == [state]


@pytest.mark.parametrize("text", ["", "ABC", "Fanezoa", "SERAMONTE FORD", "6WHS906", "MOVING FORWARD", "OH", "ME"])
def test_unlike_or_short_text_matches_nothing(text):
    assert _states(text) == []


def test_ratio_below_the_floor_does_not_match_and_at_it_does():
    assert match_phrases("ILLINDS", "header")[0].score == pytest.approx(0.8, abs=1e-4)   # 12/15 of the letters
    assert match_phrases("ILLINDS", "header", min_ratio=0.81) == []


def test_a_longer_phrase_read_whole_beats_the_name_inside_it_and_the_name_alone_beats_a_variant():
    assert _states("WASHINGTON DC") == [("DC", "WASHINGTON DC")]
    assert _states("WASHINGTON") == [("WA", "WASHINGTON")]
    assert _states("West Virginia") == [("WV", "WEST VIRGINIA")]
    assert _states("Arkansas") == [("AR", "ARKANSAS")]          # KANSAS inside it is dropped
    assert _states("Virginia") == [("VA", "VIRGINIA")]


def test_slogans_match_with_their_band_and_word_count():
    (m,) = match_phrases("The Lone Star State", "footer")
    assert (m.state, m.band, m.words, m.score) == ("TX", "footer", 4, 1.0)
    assert {x.state for x in match_phrases("TION WITHOUT REPRESENTAT", "footer")} == {"DC"}


def _m(state, phrase, score=1.0, band="header"):
    return TextMatch(state, phrase, score, band, len(phrase.split()))


def test_text_evidence_ignores_one_word_names_below_the_serial_and_weights_the_footer():
    assert text_evidence([_m("WA", "WASHINGTON", band="footer")]) == {}
    assert text_evidence([_m("TX", "THE LONE STAR STATE", band="footer")]) == {"TX": pytest.approx(0.9)}
    assert text_evidence([_m("NJ", "NEW JERSEY", 0.9, band="footer")]) == {"NJ": pytest.approx(0.81)}
    assert text_evidence([_m("AR", "ARKANSAS", 0.85), _m("AR", "THE NATURAL STATE", 1.0, "footer")]) == {"AR": 0.9}


CA_LIKE = ColourCues(header_a=20.0, chars_a=2.0, chars_b=-20.0, footer_a=0.0)


def test_design_state_california_and_each_way_it_is_refused():
    t = DesignThresholds()
    assert design_state(CA_LIKE) == "CA"
    assert design_state(ColourCues(20.0, 2.0, -20.0, None)) == "CA"          # nothing printed below
    assert design_state(ColourCues(20.0, None, -20.0, None)) == "CA"
    assert design_state(ColourCues(t.header_red - 0.1, 2.0, -20.0, 0.0)) is None   # header not red (TX, AZ)
    assert design_state(ColourCues(20.0, 2.0, -(t.chars_blue - 0.1), 0.0)) is None  # serial not navy
    assert design_state(ColourCues(20.0, t.chars_red + 0.1, -20.0, 0.0)) is None   # red serial (IL, MA)
    assert design_state(ColourCues(20.0, 2.0, -20.0, t.footer_red + 0.1)) is None  # red slogan (LA, AR, DC)
    assert design_state(ColourCues(None, 2.0, -20.0, 0.0)) is None
    assert design_state(ColourCues(20.0, 2.0, None, 0.0)) is None
    assert design_state(CA_LIKE, DesignThresholds(header_red=25.0)) is None


def test_decide_text_alone_design_alone_both_and_every_conflict():
    assert decide([], None) == StateDecision(None, 0.0, "none")
    assert decide([_m("TX", "TEXAS", 0.95)], None) == StateDecision("TX", 0.95, "text")
    assert decide([], "CA") == StateDecision("CA", 0.7, "design")
    both = decide([_m("CA", "CALIFORNIA", 0.9)], "CA")
    assert both.state == "CA" and both.source == "text+design" and both.confidence == pytest.approx(0.97)
    assert decide([_m("WA", "WASHINGTON")], "CA") == StateDecision(None, 0.0, "conflict")
    assert decide([_m("TX", "TEXAS"), _m("VT", "VERMONT", 0.8, "header")], None) == StateDecision(None, 0.0, "conflict")
    # a dealer frame's city below the serial does not contradict the header
    assert decide([_m("TX", "TEXAS"), _m("WA", "WASHINGTON", band="footer")], None).state == "TX"


def test_decide_confidence_stays_in_0_1():
    for score in (0.8, 0.9, 1.0):
        for design in (None, "CA"):
            d = decide([_m("CA", "CALIFORNIA", score)], design)
            assert 0.0 <= d.confidence <= 1.0
