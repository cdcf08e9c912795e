from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.consensus import ConsensusTracker, iou, vote
from firmware.records import PlateCandidate

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def cand(text, conf=0.9, box=(100, 100, 80, 40), confs=None):
    return PlateCandidate(text, conf, tuple(confs or [conf] * len(text)), box)


def tracker(**kw):
    args = dict(max_gap_frames=3, max_delay_s=2.0, min_frames=1, iou_threshold=0.1, text_similarity=0.5)
    args.update(kw)
    return ConsensusTracker(**args)


@given(st.text(ALNUM, min_size=1, max_size=8), st.integers(1, 6))
def test_unanimous_candidates_give_the_same_text(text, n):
    assert vote([cand(text)] * n).text == text


def test_per_character_vote_fixes_one_bad_frame():
    votes = [cand("ABC123", confs=[0.9] * 6), cand("A8C123", confs=[0.9, 0.6, 0.9, 0.9, 0.9, 0.9]),
             cand("ABC123", confs=[0.8] * 6)]
    result = vote(votes)
    assert result.text == "ABC123"
    assert result.char_confidences[1] < result.char_confidences[0]   # dissent shows in the confidence
    assert result.support == 3


def test_confident_minority_character_can_win_its_position():
    votes = [cand("ABC123", confs=[0.9, 0.2, 0.9, 0.9, 0.9, 0.9]), cand("A8C123", confs=[0.9, 0.95, 0.9, 0.9, 0.9, 0.9])]
    assert vote(votes).text == "A8C123"


def test_most_supported_length_wins():
    votes = [cand("ABC123"), cand("ABC1234", conf=0.5), cand("ABC123")]
    assert vote(votes).text == "ABC123"


@given(st.lists(st.text(ALNUM, min_size=1, max_size=8), min_size=1, max_size=6))
@settings(max_examples=200)
def test_vote_text_has_a_candidate_length_and_characters_seen_at_each_position(texts):
    result = vote([cand(t) for t in texts])
    same_length = [t for t in texts if len(t) == len(result.text)]
    assert same_length
    for pos, ch in enumerate(result.text):
        assert ch in {t[pos] for t in same_length}
    assert 0 <= result.confidence <= 1


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9


def frames(tr, seq_texts, start_ns=0, step_ns=100_000_000):
    out = []
    for seq, cands in enumerate(seq_texts):
        out += tr.update(seq, start_ns + seq * step_ns, cands)
    return out


def test_one_vehicle_over_many_frames_is_one_read():
    tr = tracker()
    seen = [[cand("ABC123", box=(100 + 5 * i, 100, 80, 40))] for i in range(8)] + [[]] * 5
    reads = frames(tr, seen)
    assert len(reads) == 1 and len(reads[0].sightings) == 8


def test_two_vehicles_side_by_side_are_two_reads():
    tr = tracker()
    seen = [[cand("ABC123", box=(100, 100, 80, 40)), cand("XYZ789", box=(600, 120, 80, 40))] for _ in range(5)]
    reads = frames(tr, seen + [[]] * 5)
    assert sorted(vote([s.candidate for s in r.sightings]).text for r in reads) == ["ABC123", "XYZ789"]


def test_read_is_emitted_within_the_bounded_delay_even_if_vehicle_stays():
    tr = tracker(max_delay_s=0.5)
    reads = []
    for seq in range(30):
        got = tr.update(seq, seq * 100_000_000, [cand("ABC123")])
        if got:
            reads.append((seq, got))
    assert len(reads) == 1                       # later sightings are absorbed, no duplicate read
    assert reads[0][0] == 5                      # emitted at 0.5 s after first seen


def test_short_tracks_are_counted_not_silently_lost():
    tr = tracker(min_frames=3)
    frames(tr, [[cand("ABC123")], [], [], [], [], []])
    assert tr.discarded == 1


def test_flush_emits_pending_tracks():
    tr = tracker()
    frames(tr, [[cand("ABC123")], [cand("ABC123")]])
    assert len(tr.flush()) == 1 and tr.tracks == []


def test_tick_ages_tracks_without_frames():
    tr = tracker(max_delay_s=0.3)
    tr.update(0, 0, [cand("ABC123")])
    assert tr.tick(0, 400_000_000) != []
