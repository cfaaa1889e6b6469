"""End-to-end through the command line on a tiny simulated (synthetic) dataset."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import Ran
from paths import REPO
from sitsfusion.cli import LOG_WIDTH, cli


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "sim"
    result = CliRunner().invoke(
        cli, ["simulate", "--out", str(out), "--patches", "5", "--size", "32", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_simulate_writes_pastis_r_layout(simulated: Path) -> None:
    for folder in ("DATA_S2", "DATA_S1A", "DATA_S1D", "ANNOTATIONS", "INSTANCE_ANNOTATIONS"):
        assert len(list((simulated / folder).glob("*.npy"))) >= 5, folder
    for m in ("S2", "S1A", "S1D"):
        assert (simulated / f"NORM_{m}_patch.json").is_file()


def test_info_prints_modalities_dates_and_classes(simulated: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(simulated)])
    assert result.exit_code == 0, result.output
    for word in ("S2", "S1A", "S1D", "Meadow", "Void label", "synthetic"):
        assert word in result.output
    assert "5 patches" in result.output


def test_show_writes_png(simulated: Path, tmp_path: Path) -> None:
    from sitsfusion.data.readers.pastis import read_metadata

    pid = int(read_metadata(simulated)["ID_PATCH"].iloc[0])
    out = tmp_path / "fig" / "patch.png"
    result = CliRunner().invoke(
        cli, ["show", str(simulated), "--patch", str(pid), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert img.shape[0] > 100 and img.shape[1] > 300
    assert np.asarray(img).std() > 0.05  # not a blank canvas


def test_show_unknown_patch_is_a_clear_error(
    simulated: Path, tmp_path: Path, sitsfusion_main: Callable[..., Ran]
) -> None:
    ran = sitsfusion_main("show", simulated, "--patch", "999999", "--out", tmp_path / "x.png")
    assert ran.code == 2 and "999999" in ran.stdout


@pytest.mark.slow
def test_info_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    """The real console script in its own process: exit code 2, one message, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "sitsfusion", "info", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "nope" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_simulate_refuses_non_empty_folder(
    simulated: Path, sitsfusion_main: Callable[..., Ran]
) -> None:
    ran = sitsfusion_main("simulate", "--out", simulated)
    assert ran.code != 0 and str(simulated.name) in ran.stdout + ran.stderr


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "demo",
            "--out",
            str(tmp_path / "demo"),
            "--patches",
            "5",
            "--size",
            "32",
            "--epochs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "demo").glob("patch_*.png"))
    assert "synthetic" in result.output
    assert "late fusion + aux + temporal dropout" in result.output and "mIoU" in result.output
    run = tmp_path / "demo" / "parcel" / "garnot2021_parcel_s2"  # OUT/<task>/<name>
    assert (run / "test" / "test_metrics.json").is_file() and (run / "run.json").is_file()
    assert f"S2 only: {run / 'test'}\n" in result.output


def test_simulate_multisenge_format(tmp_path: Path) -> None:
    pytest.importorskip("rasterio")
    out = tmp_path / "msg"
    args = ["simulate", "--format", "multisenge", "--out", str(out), "--patches", "2"]
    result = CliRunner().invoke(cli, [*args, "--size", "32"])
    assert result.exit_code == 0, result.output
    from sitsfusion.data.readers.multisenge import MultiSenGE

    ds = MultiSenGE(out)
    assert len(ds) == 2 and ds[0]["S2"].num_dates == 4


def test_missing_optional_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from sitsfusion.optional import require

    monkeypatch.setitem(sys.modules, "h5netcdf", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'sitsfusion\[netcdf\]'"):
        require("h5netcdf", "netcdf", "reading Sen4AgriNet netCDF files")


def test_aggregate_a_pastis_r_folder_keeps_every_modality(simulated: Path, tmp_path: Path) -> None:
    from sitsfusion.data.oad import OADDataset

    out = tmp_path / "oad.parquet"
    result = CliRunner().invoke(
        cli, ["aggregate", str(simulated), "--format", "pastis-r", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    ds = OADDataset(out, stat="mean_std")
    assert ds.modalities == ("S1A", "S1D", "S2")
    sample = ds[0]
    assert sample["S2"].values.shape == (6, 20, 1)  # 6 months x (10 bands x mean, std)
    assert sample["S1A"].values.shape == (6, 6, 1)


def test_one_version_everywhere() -> None:
    import re
    import tomllib

    import sitsfusion

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert sitsfusion.__version__ == declared
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip().endswith(f"version {declared}")
    status = re.search(r"\*\*Status \(v([\d.]+)\)", (REPO / "README.md").read_text())
    assert status is not None, "README.md: no '**Status (vX.Y).**' line"
    assert f"{declared}.".startswith(f"{status.group(1)}."), (declared, status.group(1))


def test_version_without_a_source_tree_comes_from_the_installed_metadata(tmp_path: Path) -> None:
    import importlib.metadata

    import sitsfusion

    package = tmp_path / "site" / "sitsfusion"  # no pyproject.toml two levels up
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(Path(sitsfusion.__file__).read_text())
    code = "import sitsfusion; print(sitsfusion.__file__, sitsfusion.__version__)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(package.parent), "PATH": ""},
    )
    where, found = proc.stdout.split()
    assert Path(where).parent == package
    try:
        expected = importlib.metadata.version("sitsfusion")
    except importlib.metadata.PackageNotFoundError:
        expected = "0+unknown"
    assert found == expected


def test_logs_get_wide_unwrapped_tables_and_the_console_is_restored(
    sitsfusion_main: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output to a file (not a terminal): a table row longer than 80 columns stays on one
    line (up to ``LOG_WIDTH``); the shared console is set back after the command."""
    import click
    from rich.table import Table

    from sitsfusion.cli.app import console

    cell = "a value of a hundred characters " * 3 + "end"

    @click.command("wide-table")
    def wide_table() -> None:
        table = Table(title="wide")
        table.add_column("model")
        table.add_column("score")
        table.add_row(cell, "0.932 ± 0.017")
        console.print(table)

    monkeypatch.setitem(cli.commands, "wide-table", wide_table)
    monkeypatch.delenv("COLUMNS", raising=False)
    ran = sitsfusion_main("wide-table")
    assert ran.code == 0 and 80 < len(cell) < LOG_WIDTH - 25
    row = next(line for line in ran.stdout.splitlines() if "0.932" in line)
    assert cell in row and row.rstrip().endswith("│")
    assert console.width == 80 and not console.soft_wrap  # rich's own default for a file
