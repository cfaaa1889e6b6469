"""``info``, ``show`` and ``aggregate`` on every format they serve (small simulated, synthetic
folders; made-up tables; the real pixel-set and JRC folders when present)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import Ran
from paths import SHARED_DATA
from sitsfusion.cli import cli

KARNATAKA = SHARED_DATA / "pixelset_karnataka_hls"
FORMOSAT = SHARED_DATA / "tempcnn_formosat2" / "train_dataset.csv"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("rasterio")
    pytest.importorskip("h5netcdf")
    from sitsfusion.simulate import simulate_multisenge, simulate_pastis, simulate_sen4agrinet

    base = tmp_path_factory.mktemp("formats")
    simulate_sen4agrinet(base / "s4a", patches=2, size=24, seed=1)
    table = base / "long.csv"
    rows = ["sample_id,label,date,B1"] + [
        f"{i},{'ab'[i % 2]},2020-0{m}-01,{i * m}" for i in range(4) for m in (1, 2)
    ]
    table.write_text("\n".join(rows) + "\n")
    return {
        "pastis": simulate_pastis(base / "pastis", patches=3, size=24, seed=1),
        "multisenge": simulate_multisenge(base / "msg", patches=2, size=16, seed=1),
        "sen4agrinet": base / "s4a",
        "long_table": table,
    }


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("pastis", ("3 PASTIS patches", "S1D", "Meadow", "pixels", "synthetic")),
        ("multisenge", ("2 MultiSenGE patches", "S1", "Arable Lands", "2020-", "synthetic")),
        ("sen4agrinet", ("2 Sen4AgriNet patches", "catalonia/2019", "Wheat", "synthetic")),
        ("long_table", ("4 long-table samples", "S2", "class histogram (samples)")),
    ],
)
def test_info_summarises_every_format(folders: dict[str, Path], name: str, words: tuple) -> None:
    out = run("info", str(folders[name]))
    for word in words:
        assert word in out, word
    assert ("synthetic" in out) == (name != "long_table")


def test_info_on_real_pixel_sets_and_tables() -> None:
    if not KARNATAKA.is_dir() or not FORMOSAT.is_file():
        pytest.skip("real data not available")
    out = run("info", str(KARNATAKA), "--option", "duplicate_dates=merge")
    assert "369 pixel-set parcels" in out and "class histogram (parcels)" in out
    out = run("info", str(FORMOSAT), "--option", "n_bands=3", "--option", "cluster_column=1")
    assert "260 wide-table samples" in out and "day 148" in out  # 149 dates, no calendar


@pytest.mark.slow
def test_show_plots_a_patch_of_each_patch_format(folders: dict[str, Path], tmp_path: Path) -> None:
    patches = {
        "pastis": "10000",
        "multisenge": sorted((folders["multisenge"] / "labels").glob("*.json"))[0].stem,
        "sen4agrinet": sorted(folders["sen4agrinet"].glob("*.nc"))[0].stem,
    }
    for name, patch in patches.items():
        out = tmp_path / f"{name}.png"
        run("show", str(folders[name]), "--patch", patch, "--out", str(out))
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_aggregate_detects_the_format(folders: dict[str, Path], tmp_path: Path) -> None:
    for name in ("pastis", "sen4agrinet"):
        out = tmp_path / f"{name}.parquet"
        run("aggregate", str(folders[name]), "--out", str(out))
        table = pd.read_parquet(out)
        assert len(table) and table["synthetic"].all()
    forced = tmp_path / "forced.csv"
    run("aggregate", str(folders["pastis"]), "--format", "pastis-r", "--out", str(forced), "--csv")
    assert forced.is_file()


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        (("info",), "no known dataset layout; looked for pastis: PASTIS"),
        (("show", "--patch", "1", "--out", "x.png"), "no known dataset layout"),
        (("aggregate", "--out", "x.parquet"), "no known dataset layout"),
    ],
)
def test_a_wrong_folder_gets_one_line(
    tmp_path: Path,
    command: tuple,
    problem: str,
    sitsfusion_main: Callable[..., Ran],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "readme.txt").write_text("not a dataset")
    monkeypatch.chdir(tmp_path)
    ran = sitsfusion_main(command[0], tmp_path, *command[1:])
    assert ran.code == 2
    lines = ran.stdout.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0]


def test_commands_refuse_formats_they_cannot_serve(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli, ["show", str(folders["long_table"]), "--patch", "1", "--out", str(tmp_path / "x.png")]
    )
    assert result.exit_code != 0 and "not of image patches" in str(result.exception)
    result = CliRunner().invoke(
        cli, ["aggregate", str(folders["multisenge"]), "--out", str(tmp_path / "m.parquet")]
    )
    assert result.exit_code != 0 and "carry no parcel ids" in str(result.exception)
    result = CliRunner().invoke(cli, ["info", str(folders["pastis"]), "--option", "bad"])
    assert result.exit_code != 0 and "KEY=VALUE" in result.output
