"""Run folders and report stamps (``sitsfusion.runs``), on small files: no training here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitsfusion.config import load_config
from sitsfusion.runs import (
    ReportStamp,
    RunFolderError,
    check_report_folder,
    config_differences,
    is_run_folder,
    run_folder,
    run_folder_of,
    write_report_stamp,
    write_run_file,
)


@pytest.fixture()
def cfg():
    return load_config(None, ["task=semantic", "name=my_run", "train.out_dir=somewhere"])


@pytest.fixture()
def ckpt(tmp_path: Path, cfg) -> Path:
    run = tmp_path / "run"
    write_run_file(run, cfg, started="now")
    path = run / "checkpoints" / "best.ckpt"
    path.parent.mkdir()
    path.write_bytes(b"weights")
    return path


def test_default_run_folder_is_out_dir_task_name(cfg) -> None:
    assert run_folder(cfg) == Path("somewhere") / "semantic" / "my_run"


def test_run_folder_of_a_checkpoint(ckpt: Path, tmp_path: Path) -> None:
    assert run_folder_of(ckpt) == tmp_path / "run"
    copied = tmp_path / "best.ckpt"
    copied.write_bytes(ckpt.read_bytes())
    with pytest.raises(RunFolderError, match=r"not inside a run folder.*--out"):
        run_folder_of(copied)
    # an experiment's settings file named run.json does not make a run folder
    other = tmp_path / "experiment"
    (other / "checkpoints").mkdir(parents=True)
    (other / "run.json").write_text(json.dumps({"dataset": "x", "config": "a.yaml"}))
    assert not is_run_folder(other)
    with pytest.raises(RunFolderError):
        run_folder_of(other / "checkpoints" / "best.ckpt")


def test_a_report_is_replaced_only_by_its_own_source(ckpt: Path, cfg, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    stamp = ReportStamp.of("test", ckpt, cfg.to_dict())
    check_report_folder(folder, stamp)  # nothing there yet
    folder.mkdir()
    (folder / "test_metrics.json").write_text("{}")
    (folder / "test_old.png").write_text("png")
    (folder / "val_old.png").write_text("png")
    write_report_stamp(folder, stamp, [folder / "test_metrics.json", folder / "test_old.png"])
    check_report_folder(folder, stamp)  # the same checkpoint and config: fine
    moved = load_config(None, ["task=semantic", "name=my_run", "train.out_dir=elsewhere"])
    check_report_folder(folder, ReportStamp.of("test", ckpt, moved.to_dict()))  # output only
    # what changed the training, not the scores: the same report
    retrained = ["train.epochs=3", "train.lr=0.5", "data.batch_size=3", "data.augment=true"]
    again = load_config(None, ["task=semantic", "name=my_run", *retrained])
    check_report_folder(folder, ReportStamp.of("test", ckpt, again.to_dict()))
    other_cfg = load_config(None, ["task=semantic", "name=my_run", "data.n_pixels=3"])
    with pytest.raises(RunFolderError, match=r"another config \(differs in data.n_pixels\)"):
        check_report_folder(folder, ReportStamp.of("test", ckpt, other_cfg.to_dict()))
    other = tmp_path / "other.ckpt"
    other.write_bytes(b"other weights")
    with pytest.raises(RunFolderError, match=r"another checkpoint \(.*best.ckpt\)"):
        check_report_folder(folder, ReportStamp.of("test", other, cfg.to_dict()))
    with pytest.raises(RunFolderError, match=r"val report files without val_report.json"):
        check_report_folder(folder, ReportStamp.of("val", other, cfg.to_dict()))
    # re-scoring drops the files the earlier report listed and this one does not write
    write_report_stamp(folder, stamp, [folder / "test_metrics.json"])
    assert not (folder / "test_old.png").exists()
    assert (folder / "val_old.png").exists()  # not part of the test report
    record = json.loads((folder / "test_report.json").read_text())
    assert record["files"] == ["test_metrics.json"] and record["config"] == cfg.to_dict()


def test_unstamped_report_files_are_not_overwritten(ckpt: Path, cfg, tmp_path: Path) -> None:
    (tmp_path / "test_metrics.json").write_text("{}")
    with pytest.raises(RunFolderError, match=r"without test_report.json \(test_metrics.json\)"):
        check_report_folder(tmp_path, ReportStamp.of("test", ckpt, cfg.to_dict()))
    (tmp_path / "test_report.json").write_text("not json")
    with pytest.raises(RunFolderError, match="not writing over its report"):
        check_report_folder(tmp_path, ReportStamp.of("test", ckpt, cfg.to_dict()))


def test_config_differences_are_dotted_keys() -> None:
    a = {"data": {"root": "a", "batch_size": 4}, "train": {"out_dir": "x", "lr": 0.1, "seed": 0}}
    b = {"data": {"root": "b", "batch_size": 8}, "train": {"out_dir": "y", "lr": 0.2, "seed": 1}}
    assert config_differences(a, b) == ["data.root", "train.seed"]
