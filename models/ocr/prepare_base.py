"""Cut the PP-OCRv6 small recogniser (shipped in the `rapidocr` wheel, Apache-2.0) down to plates.

- the 18,710-way output layer keeps only blank + 0-9A-Z (37 columns): 2.2 M fewer weights, and the
  model can no longer answer with characters a plate never has;
- the input is fixed at 1x3x48x160 (batch left free for training), SAME padding made explicit
  (onnx2torch cannot do auto_pad), and the final Softmax removed (training wants logits; the
  export adds it back).
usage: python models/ocr/prepare_base.py OUT.onnx [--rapidocr-model PATH]
"""

import argparse
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
H, W = 48, 160


def rapidocr_rec_model() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).parent / "models" / "PP-OCRv6_rec_small.onnx"


def explicit_padding(m: onnx.ModelProto) -> int:
    inferred = shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: i for i in m.graph.initializer}
    fixed = 0
    for node in m.graph.node:
        ap = [a for a in node.attribute if a.name == "auto_pad"]
        if not ap or ap[0].s.decode() in ("NOTSET", "VALID"):
            continue
        mode = ap[0].s.decode()
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        spatial = shapes[node.input[0]][2:]
        if node.op_type == "Conv" and node.input[1] in inits:
            k = list(inits[node.input[1]].dims[2:])
        else:
            k = list(attrs["kernel_shape"])
        s = attrs.get("strides", [1] * len(k))
        d = attrs.get("dilations", [1] * len(k))
        begin, end = [], []
        for i in range(len(k)):
            out = math.ceil(spatial[i] / s[i])
            total = max((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - spatial[i], 0)
            lo = total // 2 if mode == "SAME_UPPER" else total - total // 2
            begin.append(lo)
            end.append(total - lo)
        node.attribute.remove(ap[0])
        for a in list(node.attribute):
            if a.name == "pads":
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute("pads", begin + end))
        fixed += 1
    return fixed


def slice_classifier(m: onnx.ModelProto, keep: list[int], columns: tuple[int, ...]) -> None:
    """Keep only the `keep` classes of the recogniser's classifier (its last MatMul + bias Add), in place.

    `columns`: the classifier widths the caller expects before the cut (an assertion, so a changed
    upstream model fails here rather than producing a shifted alphabet). The state reader's script
    (models/state/prepare.py) makes the same cut for another alphabet.
    """
    matmul = [n for n in m.graph.node if n.op_type == "MatMul"][-1]
    inits = {i.name: i for i in m.graph.initializer}
    weight = inits[matmul.input[1]]
    w = numpy_helper.to_array(weight)
    assert w.shape[1] in columns, (w.shape, columns)
    weight.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w[:, keep]), weight.name))
    adds = [n for n in m.graph.node if n.op_type == "Add" and matmul.output[0] in n.input]
    bias = inits[[i for i in adds[0].input if i in inits][0]]
    bias.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(bias)[keep]), bias.name))


def fix_line_shapes(m: onnx.ModelProto, width: int, classes: int, alphabet: str) -> None:
    """Fix the input width and the output's (width / 8, classes) shape, drop stale shapes, record the alphabet."""
    dims = m.graph.output[0].type.tensor_type.shape.dim
    dims[2].dim_value = classes
    dims[1].ClearField("dim_param")
    dims[1].dim_value = width // 8
    inp = m.graph.input[0].type.tensor_type.shape.dim
    inp[3].ClearField("dim_param")
    inp[3].dim_value = width
    del m.graph.value_info[:]  # stale shapes after slicing
    del m.metadata_props[:]
    m.metadata_props.add(key="character", value=alphabet)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--rapidocr-model", type=Path, default=None)
    args = ap.parse_args()
    m = onnx.load(str(args.rapidocr_model or rapidocr_rec_model()))
    chars = ["<blank>"] + [p.value for p in m.metadata_props if p.key == "character"][0].split("\n")
    keep = [0] + [chars.index(c) for c in ALPHABET]
    last = m.graph.node[-1]
    assert last.op_type == "Softmax", last.op_type
    logits = last.input[0]
    final_add = [n for n in m.graph.node if logits in n.output or (n.op_type == "Identity" and logits in n.output)]
    slice_classifier(m, keep, (len(chars), len(chars) + 1))  # +1: trailing space class
    # drop the softmax: output the logits
    m.graph.node.remove(last)
    m.graph.output[0].name = logits
    fix_line_shapes(m, W, len(keep), ALPHABET)
    print("explicit padding on", explicit_padding(m), "nodes;", len(final_add), "logit producers")
    onnx.checker.check_model(m)
    onnx.save(m, str(args.out))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
