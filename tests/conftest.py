"""Session fixtures: each simulated (synthetic) dataset is written once per test session.

Tests read these folders and never write into them; a test that changes files copies the
folder first (``shutil.copytree`` into its ``tmp_path``).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sitsfusion.simulate import simulate_multisenge, simulate_pastis, simulate_sen4agrinet

SEN4AGRINET_GROUPS = (("catalonia", 2019), ("catalonia", 2020), ("france", 2019))
"""The region / year groups of seed 004's scenarios (Table II)."""
MULTISENGE_TILES = ("31UFQ", "31UFP", "31UEQ")
"""One training, one validation and one test tile of seed 003's split."""


@pytest.fixture(scope="session")
def pastis_r(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic PASTIS-R folder: 6 patches of 32 x 32 (folds 1-5), S2 / S1A / S1D."""
    return simulate_pastis(tmp_path_factory.mktemp("pastis_r") / "sim", patches=6, size=32, seed=2)


@pytest.fixture(scope="session")
def sen4agrinet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic Sen4AgriNet folder: 2 netCDF patches of 24 x 24 (10 m) in each group
    of :data:`SEN4AGRINET_GROUPS` (6 files; 12-pixel sub-patches fit, 61-pixel ones do not)."""
    pytest.importorskip("h5netcdf")
    root = tmp_path_factory.mktemp("sen4agrinet") / "S4A"
    for region, year in SEN4AGRINET_GROUPS:
        simulate_sen4agrinet(root, patches=2, size=24, seed=5, region=region, year=year)
    return root


@pytest.fixture(scope="session")
def multisenge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic MultiSenGE folder: 6 patches of 32 x 32 spread over
    :data:`MULTISENGE_TILES` (2 each), S2 / S1 GeoTIFFs, ground reference, JSON."""
    pytest.importorskip("rasterio")
    return simulate_multisenge(
        tmp_path_factory.mktemp("multisenge") / "msg",
        patches=6,
        size=32,
        seed=0,
        tiles=MULTISENGE_TILES,
    )


@dataclass
class Ran:
    """What a ``sitsfusion`` command printed and returned."""

    code: int
    stdout: str
    stderr: str


@pytest.fixture
def sitsfusion_main(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """Run ``sitsfusion ARGS`` through its real entry point (:func:`sitsfusion.cli.main`: the
    error handling of the console script) in this process — a subprocess would spend seconds
    importing torch; one test in tests/cli still starts the real ``python -m sitsfusion``."""
    from sitsfusion.cli import main

    def run(*args: str) -> Ran:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture
def alarm() -> Iterator[None]:
    """A regression that opens a named pipe would block: fail after 10 s instead."""

    def timeout(signum: int, frame: Any) -> None:
        raise TimeoutError("blocked on a named pipe")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
