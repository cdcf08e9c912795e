#!/usr/bin/env python3
"""The plate's state per vehicle over rendered passes: one read on the best frame against the vote of
the vehicle's largest sightings (consensus.state_views), both against what the same reader reads on the
clean plate.

    .venv/bin/python scripts/state_passes.py [--passes 48] [--frames 8] [--seed 21] [--state-views 3]

Passes are firmware/recognition/passes.py's (a plate closing in at 0-150 km/h, day/night/glare/rain).
The rendered plates carry a random state name and slogan, which may even disagree, so the truth here is
the reader's answer on the clean, large plate ('reference'; passes where it reads none are counted as
illegible). Prints one JSON object: per method, states right / wrong / none on the legible passes, and
wrong states on the illegible ones. Rendered data only: no real photo, no figure about real plates.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def clean_reference(reader, plate: np.ndarray):
    h, w = plate.shape[:2]
    canvas = np.full((h * 3, w * 2, 3), 90, np.uint8)
    y, x = h, w // 2
    canvas[y:y + h, x:x + w] = plate
    return reader.read_state(canvas, (x, y, w, h))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=48)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--state-views", type=int, default=3, choices=range(1, 9), metavar="1-8")
    args = parser.parse_args()

    from firmware.config import ConsensusConfig
    from firmware.consensus import ConsensusTracker, vote
    from firmware.recognition.config import RecognitionConfig
    from firmware.recognition.passes import pass_specs, render_pass
    from firmware.recognition.pipeline import Recognizer
    from firmware.synthetic.plate import render_plate
    from firmware.track_state import plate_surroundings, read_track_state

    recognizer = Recognizer.from_config(RecognitionConfig())
    rng = np.random.default_rng(args.seed)
    blank = {"right": 0, "wrong": 0, "none": 0, "state_on_illegible": 0, "state_on_conflicting": 0}
    score = {"best_frame": dict(blank), "largest_voted": dict(blank)}
    passes = legible = found = 0
    for spec in pass_specs(rng, args.passes, args.frames):
        twin = copy.deepcopy(rng)                    # render_pass draws the plate first: the same plate
        clean = clean_reference(recognizer, render_plate(spec.text, twin))
        reference = clean.state
        frames = render_pass(rng, spec)
        passes += 1
        legible += reference is not None
        tracker = ConsensusTracker(**ConsensusConfig(state_views=args.state_views).model_dump())
        tracks = []
        for seq, image in enumerate(frames):
            tracks += tracker.update(seq, seq * 66_000_000, recognizer.recognize(image), payload=image,
                                     view_of=lambda img, c: plate_surroundings(img, c.box))
        tracks += tracker.flush()
        track = next((t for t in tracks if vote([s.candidate for s in t.sightings]).text == spec.text), None)
        if track is None:
            continue
        found += 1
        best = track.best
        answers = {"best_frame": recognizer.read_state(best.payload, best.candidate.box).state,
                   "largest_voted": read_track_state(track, recognizer.read_state).vote.state}
        for method, state in answers.items():
            row = score[method]
            if reference is None:   # the clean plate names two states (renderer: slogan and name drawn apart) or none
                row["state_on_conflicting" if clean.source == "conflict" else "state_on_illegible"] += state is not None
            elif state is None:
                row["none"] += 1
            else:
                row["right" if state == reference else "wrong"] += 1
    print(json.dumps({"passes": passes, "frames": args.frames, "seed": args.seed, "state_views": args.state_views,
                      "plate_read": found, "reference_legible": legible, **score}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
