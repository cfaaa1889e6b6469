"""Resumable training: a run killed with SIGKILL mid-epoch, resumed with ``--resume``, ends
with the same weights, logged metrics and test scores as the uninterrupted run (same seed,
CPU); what ``--resume`` / ``--overwrite`` accept and refuse; a diverging run stops and says
so. On the tiny simulated (synthetic) PASTIS-R of the session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from paths import CONFIGS
from sitsfusion.callbacks import TrainingDiverged
from sitsfusion.config import load_config
from sitsfusion.runs import RunFolderError
from sitsfusion.training import fit

CONFIG = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"
SMALL = [
    "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
    "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
    "model.decoder=[8]",
    "data.batch_size=4",
    "data.n_pixels=8",
    "train.epochs=4",
    "data.temporal_dropout={S2: 0.2}",  # random draws in the data pipeline as well as the model
]
KILLER = Path(__file__).with_name("fit_and_kill.py")


def _cfg(root: Path, *extra: str) -> Any:
    return load_config(CONFIG, [*SMALL, f"data.root={root}", *extra])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(pastis_r: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "uninterrupted"
    fit(_cfg(pastis_r), out)
    return out


def _killed(root: Path, out: Path, epoch: int, batch: int) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(KILLER.parent), *sys.path]))
    proc = subprocess.run(
        [
            sys.executable,
            str(KILLER),
            str(CONFIG),
            str(root),
            str(out),
            str(epoch),
            str(batch),
            *SMALL,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]  # died of SIGKILL, mid-epoch


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_result(
    pastis_r: Path, uninterrupted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "killed"
    _killed(pastis_r, out, epoch=2, batch=1)
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "training"
    last = out / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1  # epochs 1 and 2 finished
    assert not (out / "test").exists()

    with pytest.raises(FileExistsError, match="--resume"):  # without --resume: refused
        fit(_cfg(pastis_r), out)
    result = fit(_cfg(pastis_r), out, resume=True)
    assert "2 epochs done, continuing with epoch 3" in capsys.readouterr().err

    a, b = _weights(uninterrupted / "checkpoints" / "last.ckpt"), _weights(last)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (out / "metrics.csv").read_text() == (uninterrupted / "metrics.csv").read_text()
    expected = json.loads((uninterrupted / "test" / "test_metrics.json").read_text())
    assert json.loads((out / "test" / "test_metrics.json").read_text()) == expected
    assert result.scores["miou"] == pytest.approx(expected["miou"])
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_a_run_killed_before_its_first_epoch_ended_starts_again(
    pastis_r: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed_early"
    _killed(pastis_r, out, epoch=0, batch=1)
    assert not (out / "checkpoints" / "last.ckpt").exists()
    fit(_cfg(pastis_r), out, resume=True)
    expected = (uninterrupted / "test" / "test_metrics.json").read_text()
    assert (out / "test" / "test_metrics.json").read_text() == expected


def test_resume_of_a_finished_run_returns_it(pastis_r: Path, uninterrupted: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()}
    result = fit(_cfg(pastis_r), uninterrupted, resume=True)
    assert result.resumed == "finished"
    assert result.checkpoint == uninterrupted / "checkpoints" / "best.ckpt"
    expected = json.loads((uninterrupted / "test" / "test_metrics.json").read_text())
    assert result.scores == expected
    assert before == {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()}


def test_a_run_killed_during_its_test_is_tested_again(
    pastis_r: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    import shutil

    out = tmp_path / "testing"
    shutil.copytree(uninterrupted, out)
    record = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps(record | {"status": "testing"}))
    (out / "test" / "test_report.json").unlink()  # the stamp is written last: a partial report
    fit(_cfg(pastis_r), out, resume=True)
    expected = (uninterrupted / "test" / "test_metrics.json").read_text()
    assert (out / "test" / "test_metrics.json").read_text() == expected
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["train.lr=0.5"], r"another config \(differs in train\.lr\)"),
        (["train.epochs=7"], r"differs in train\.epochs"),
        (["data.n_pixels=9"], r"differs in data\.n_pixels"),
    ],
)
def test_resume_needs_the_same_config(
    pastis_r: Path, uninterrupted: Path, extra: list[str], match: str
) -> None:
    with pytest.raises(RunFolderError, match=match):
        fit(_cfg(pastis_r, *extra), uninterrupted, resume=True)


def test_resume_may_change_where_it_runs(pastis_r: Path, uninterrupted: Path) -> None:
    result = fit(
        _cfg(pastis_r, "data.num_workers=1", "train.out_dir=elsewhere"), uninterrupted, resume=True
    )
    assert result.resumed == "finished"


def test_overwrite_and_resume_exclude_each_other(pastis_r: Path, uninterrupted: Path) -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        fit(_cfg(pastis_r), uninterrupted, overwrite=True, resume=True)


class _PoisonWeights(Callback):
    """Writes NaN into one weight before the second training batch (a diverging run)."""

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, idx: int) -> None:
        if idx == 1:
            with torch.no_grad():
                next(module.parameters()).fill_(float("nan"))


def test_a_diverging_run_stops_and_says_so(pastis_r: Path, tmp_path: Path) -> None:
    out = tmp_path / "diverged"
    with pytest.raises(TrainingDiverged, match=r"the loss is nan at epoch 1, batch 2.*train\.lr"):
        fit(_cfg(pastis_r), out, callbacks=[_PoisonWeights()])
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "diverged" and "the loss is nan" in record["error"]
    assert not (out / "checkpoints" / "best.ckpt").exists()  # no checkpoint of a NaN model
    with pytest.raises(TrainingDiverged, match="would diverge again"):
        fit(_cfg(pastis_r), out, resume=True)


def test_a_diverging_run_is_one_line_on_the_command_line(
    pastis_r: Path, tmp_path: Path, sitsfusion_main: Any
) -> None:
    out = tmp_path / "diverged_cli"
    args = ["fit", "--config", str(CONFIG), "--out", str(out)]
    for item in [*SMALL, f"data.root={pastis_r}", "train.lr=1e30", "train.epochs=2"]:
        args += ["--set", item]
    ran = sitsfusion_main(*args)
    assert ran.code == 2, ran.stdout
    error = [line for line in ran.stdout.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "training diverged" in error[0], ran.stdout
    assert "Traceback" not in ran.stdout + ran.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
@pytest.mark.parametrize("command", ["fit", "test"])
def test_an_absent_accelerator_is_refused_before_reading_data(
    command: str, tmp_path: Path, sitsfusion_main: Any
) -> None:
    args = [command, "--config", str(CONFIG), "--set", "train.accelerator=gpu"]
    args += ["--set", f"data.root={tmp_path / 'no_data_here'}"]  # never read
    if command == "test":
        ckpt = tmp_path / "best.ckpt"
        ckpt.write_bytes(b"x")
        args += ["--ckpt", str(ckpt), "--out", str(tmp_path / "report")]
    else:
        args += ["--out", str(tmp_path / "run")]
    ran = sitsfusion_main(*args)
    assert ran.code == 2
    assert "train.accelerator: 'gpu' is not present on this machine" in ran.stdout
    assert "Traceback" not in ran.stdout + ran.stderr
    assert not (tmp_path / "run").exists()
