"""Build hook: ship models/manifest.json and the .tflite files it names inside the package.

In a source checkout the recogniser reads the repo's models/ folder; an installed package has no
repo, so the wheel carries a copy at firmware/models_data/ (see firmware/recognition/manifest.py).
Everything else is configured in pyproject.toml.
"""

import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithModels(build_py):
    def run(self):
        super().run()
        src = ROOT / "models"
        manifest = src / "manifest.json"
        if not manifest.is_file():
            return
        dest = Path(self.build_lib) / "firmware" / "models_data"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest, dest / "manifest.json")
        for entry in json.loads(manifest.read_text())["models"].values():
            shutil.copyfile(src / entry["file"], dest / entry["file"])


setup(cmdclass={"build_py": BuildWithModels})
