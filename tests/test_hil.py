"""The HIL rig's scenarios, run against the real daemon on this PC (pty GPS, folder camera)."""

import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO))
from hil.rig import run_scenario  # noqa: E402

SCENARIOS = sorted((REPO / "hil" / "scenarios").glob("*.toml"))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_hil_scenario(scenario: Path, tmp_path):
    result = run_scenario(scenario, tmp_path)
    assert result["ok"], result["failures"]
