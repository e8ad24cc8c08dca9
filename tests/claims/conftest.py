"""The claims a notebook's prose makes, checked against the figures that notebook recorded in
``artifacts/notebooks/<preset>/NN.json`` when it last ran. These run after the notebooks (``make
test`` runs unit tests, then the notebooks, then these); the preset is ``$DIGR_PRESET`` (ci)."""
import json
import os
from pathlib import Path

import pytest

from digr_utils.runs import REPO_ROOT

# Read before tests/conftest.py points DIGR_ARTIFACTS at a temporary folder for the unit tests.
RECORDED = Path(os.environ.get("DIGR_ARTIFACTS", REPO_ROOT / "artifacts")) / "notebooks"


@pytest.fixture(scope="session")
def preset() -> str:
    return os.environ.get("DIGR_PRESET", "ci")


@pytest.fixture(scope="session")
def recorded(preset):
    """``recorded("05")`` -> the figures notebook 05 recorded on this preset."""
    def load(notebook: str) -> dict:
        path = RECORDED / preset / f"{notebook}.json"
        if not path.exists():
            pytest.fail(f"{path} is missing: run notebook {notebook} on the {preset} preset first "
                        f"(make notebooks, or make run PRESET={preset})")
        return json.loads(path.read_text(encoding="utf-8"))
    return load
