"""``sitsfusion experiment ...``: the experiments through the command line (click's CliRunner).

Argument errors need no data; the tiny runs use the local copies of the small real datasets
(no licence or GPL: never part of the repository) and are skipped when they are absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from paths import SHARED_DATA
from sitsfusion.cli import cli

RONDONIA = SHARED_DATA / "sits_s2_rondonia"
KARNATAKA = SHARED_DATA / "pixelset_karnataka_hls"
PSE_LTAE = [  # tiny PSE + L-TAE
    "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
    "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
    "model.decoder=[8]",
]


def _invoke(*args: str):
    return CliRunner().invoke(cli, ["experiment", *args])


def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def test_the_group_lists_the_experiments_and_robustness_keeps_its_name() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0
    for name in ("real-sequences", "real-pixelset", "robustness"):
        assert name in result.output
    top = CliRunner().invoke(cli, ["robustness", "--help"])
    assert top.exit_code == 0 and "--kept" in top.output


def test_help_names_every_dataset() -> None:
    from sitsfusion.experiments.real_sequences import DATASETS

    result = _invoke("real-sequences", "--help")
    assert all(name in result.output for name in DATASETS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["real-sequences", "--root", "."], "Missing option '--dataset'"),
        (["real-sequences", "--dataset", "mars", "--root", "."], "'mars' is not one of"),
        (
            ["real-sequences", "--dataset", "rondonia", "--root", ".", "--models", "GPT"],
            "'GPT' is not one of 'TempCNN'",
        ),
        (
            ["real-sequences", "--dataset", "rondonia", "--root", ".", "--repetitions", "1,x"],
            "expected ints like 0,1,2",
        ),
        (["real-sequences", "--dataset", "rondonia", "--root", "no/such/dir"], "does not exist"),
        (["real-pixelset", "--root", ".", "--seeds", ""], "give at least one value"),
        (["real-pixelset"], "Missing option '--root'"),
        (["robustness", "--config", "a.yaml", "--ckpt", "no.ckpt"], "does not exist"),
        (["robustness", "--kept", "1,half"], "expected floats like 1,0.5,0.3"),
    ],
)
def test_argument_errors_are_one_line_usage_errors(args: list[str], message: str) -> None:
    result = _invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.skipif(not RONDONIA.is_dir(), reason=f"real data folder absent: {RONDONIA}")
def test_real_sequences_tiny_run(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "ro"
    args = ["real-sequences", "--dataset", "rondonia", "--root", str(RONDONIA)]
    args += ["--out", str(out), "--repetitions", "1", "--models", "PSE+L-TAE"]
    args += ["--epochs", "1", "--trees", "10", *_sets(PSE_LTAE)]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "results.csv")
    assert table["model"].tolist() == ["PSE+L-TAE", "RF (flattened series)"]
    run = json.loads((out / "run.json").read_text())
    assert run["protocol"] == "kfold" and run["repetitions"] == [1] and run["epochs"] == 1
    assert (out / "pse_ltae" / "rep_1" / "test" / "test_report.json").is_file()
    assert f"results in {out}" in result.output


@pytest.mark.slow
@pytest.mark.skipif(not KARNATAKA.is_dir(), reason=f"real data folder absent: {KARNATAKA}")
def test_real_pixelset_tiny_run_and_a_rerun_resumes(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "ka"
    args = ["real-pixelset", "--root", str(KARNATAKA), "--out", str(out), "--seeds", "0"]
    args += ["--epochs", "1", "--threads", "1", *_sets([*PSE_LTAE, "data.n_pixels=8"])]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out / "results.csv")["seed"].tolist() == [0, 0]
    assert json.loads((out / "run.json").read_text())["seeds"] == [0]
    first = pd.read_csv(out / "results.csv")
    again = _invoke(*args)
    assert again.exit_code == 0, again.output  # resumed: the finished training is read
    cols = ["model", "seed", "OA", "mIoU", "macro_F1", "kappa"]
    assert pd.read_csv(out / "results.csv")[cols].equals(first[cols])
