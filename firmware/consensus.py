"""Multi-frame consensus: many sightings of one vehicle become one read.

Pure logic over plain data (no images are inspected here). Sightings are linked across frames by
box overlap or text similarity; the text is chosen by per-character confidence voting among the
sightings of the most supported length. A track becomes a read when the vehicle leaves view or,
at the latest, `max_delay_s` after it was first seen; later sightings of it are absorbed silently.

The plate's state is printed in ~10 px tall letters on a far plate, so a track also keeps a view
(the caller's small cut of the frame around the box) of its `state_views` largest sightings: the
state is read on those and the answers combined by `vote_states` (capture.CameraPipeline).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Callable, Iterable

from firmware.records import PlateCandidate


@dataclass
class Sighting:
    frame_seq: int
    mono_ns: int
    candidate: PlateCandidate
    payload: Any = None   # the caller's frame reference; kept only for the best sighting
    view: Any = None      # the caller's cut around the box for reading the state; kept for the largest few

    @property
    def area(self) -> int:
        _, _, w, h = self.candidate.box
        return max(0, w) * max(0, h)


ViewOf = Callable[[Any, PlateCandidate], Any]


@dataclass
class Track:
    id: int
    sightings: list[Sighting] = field(default_factory=list)
    best: Sighting | None = None
    emitted: bool = False
    views: list[Sighting] = field(default_factory=list)   # largest box first (ties: earlier first), each with .view
    views_dropped: int = 0   # views cut and later let go for a larger sighting (the bound at work, not data loss)

    @property
    def first(self) -> Sighting:
        return self.sightings[0]

    @property
    def last(self) -> Sighting:
        return self.sightings[-1]

    def add(self, sighting: Sighting, max_views: int = 0, view_of: ViewOf | None = None) -> None:
        """Append a sighting; keep the frame only of the best one and a view only of the `max_views`
        largest ones (a view is cut only when the sighting gets a place, so a small plate costs nothing)."""
        if view_of is not None and max_views > 0 and sighting.payload is not None:
            self._offer_view(sighting, max_views, view_of)
        self.sightings.append(sighting)
        if self.best is None or sighting.candidate.confidence > self.best.candidate.confidence:
            if self.best is not None:
                self.best.payload = None
            self.best = sighting
        else:
            sighting.payload = None

    def take_views(self) -> list[tuple[int, Any]]:
        """The kept views as (frame_seq, view), largest first, handed over once: the track lets go of them."""
        views = [(s.frame_seq, s.view) for s in self.views if s.view is not None]
        for sighting in self.views:
            sighting.view = None
        self.views = []
        return views

    def _offer_view(self, sighting: Sighting, max_views: int, view_of: ViewOf) -> None:
        place = view_place([s.area for s in self.views], sighting.area, max_views)
        if place is None:
            return
        sighting.view = view_of(sighting.payload, sighting.candidate)
        if sighting.view is None:
            return
        self.views.insert(place, sighting)
        while len(self.views) > max_views:
            self.views.pop().view = None
            self.views_dropped += 1


def view_place(kept_areas: list[int], area: int, max_views: int) -> int | None:
    """Where a sighting of box `area` goes among kept views (areas largest first, at most `max_views`),
    or None when it does not get a place. A tie goes after the earlier ones: the first seen stays."""
    place = next((i for i, kept in enumerate(kept_areas) if area > kept), len(kept_areas))
    return place if place < max_views else None


@dataclass(frozen=True)
class Vote:
    text: str
    char_confidences: tuple[float, ...]
    confidence: float
    support: int          # sightings that agreed on the winning length


def vote(candidates: list[PlateCandidate]) -> Vote:
    """Per-character confidence voting among candidates of the best-supported text length."""
    by_length: dict[int, list[PlateCandidate]] = {}
    for cand in candidates:
        by_length.setdefault(len(cand.text), []).append(cand)
    length, group = max(by_length.items(), key=lambda kv: (sum(c.confidence for c in kv[1]), len(kv[1]), kv[0]))
    chars, confs = [], []
    for pos in range(length):
        scores: dict[str, float] = {}
        for cand in group:
            conf = cand.char_confidences[pos] if pos < len(cand.char_confidences) else cand.confidence
            scores[cand.text[pos]] = scores.get(cand.text[pos], 0.0) + conf
        char, score = max(scores.items(), key=lambda kv: (kv[1], kv[0]))
        chars.append(char)
        confs.append(score / len(group))   # agreement-weighted: dissent lowers confidence
    confidence = min(confs) if confs else 0.0
    return Vote("".join(chars), tuple(round(c, 4) for c in confs), round(confidence, 4), len(group))


@dataclass(frozen=True)
class StateVote:
    state: str | None
    confidence: float
    source: str          # "agree" (every state read is this one) | "conflict" | "none" (no view read one)
    reads: int           # answers looked at
    agreeing: int        # answers that named `state`


STATE_CONFIDENCE_CAP = 0.99   # the views are of one plate through one reader: not independent evidence


def vote_states(answers: Iterable[tuple[str | None, float | None]], cap: float = STATE_CONFIDENCE_CAP) -> StateVote:
    """The plate's state from the answers read on several views of it: (state or None, confidence).

    Every answer that names a state names the same one -> that state, its confidence 1 - prod(1 - c)
    over those answers, at most `cap` but never below the surest single answer; two different states
    -> no state (a wrong state turns a true hit into a "possible" one); no state named -> no state.
    An answer that names none (not legible) neither adds nor takes away. Confidences are clipped to 0..1.
    """
    named: dict[str, list[float]] = {}
    reads = 0
    for state, confidence in answers:
        reads += 1
        if state:
            c = confidence if confidence is not None and confidence == confidence else 0.0   # NaN -> 0
            named.setdefault(state, []).append(min(1.0, max(0.0, float(c))))
    if len(named) > 1:
        return StateVote(None, 0.0, "conflict", reads, 0)
    if not named:
        return StateVote(None, 0.0, "none", reads, 0)
    (state, confs), = named.items()
    doubt = 1.0
    for c in confs:
        doubt *= 1.0 - c
    confidence = max(max(confs), min(cap, 1.0 - doubt))
    return StateVote(state, round(confidence, 4), "agree", reads, len(confs))


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def text_similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b).ratio() if a and b else 0.0


class ConsensusTracker:
    """Feed each frame's candidates with `update`; it returns tracks that became reads."""

    def __init__(self, *, max_gap_frames: int, max_delay_s: float, min_frames: int,
                 iou_threshold: float, text_similarity: float, state_views: int = 1):
        # views kept per track for reading the state (update's view_of); the unit's config says 3, a
        # tracker built by hand keeps the single largest (the cost of the former one read per vehicle)
        self.state_views = state_views
        self.max_gap_frames = max_gap_frames
        self.max_delay_ns = int(max_delay_s * 1e9)
        self.min_frames = min_frames
        self.iou_threshold = iou_threshold
        self.text_similarity = text_similarity
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)
        self.discarded = 0   # tracks too short to become reads (counted, never silent)

    def _affinity(self, track: Track, cand: PlateCandidate) -> float:
        last = track.last.candidate
        overlap = iou(last.box, cand.box)
        similar = text_similarity(last.text, cand.text)
        if overlap >= self.iou_threshold or (similar >= self.text_similarity and overlap > 0) or similar >= 0.85:
            return overlap + similar
        return 0.0

    def update(self, frame_seq: int, mono_ns: int, candidates: list[PlateCandidate],
               payload: Any = None, view_of: ViewOf | None = None) -> list[Track]:
        """`view_of(payload, candidate)`, when given, cuts what a track keeps of its largest sightings."""
        pairs = sorted(
            ((self._affinity(t, c), ti, ci) for ti, t in enumerate(self.tracks) for ci, c in enumerate(candidates)),
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_cands: set[int] = set()
        for score, ti, ci in pairs:
            if score <= 0 or ti in used_tracks or ci in used_cands:
                continue
            used_tracks.add(ti)
            used_cands.add(ci)
            track = self.tracks[ti]   # an emitted track's state was read already: it cuts no more views
            track.add(Sighting(frame_seq, mono_ns, candidates[ci], payload), self.state_views,
                      None if track.emitted else view_of)
        for ci, cand in enumerate(candidates):
            if ci not in used_cands:
                track = Track(next(self._ids))
                track.add(Sighting(frame_seq, mono_ns, cand, payload), self.state_views, view_of)
                self.tracks.append(track)
        return self._collect(frame_seq, mono_ns)

    def tick(self, frame_seq: int, mono_ns: int) -> list[Track]:
        """A frame with no plates still ages tracks."""
        return self._collect(frame_seq, mono_ns)

    def flush(self) -> list[Track]:
        """End of stream or shutdown: everything pending becomes a read now."""
        ready = [t for t in self.tracks if not t.emitted and len(t.sightings) >= self.min_frames]
        self.discarded += sum(1 for t in self.tracks if not t.emitted and len(t.sightings) < self.min_frames)
        self.tracks = []
        return ready

    def _collect(self, frame_seq: int, mono_ns: int) -> list[Track]:
        ready, keep = [], []
        for track in self.tracks:
            gone = frame_seq - track.last.frame_seq > self.max_gap_frames
            overdue = mono_ns - track.first.mono_ns >= self.max_delay_ns
            if not track.emitted and (gone or overdue):
                if len(track.sightings) >= self.min_frames:
                    track.emitted = True
                    ready.append(track)
                elif gone:
                    self.discarded += 1
            if not gone:
                keep.append(track)
        self.tracks = keep
        return ready
