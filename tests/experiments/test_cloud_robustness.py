"""Varying cloud cover (seed 001 Fig. 8): tiny parcel models, simulated (synthetic) PASTIS-R."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from paths import CONFIGS as ALL_CONFIGS
from sitsfusion.cli import cli
from sitsfusion.config import ConfigError, load_config
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.experiments.cloud_robustness import run_cloud_robustness
from sitsfusion.training import fit
from tiny import TINY_PSE_LTAE

CONFIGS = ALL_CONFIGS / "garnot2021" / "parcel"
SMALL = list(TINY_PSE_LTAE)  # one epoch


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, pastis_r: Path) -> dict[str, tuple]:
    base = tmp_path_factory.mktemp("clouds")
    root = pastis_r
    runs = {}
    for name in ("s2", "late", "s1a"):
        cfg = load_config(CONFIGS / f"{name}.yaml", [*SMALL, f"data.root={root}"])
        result = fit(cfg, base / name)
        runs[name] = (cfg, result.checkpoint, result.scores)
    return runs


def test_eval_drop_removes_optical_dates_only(trained: dict[str, tuple]) -> None:
    cfg = trained["late"][0]
    plain = SITSDataModule(cfg.data, target="parcel")
    plain.setup()
    clouded_cfg = cfg.data.__class__(**{**cfg.data.__dict__, "eval_drop": {"S2": 0.7}})
    clouded = SITSDataModule(clouded_cfg, target="parcel")
    clouded.setup()
    a, b = plain.test[0], clouded.test[0]
    assert b["S2"].num_dates == a["S2"].num_dates - round(0.7 * a["S2"].num_dates)
    assert b["S1A"].num_dates == a["S1A"].num_dates  # radar unchanged
    assert len(clouded.train[0]["S2"].dates) == len(plain.train[0]["S2"].dates)  # not training


@pytest.mark.slow
def test_robustness_table_figure_and_cli(trained: dict[str, tuple], tmp_path: Path) -> None:
    runs = [(trained[n][0], trained[n][1]) for n in ("s2", "late")]
    table = run_cloud_robustness(runs, tmp_path / "api", kept=(1.0, 0.5, 0.2))
    assert len(table) == 6 and set(table["kept"]) == {1.0, 0.5, 0.2}
    assert table[["OA", "mIoU"]].stack().between(0, 1).all()
    full = table[(table["model"] == trained["s2"][0].name) & (table["kept"] == 1.0)]
    assert float(full["mIoU"].iloc[0]) == pytest.approx(trained["s2"][2]["miou"])  # = plain test
    assert (tmp_path / "api" / "robustness.png").is_file()
    # called again (as after an interruption): what is scored is read, what is missing scored
    reports = sorted((tmp_path / "api").glob("*/kept_*/test_report.json"))
    assert len(reports) == 6
    stamp = json.loads(reports[0].read_text())  # an evaluation that did not finish
    reports[0].write_text(json.dumps(stamp | {"complete": False}))
    (reports[0].parent / "test_metrics.json").unlink()
    before = {p: p.stat().st_mtime_ns for p in reports[1:]}
    again = run_cloud_robustness(runs, tmp_path / "api", kept=(1.0, 0.5, 0.2))
    assert before == {p: p.stat().st_mtime_ns for p in reports[1:]}
    assert json.loads(reports[0].read_text())["complete"] is True
    assert again.equals(table)

    args = ["robustness", "--out", str(tmp_path / "cli"), "--kept", "1,0.3"]
    for name in ("s2", "late"):
        ckpt = trained[name][1]
        args += ["--config", str(CONFIGS / f"{name}.yaml"), "--ckpt", str(ckpt)]
    for item in [*SMALL, f"data.root={trained['s2'][0].data.root}"]:
        args += ["--set", item]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "30 %" in result.output
    assert len(pd.read_csv(tmp_path / "cli" / "robustness.csv")) == 4


def test_a_model_without_the_clouded_modality_is_refused(
    trained: dict[str, tuple], tmp_path: Path
) -> None:
    cfg, ckpt, _ = trained["s1a"]
    with pytest.raises(ConfigError, match="nothing to remove"):
        run_cloud_robustness([(cfg, ckpt)], tmp_path, kept=(0.5,))
    with pytest.raises(ConfigError, match="in \\(0, 1\\]"):
        run_cloud_robustness([(trained["s2"][0], trained["s2"][1])], tmp_path, kept=(0.0,))
