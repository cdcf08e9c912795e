"""The hand-made state labels of the dev photos (tests/data/openalpr_us_dev_states.tsv) stay complete and valid.

They are the yardstick for reading the plate's state (issue 21): every dev photo labelled once, with a
USPS code or `unknown`, and the plate text the benchmark gives. The photos themselves are read only when
../shared is present.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "tests" / "data" / "openalpr_us_dev_states.tsv"
CODES = set("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
            "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split())


def _rows() -> list[list[str]]:
    lines = [line for line in LABELS.read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0].split("\t")[:3] == ["image", "plate", "state"]
    return [line.split("\t") for line in lines[1:]]


def test_labels_are_valid_codes_or_unknown_and_unique():
    rows = _rows()
    assert len(rows) == 140
    assert len({r[0] for r in rows}) == len(rows)
    assert all(r[2] in CODES or r[2] == "unknown" for r in rows)
    legible = [r for r in rows if r[2] != "unknown"]
    assert 40 <= len(legible) < len(rows)
    assert all(r[3] for r in legible)  # each legible label says what was read


def test_labels_name_every_dev_photo_with_its_plate(shared_dir):
    from firmware.recognition.evaluate import load_dataset

    dataset = {t.image.name: {p for _, p in t.plates} for t in load_dataset(shared_dir / "data" / "plates" / "openalpr-us-dev")}
    rows = _rows()
    assert {r[0] for r in rows} == set(dataset)
    assert all(r[1] in dataset[r[0]] for r in rows)
