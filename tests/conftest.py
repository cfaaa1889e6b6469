"""Session fixtures: each simulated (synthetic) dataset is written once per test session.

Tests read these folders and never write into them; a test that changes files copies the
folder first (``shutil.copytree`` into its ``tmp_path``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitsfusion.data.simulate import simulate_pastis


@pytest.fixture(scope="session")
def pastis_r(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic PASTIS-R folder: 6 patches of 32 x 32 (folds 1-5), S2 / S1A / S1D."""
    return simulate_pastis(tmp_path_factory.mktemp("pastis_r") / "sim", patches=6, size=32, seed=2)
