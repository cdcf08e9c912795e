import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture
def cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def alpr_unit_cmd() -> list[str]:
    return [sys.executable, "-m", "firmware"]


@pytest.fixture(autouse=True)
def _restore_umask():
    """`alpr-unit` sets umask 0027 for the unit's data (firmware/cli.py); a test that calls main() in-process
    must not leave it set for the tests after it (the package build needs 0644 files)."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)
