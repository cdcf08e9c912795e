"""Rebuild models/manifest.json from each model family's manifest_entry.json.

Each rebuild script (models/detector/, models/ocr/) writes its own entries with their sha256; this
merges them, checks every named file exists and matches, and writes the manifest the unit reads.
usage: python models/update_manifest.py
"""

import hashlib
import json
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parent


def main() -> int:
    merged: dict = {}
    for entry_file in sorted(MODELS.glob("*/manifest_entry.json")):
        for name, entry in json.loads(entry_file.read_text()).items():
            path = MODELS / entry["file"]
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            if digest != entry["sha256"]:
                print(f"{entry_file}: {name}: {path.name} {'missing' if digest is None else 'sha256 differs'}",
                      file=sys.stderr)
                return 1
            merged[name] = entry
    (MODELS / "manifest.json").write_text(json.dumps({"models": merged}, indent=2) + "\n")
    print(f"manifest.json: {', '.join(merged)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
