"""The plate's state of a vehicle: what its track keeps of its largest sightings, and how they are read.

The state is printed in small letters above and below the serial (~10 px tall on a far plate), so the
unit reads it on a vehicle's few largest sightings rather than on the frame with the surest serial.
Keeping those frames whole would hold megabytes a vehicle; a cut around the plate, shrunk when the plate
is close, holds what the state reader looks at and no more. The answers are combined by the pure
consensus.vote_states. Used by capture.CameraPipeline and the pipeline bench alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

from firmware.consensus import StateVote, Track, vote_states

log = logging.getLogger(__name__)

# What a track keeps of a sighting for reading the state. The reader cuts its header and footer bands
# from -5 % to 105 % of the box's width and height (recognition/state_reader.py TEXT_BANDS); the margins
# are generous so a loose or tilted box still has its words inside.
VIEW_MARGIN_X = 0.10   # of the box's width, left and right
VIEW_MARGIN_Y = 0.40   # of the box's height, above and below
# A close plate is shrunk until its box fits this (px): the state model reads 48 px tall lines and the
# header band is a third of the box, so it loses nothing it can use, and a view stays under ~0.4 MB.
VIEW_MAX_BOX = (400, 160)


@dataclass(frozen=True)
class StateView:
    """A sighting's plate surroundings, cut from its frame, and the plate's box in them."""

    image: np.ndarray
    box: tuple[int, int, int, int]


def plate_surroundings(image: np.ndarray, box: tuple[int, int, int, int], margin_x: float = VIEW_MARGIN_X,
                       margin_y: float = VIEW_MARGIN_Y, max_box: tuple[int, int] = VIEW_MAX_BOX) -> StateView | None:
    """The box and its margins cut from `image` (clipped to it, copied: the frame can go), the box
    re-expressed in the cut's pixels; shrunk when the box is larger than `max_box`. None for an empty box."""
    x, y, w, h = box
    height, width = image.shape[:2]
    if w <= 0 or h <= 0:
        return None
    x0, y0 = max(0, int(np.floor(x - margin_x * w))), max(0, int(np.floor(y - margin_y * h)))
    x1, y1 = min(width, int(np.ceil(x + w + margin_x * w))), min(height, int(np.ceil(y + h + margin_y * h)))
    if x1 <= x0 or y1 <= y0:
        return None
    crop = image[y0:y1, x0:x1]
    scale = min(1.0, max_box[0] / w, max_box[1] / h)
    if scale >= 1.0:
        return StateView(crop.copy(), (x - x0, y - y0, w, h))
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    sx, sy = size[0] / crop.shape[1], size[1] / crop.shape[0]
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return StateView(small, (round((x - x0) * sx), round((y - y0) * sy), max(1, round(w * sx)), max(1, round(h * sy))))


@dataclass(frozen=True)
class TrackStateRead:
    vote: StateVote
    views: int          # views there were to read
    asked: int          # answers the reader gave
    failed: int         # views whose reading raised (counted as errors by the caller)
    reader_off: bool    # the reader answered None: switched off, nothing more to ask it
    frames: tuple[int, ...] = ()   # seqs of the frames whose view named the voted state


def read_track_state(track: Track, read_state: Callable) -> TrackStateRead:
    """Read the state on the track's views, largest first, vote, and set it on the best sighting's
    candidate (the read's) when the vote names one, with the frames whose views named it (so the record
    says where its state was read, not only which frame its serial came from). Stops at the first
    contradiction (nothing after it can change the answer) and when the reader says it is off. Without
    views the best frame is read. A failure costs that view's answer, never the read. The views are let
    go of whatever happens."""
    views = [(seq, v.image, v.box) for seq, v in track.take_views()]
    best = track.best
    if not views and best is not None and best.payload is not None:
        views = [(best.frame_seq, best.payload.image, best.candidate.box)]
    answers: list[tuple[str | None, float]] = []
    seqs: list[int] = []
    failed, off = 0, False
    for seq, image, box in views:
        try:
            decision = read_state(image, box)
        except Exception:
            failed += 1
            log.exception("state reading failed", extra={"event": "state.error"})
            continue
        if decision is None:
            off = True
            break
        answers.append((decision.state, decision.confidence))
        seqs.append(seq)
        if len({state for state, _ in answers if state}) > 1:
            break
    vote = vote_states(answers)
    frames = tuple(seq for seq, (state, _) in zip(seqs, answers) if vote.state and state == vote.state)
    if vote.state is not None and best is not None:
        best.candidate = replace(best.candidate, state=vote.state, state_confidence=vote.confidence,
                                 state_frames=frames)
    return TrackStateRead(vote, len(views), len(answers), failed, off, frames)
