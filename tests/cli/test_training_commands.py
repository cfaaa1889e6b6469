"""Run folders, reports and what the training commands print, on a tiny simulated (synthetic)
PASTIS-R dataset: ``fit`` into ``<train.out_dir>/<task>/<name>``, ``test`` / ``validate`` into
the checkpoint's run folder, never over another run's report, one line per epoch in logs."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import Ran
from paths import CONFIGS
from sitsfusion.cli import cli, main

CONFIG = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"
NAME = "garnot2021_parcel_s2"  # the config's name
SMALL = [
    "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
    "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
    "model.decoder=[8]",
    "data.batch_size=32",
    "data.n_pixels=8",
    "train.epochs=3",
]


def _sets(root: Path, *extra: str) -> list[str]:
    args = []
    for item in [*SMALL, f"data.root={root}", *extra]:
        args += ["--set", item]
    return args


@pytest.fixture(scope="module")
def logged_fit(pastis_r: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``sitsfusion fit`` through its entry point with stdout to a file (as in a batch job; no
    terminal), run folder by default under ``train.out_dir``. In this process: a subprocess
    would spend seconds importing torch (tests/cli/test_cli.py starts the real one)."""
    base = tmp_path_factory.mktemp("runs")
    log = base / "fit.log"
    args = ["fit", "--config", str(CONFIG), *_sets(pastis_r, f"train.out_dir={base / 'runs'}")]
    err = io.StringIO()
    with log.open("w") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:  # main() exits only on an error
            pytest.fail(f"sitsfusion fit exited with {exc.code}: {log.read_text()}")
    return {"run": base / "runs" / "parcel" / NAME, "log": log.read_text(), "err": err.getvalue()}


@pytest.mark.slow
def test_fit_writes_the_default_run_folder(logged_fit: dict) -> None:
    run = logged_fit["run"]
    for name in ("run.json", "checkpoints/best.ckpt", "metrics.csv", "test/test_metrics.json"):
        assert (run / name).is_file(), name
    record = json.loads((run / "run.json").read_text())
    assert record["task"] == "parcel" and record["name"] == NAME
    assert record["checkpoint"] == "checkpoints/best.ckpt" and record["finished"]
    stamp = json.loads((run / "test" / "test_report.json").read_text())
    assert stamp["checkpoint"] == str((run / "checkpoints" / "best.ckpt").resolve())
    assert "test_metrics.json" in stamp["files"] and stamp["synthetic"] is True
    assert f"run folder: {run}" in logged_fit["log"]


def test_a_log_gets_one_flushed_line_per_epoch_and_no_progress_bar(logged_fit: dict) -> None:
    lines = [line for line in logged_fit["log"].splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    for line in lines:
        assert "train_loss" in line and "val_miou" in line and line.endswith(" s")
    assert "it/s" not in logged_fit["err"] and "\r" not in logged_fit["err"]  # no tqdm bar
    assert "will be deleted" not in logged_fit["err"]  # Lightning's note on the run.json


def test_epoch_line_is_flushed_as_the_epoch_ends() -> None:
    from types import SimpleNamespace

    import torch

    from sitsfusion.training import EpochLogLine

    class Stream:
        def __init__(self) -> None:
            self.text, self.flushed = "", ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            self.flushed = self.text

    stream = Stream()
    callback = EpochLogLine(stream=stream)  # type: ignore[arg-type]
    metrics = {"val_miou": torch.tensor(0.25), "train_loss": torch.tensor(9.0)}
    trainer = SimpleNamespace(
        current_epoch=0,
        max_epochs=2,
        callback_metrics=metrics,
        is_global_zero=True,
        sanity_checking=False,
    )
    callback.on_train_epoch_start(trainer, None)  # type: ignore[arg-type]
    for i, loss in enumerate((1.0, 3.0)):
        callback.on_train_batch_end(trainer, None, {"loss": torch.tensor(loss)}, None, i)  # type: ignore[arg-type]
    callback.on_validation_epoch_end(trainer, None)  # type: ignore[arg-type]  # the epoch's
    callback.on_train_epoch_end(trainer, None)  # type: ignore[arg-type]
    assert stream.flushed.startswith("epoch 1/2  train_loss 2.0000  val_miou 0.2500  ")
    assert stream.flushed.endswith(" s\n") and stream.flushed == stream.text


@pytest.fixture()
def run(logged_fit: dict, tmp_path: Path) -> Path:
    """A copy of the trained run folder (tests change its reports)."""
    return Path(shutil.copytree(logged_fit["run"], tmp_path / "runs" / "parcel" / NAME))


def _score(command: str, root: Path, ckpt: Path, *extra: str) -> object:
    args = [command, "--config", str(CONFIG), *_sets(root), "--ckpt", str(ckpt), *extra]
    return CliRunner().invoke(cli, args)


@pytest.mark.slow
def test_test_and_validate_write_into_the_checkpoint_run_folder(run: Path, pastis_r: Path) -> None:
    ckpt = run / "checkpoints" / "best.ckpt"
    before = (run / "test" / "test_report.json").read_text()
    result = _score("test", pastis_r, ckpt)
    assert result.exit_code == 0, result.output
    assert f"report: {run / 'test'}" in result.output
    after = json.loads((run / "test" / "test_report.json").read_text())
    assert after["written"] >= json.loads(before)["written"]  # its own report, replaced
    result = _score("validate", pastis_r, ckpt)
    assert result.exit_code == 0, result.output
    names = {p.name for p in (run / "val").iterdir()}
    for name in ("val_metrics.json", "val_per_class.csv", "val_confusion.png", "val_report.json"):
        assert name in names
    assert not any(n.startswith("test_") for n in names)
    assert json.loads((run / "val" / "val_report.json").read_text())["split"] == "val"


def test_another_config_or_checkpoint_never_overwrites_a_report(
    run: Path, pastis_r: Path, tmp_path: Path
) -> None:
    ckpt = run / "checkpoints" / "best.ckpt"
    report = (run / "test" / "test_metrics.json").read_bytes()
    result = _score("test", pastis_r, ckpt, "--set", "data.n_pixels=7")
    assert isinstance(result.exception, ValueError)
    assert "another config" in str(result.exception) and "data.n_pixels" in str(result.exception)
    assert (run / "test" / "test_metrics.json").read_bytes() == report
    # what only changed the training (epochs, batch size) scores the same: its own report
    result = _score("test", pastis_r, ckpt, "--set", "data.batch_size=7", "--set", "train.epochs=9")
    assert result.exit_code == 0, result.output
    assert (run / "test" / "test_metrics.json").read_bytes() == report
    # the same weights under another name are the same checkpoint; other bytes are not
    other = tmp_path / "other.ckpt"
    other.write_bytes(ckpt.read_bytes() + b"\0")
    result = _score("test", pastis_r, other, "--out", str(run / "test"))
    assert result.exception is not None and "another checkpoint" in str(result.exception)
    assert (run / "test" / "test_metrics.json").read_bytes() == report


def test_a_checkpoint_outside_a_run_folder_needs_out(
    run: Path, pastis_r: Path, tmp_path: Path, sitsfusion_main: Callable[..., Ran]
) -> None:
    copy = tmp_path / "copied.ckpt"
    shutil.copy(run / "checkpoints" / "best.ckpt", copy)
    ran = sitsfusion_main("test", "--config", CONFIG, *_sets(pastis_r), "--ckpt", copy)
    assert ran.code == 2
    assert "not inside a run folder" in ran.stdout and "--out" in ran.stdout
    out = tmp_path / "elsewhere"
    result = _score("test", pastis_r, copy, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "test_metrics.json").is_file() and (out / "test_report.json").is_file()


def test_long_paths_are_printed_whole(pastis_r: Path, tmp_path: Path) -> None:
    out = tmp_path / ("a_run_folder_with_a_rather_long_name_" * 3) / "and_more"
    assert len(str(out)) > 120
    args = ["fit", "--config", str(CONFIG), *_sets(pastis_r, "train.epochs=1"), "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"run folder: {out}\n" in result.output
    assert f"report: {out / 'test'}\n" in result.output


def test_fit_overwrite_never_deletes_a_folder_it_did_not_write(
    pastis_r: Path, tmp_path: Path
) -> None:
    from sitsfusion.config import load_config
    from sitsfusion.training import fit

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("not a run")
    cfg = load_config(CONFIG, [*SMALL, f"data.root={pastis_r}"])
    with pytest.raises(FileExistsError, match="not created by sitsfusion"):
        fit(cfg, mine, overwrite=True)
    assert (mine / "thesis.tex").read_text() == "not a run"
