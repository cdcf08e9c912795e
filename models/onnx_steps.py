"""Conversion steps the model build scripts share (build machine only: onnx, onnxsim in the build venv)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def build_env() -> tuple[Path, dict]:
    """(the build venv's bin folder, an environment whose PATH finds its tools: onnxsim, onnx2tf)."""
    bindir = Path(sys.executable).parent
    return bindir, dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '')}")


def batch1_simplified(src: Path, dst: Path) -> None:
    """`src` with its batch dimension fixed to 1 (onnx2tf wants static shapes), simplified by onnxsim into `dst`.

    The intermediate `b1.onnx` is written beside `dst` (callers work in a temporary folder).
    """
    import onnx

    bindir, env = build_env()
    m = onnx.load(str(src))
    for value in (m.graph.input[0], m.graph.output[0]):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = 1
    batch1 = Path(dst).parent / "b1.onnx"
    onnx.save(m, str(batch1))
    subprocess.run([str(bindir / "onnxsim"), str(batch1), str(dst)], check=True, env=env, stdout=subprocess.DEVNULL)
