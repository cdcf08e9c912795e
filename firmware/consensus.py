"""Multi-frame consensus: many sightings of one vehicle become one read.

Pure logic over plain data (no images are inspected here). Sightings are linked across frames by
box overlap or text similarity; the text is chosen by per-character confidence voting among the
sightings of the most supported length. A track becomes a read when the vehicle leaves view or,
at the latest, `max_delay_s` after it was first seen; later sightings of it are absorbed silently.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from firmware.records import PlateCandidate


@dataclass
class Sighting:
    frame_seq: int
    mono_ns: int
    candidate: PlateCandidate
    payload: Any = None   # the caller's frame reference; kept only for the best sighting


@dataclass
class Track:
    id: int
    sightings: list[Sighting] = field(default_factory=list)
    best: Sighting | None = None
    emitted: bool = False

    @property
    def first(self) -> Sighting:
        return self.sightings[0]

    @property
    def last(self) -> Sighting:
        return self.sightings[-1]

    def add(self, sighting: Sighting) -> None:
        self.sightings.append(sighting)
        if self.best is None or sighting.candidate.confidence > self.best.candidate.confidence:
            if self.best is not None:
                self.best.payload = None
            self.best = sighting
        else:
            sighting.payload = None


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
                 iou_threshold: float, text_similarity: float):
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
               payload: Any = None) -> list[Track]:
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
            self.tracks[ti].add(Sighting(frame_seq, mono_ns, candidates[ci], payload))
        for ci, cand in enumerate(candidates):
            if ci not in used_cands:
                track = Track(next(self._ids))
                track.add(Sighting(frame_seq, mono_ns, cand, payload))
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
