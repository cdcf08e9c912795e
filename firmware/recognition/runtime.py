"""One place that knows how to get a LiteRT interpreter, so models never import a runtime directly.

The Pi image may carry `ai_edge_litert` (current name) or the older `tflite_runtime`; both expose the
same Interpreter API. XNNPACK is the default CPU delegate in both; switching it off means asking for
the builtin op resolver without default delegates, which is the knob field tests use to compare.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter as module  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - depends on the installed runtime
        from tflite_runtime import interpreter as module  # type: ignore[import-not-found]
    return module


_STDERR_LOCK = threading.Lock()


@contextmanager
def _native_stderr_to_log(model_name: str):
    """The runtime's C++ logger prints plain text ("Created TensorFlow Lite XNNPACK delegate") on fd 2,
    which would break one-JSON-object-per-line logs; capture it and re-log it structured."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.debug("runtime output", extra={"event": "interpreter_stderr", "model": model_name, "text": text})


def make_interpreter(model_path: Path, threads: int = 1, use_xnnpack: bool = True):
    """ai_edge_litert.interpreter.Interpreter, falling back to tflite_runtime.interpreter; allocate_tensors() done."""
    module = _interpreter_module()
    kwargs = {"model_path": str(model_path), "num_threads": int(threads)}
    if not use_xnnpack:
        kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with _native_stderr_to_log(Path(model_path).name):
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
