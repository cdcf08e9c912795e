"""One place that knows how to get a LiteRT interpreter, so models never import a runtime directly.

The Pi image may carry `ai_edge_litert` (current name) or the older `tflite_runtime`; both expose the
same Interpreter API. XNNPACK is the default CPU delegate in both; switching it off means asking for
the builtin op resolver without default delegates, which is the knob field tests use to compare.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter as module  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - depends on the installed runtime
        from tflite_runtime import interpreter as module  # type: ignore[import-not-found]
    return module


def make_interpreter(model_path: Path, threads: int = 1, use_xnnpack: bool = True):
    """ai_edge_litert.interpreter.Interpreter, falling back to tflite_runtime.interpreter; allocate_tensors() done."""
    module = _interpreter_module()
    kwargs = {"model_path": str(model_path), "num_threads": int(threads)}
    if not use_xnnpack:
        kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = module.Interpreter(**kwargs)
    interpreter.allocate_tensors()
    log.debug("interpreter ready", extra={"event": "interpreter_ready", "model": Path(model_path).name,
                                          "threads": threads, "xnnpack": use_xnnpack})
    return interpreter


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float input -> the tensor's dtype, using its quantization parameters when it is integer."""
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x.astype(np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x / (scale or 1.0) + zero)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """Tensor output -> float32, undoing integer quantization when present."""
    if y.dtype == np.float32:
        return y
    scale, zero = detail["quantization"]
    return (y.astype(np.float32) - zero) * (scale or 1.0)
