"""Which model files the unit runs, and proof they are the ones we tested.

`models/manifest.json` names each model with its sha256; a file that does not match is refused
(ModelIntegrityError) rather than run, because a silently swapped or truncated model reads plates
wrong without any other symptom. Where the files live:
- a source checkout: the repo's `models/` folder;
- an installed package (`pip install .`): `firmware/models_data/`, which setup.py's build step fills
  from `models/` (manifest.json and the .tflite files it names).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

MANIFEST = "manifest.json"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent / "models_data"
_REPO_DIR = Path(__file__).resolve().parent.parent.parent / "models"


class ModelIntegrityError(Exception):
    """A model file is missing, unlisted, or its sha256 differs from the manifest."""


def default_model_dir() -> Path:
    """The repo's models/ in a source checkout, else the copy shipped inside the package."""
    for candidate in (_REPO_DIR, _PACKAGE_DIR):
        if (candidate / MANIFEST).is_file():
            return candidate
    return _REPO_DIR


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(model_dir: Path | None = None) -> dict:
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    path = model_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelIntegrityError(f"no {MANIFEST} in {model_dir}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"cannot read {path}: {exc}") from None
    if not isinstance(data.get("models"), dict):
        raise ModelIntegrityError(f"{path}: no 'models' object")
    return data


@lru_cache(maxsize=32)
def _checked(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    return sha256_file(Path(path)) == expected


def load_model_entry(model_dir: Path | None, name: str) -> tuple[Path, dict]:
    """(path, entry) of model `name`; raises ModelIntegrityError when missing or its sha256 differs."""
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    models = read_manifest(model_dir)["models"]
    if name not in models:
        raise ModelIntegrityError(f"model {name!r} not in {model_dir / MANIFEST} (has: {', '.join(models)})")
    entry = dict(models[name])
    path = model_dir / entry.get("file", "")
    if not entry.get("file") or not path.is_file():
        raise ModelIntegrityError(f"model {name!r}: file {path} missing")
    expected = str(entry.get("sha256", "")).lower()
    if not expected:
        raise ModelIntegrityError(f"model {name!r}: manifest has no sha256")
    stat = path.stat()
    if not _checked(str(path), stat.st_size, stat.st_mtime_ns, expected):
        raise ModelIntegrityError(f"model {name!r}: sha256 of {path} does not match the manifest")
    return path, entry
