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

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ocr"))
from prepare_base import explicit_padding, rapidocr_rec_model  # noqa: E402  (same cut, other alphabet)

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
    matmul = [n for n in m.graph.node if n.op_type == "MatMul"][-1]
    inits = {i.name: i for i in m.graph.initializer}
    weight = inits[matmul.input[1]]
    w = numpy_helper.to_array(weight)
    assert w.shape[1] == len(chars), (w.shape, len(chars))
    weight.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w[:, keep]), weight.name))
    adds = [n for n in m.graph.node if n.op_type == "Add" and matmul.output[0] in n.input]
    bias = inits[[i for i in adds[0].input if i in inits][0]]
    bias.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(bias)[keep]), bias.name))
    out = m.graph.output[0].type.tensor_type.shape.dim
    out[2].dim_value = len(keep)
    out[1].ClearField("dim_param")
    out[1].dim_value = W // 8
    inp = m.graph.input[0].type.tensor_type.shape.dim
    inp[3].ClearField("dim_param")
    inp[3].dim_value = W
    del m.graph.value_info[:]  # stale shapes after slicing
    del m.metadata_props[:]
    m.metadata_props.add(key="character", value=ALPHABET)
    print("explicit padding on", explicit_padding(m), "nodes")
    onnx.checker.check_model(m)
    onnx.save(m, str(args.out))
    print("wrote", args.out, "classes", len(keep))


if __name__ == "__main__":
    main()
