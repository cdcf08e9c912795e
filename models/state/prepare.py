"""Cut the untouched PP-OCRv6 small recogniser (rapidocr wheel, Apache-2.0) down to header text.

The plate's state is read from the words printed above and below the serial (the state's name, its
slogan). Unlike the plate OCR (models/ocr/, fine-tuned to 0-9A-Z), this one keeps PaddleOCR's own
weights untouched, and with them its reading of lower case and script-like words:
- the 18,710-way output layer keeps only blank + 0-9 + A-Z + a-z + space + .-', (68 columns): 2.2 M
  fewer weights, and no answer in characters a US plate never prints;
- the input is fixed at 1x3x48x320 (a header band is ~7 times as wide as it is tall), SAME padding made
  explicit, Softmax kept (the unit decodes probabilities).
usage: python models/state/prepare.py OUT.onnx [--rapidocr-model PATH]
"""

import argparse
import string
import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ocr"))
from prepare_base import explicit_padding, fix_line_shapes, rapidocr_rec_model, slice_classifier  # noqa: E402

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase + " .-',"
H, W = 48, 320


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--rapidocr-model", type=Path, default=None)
    args = ap.parse_args()
    m = onnx.load(str(args.rapidocr_model or rapidocr_rec_model()))
    chars = ["<blank>"] + [p.value for p in m.metadata_props if p.key == "character"][0].split("\n")
    chars.append(" ")  # PaddleOCR's use_space_char: the last column is the space
    keep = [0] + [chars.index(c) for c in ALPHABET]
    last = m.graph.node[-1]
    assert last.op_type == "Softmax", last.op_type
    slice_classifier(m, keep, (len(chars),))
    fix_line_shapes(m, W, len(keep), ALPHABET)
    print("explicit padding on", explicit_padding(m), "nodes")
    onnx.checker.check_model(m)
    onnx.save(m, str(args.out))
    print("wrote", args.out, "classes", len(keep))


if __name__ == "__main__":
    main()
