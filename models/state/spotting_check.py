"""Choose the keyword-spotting floor (state_spotting.spot) on rendered plates, never on photos.

Renders as models/state/bands_check.py does (a state's name in the header, its slogan below half the
time, far-plate shrinking, blur, JPEG, a detector-like box), plus plates too small to read (35-60 px
wide), where any state given is a guess. For each floor: the share of plates read right and given a
wrong state by text similarity alone (state.match_phrases) and by similarity plus spotting. The floor
shipped is the lowest whose wrong share stays at or below the similarity rule's own plus 0.5 point.

usage: python models/state/spotting_check.py [--n 400] [--seed 11]    (the unit's venv)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import firmware.recognition.state_reader as sr  # noqa: E402
from bands_check import render  # noqa: E402
from firmware.recognition.manifest import load_model_entry  # noqa: E402
from firmware.recognition.state import decide, match_phrases  # noqa: E402
from firmware.recognition.state_spotting import spotted_matches  # noqa: E402

FLOORS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    path, entry = load_model_entry(None, "state_text")
    reader = sr.StateReader(path, entry)
    rng = np.random.default_rng(args.seed)
    rows = []
    for i in range(args.n):
        small = i % 4 == 3          # a quarter too small to read
        img, box, state = render(rng, (35, 60) if small else (60, 160))
        bands = {b: reader.probabilities(sr.cut(img, box, f)) for b, f in sr.TEXT_BANDS.items()}
        rows.append((state, small, bands))
    out = {}

    def score(floor):
        got = []
        for state, small, bands in rows:
            matches = []
            for band, probs in bands.items():
                text = sr.ctc_greedy(probs, reader.alphabet).text
                matches += match_phrases(text, band)
                if floor is not None:
                    matches += spotted_matches(probs, reader.alphabet, band, floor)
            got.append((decide(matches, None).state, state, small))
        n = len(got)
        return {"right": round(sum(g == s for g, s, _ in got) / n, 4),
                "wrong": round(sum(g is not None and g != s for g, s, _ in got) / n, 4),
                "wrong_on_unreadable": sum(g is not None and g != s for g, s, sm in got if sm)}

    out["similarity only"] = base = score(None)
    chosen = None
    for floor in FLOORS:
        out[f"floor {floor}"] = r = score(floor)
        if chosen is None and r["wrong"] <= base["wrong"] + 0.005:
            chosen = floor
    print(json.dumps({"n": args.n, "seed": args.seed, "chosen_floor": chosen, **out}, indent=1))


if __name__ == "__main__":
    main()
