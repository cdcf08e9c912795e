"""Recognition settings: which models, how many threads, how strict."""

from pathlib import Path

from pydantic import Field

from firmware.configbase import Section


class RecognitionConfig(Section):
    model_dir: Path | None = Field(
        None, description="Folder holding manifest.json and the .tflite files; default: the bundled models/"
    )
    threads: int = Field(1, ge=1, le=8, description="Interpreter threads per model")
    use_xnnpack: bool = Field(True, description="Use the XNNPACK delegate when the runtime offers it")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="Plate candidates below this are discarded")
    format_hints: bool = Field(
        True, description="Apply US plate-format knowledge as soft hints (never as a hard filter)"
    )
