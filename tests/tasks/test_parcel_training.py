"""Parcel classification end to end on a tiny simulated (synthetic) PASTIS-R dataset.

Every fusion level trains two epochs, its best checkpoint is reloaded with
``torch.load(weights_only=True)`` and reproduces the reported test scores. The models are
shrunk (small widths) so that the whole file runs in well under a minute on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from paths import CONFIGS as ALL_CONFIGS
from sitsfusion.config import ConfigError, load_config
from sitsfusion.data.modules import SITSDataModule
from sitsfusion.metrics import ClassificationMetrics
from sitsfusion.tasks.base import CheckpointError, load_task
from sitsfusion.training import evaluate, fit

CONFIGS = ALL_CONFIGS / "garnot2021" / "parcel"
SMALL = [
    "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
    "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
    "model.decoder=[8]",
    "data.batch_size=32",
    "data.n_pixels=8",
    "train.epochs=2",
    "train.log_every_n_steps=1",
]


@pytest.fixture(scope="module")
def sim(pastis_r: Path) -> Path:
    return pastis_r


def _config(name: str, root: Path, *extra: str):
    return load_config(CONFIGS / f"{name}.yaml", [*SMALL, f"data.root={root}", *extra])


def _predict(task, dm: SITSDataModule) -> tuple[torch.Tensor, torch.Tensor]:
    task.eval()
    preds, labels = [], []
    with torch.no_grad():
        for batch in dm.test_dataloader():
            preds.append(task(batch).logits.argmax(1))
            labels.append(batch.label)
    return torch.cat(preds), torch.cat(labels)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["s2", "early_td", "mid_aux_td", "late_aux_td", "decision_aux"],
)
def test_every_fusion_level_trains_and_reloads(sim: Path, tmp_path: Path, name: str) -> None:
    cfg = _config(name, sim)
    result = fit(cfg, tmp_path / "run")
    assert result.checkpoint is not None and result.checkpoint.is_file()
    assert 0.0 <= result.scores["miou"] <= 1.0
    for f in ("test_metrics.json", "test_per_class.csv", "test_confusion.png"):
        assert (result.out_dir / "test" / f).is_file()
    # the checkpoint rebuilds its own model and reproduces the reported test scores
    task = load_task(result.checkpoint)
    dm = SITSDataModule(cfg.data, seed=cfg.train.seed)
    dm.setup()
    preds, labels = _predict(task, dm)
    again, _ = _predict(load_task(result.checkpoint), dm)
    assert torch.equal(preds, again)
    metric = ClassificationMetrics(cfg.model.num_classes)
    metric.update(preds, labels)
    assert metric.compute()["miou"] == pytest.approx(result.scores["miou"])


def test_pse_fusion_of_seed_000(sim: Path, tmp_path: Path) -> None:
    cfg = _config(
        "early",
        sim,
        "model.fusion=pse",
        "data.resample_method=nearest",
        "model.temporal={name: tae, n_head: 2, d_k: 4, mlp: [96, 16]}",
    )
    result = fit(cfg, tmp_path / "run")
    assert result.checkpoint is not None


def test_class_count_mismatch_is_a_clear_error(sim: Path, tmp_path: Path) -> None:
    cfg = _config("s2", sim, "model.num_classes=5")
    with pytest.raises(ConfigError, match=r"num_classes is 5 but the dataset has 18"):
        fit(cfg, tmp_path / "run")


def test_missing_modality_is_a_clear_error(sim: Path, tmp_path: Path) -> None:
    cfg = _config("late", sim, "data.modalities=[S2, S1]")
    with pytest.raises(Exception, match="S1"):
        fit(cfg, tmp_path / "run")


def test_auxiliary_on_early_fusion_refused(sim: Path, tmp_path: Path) -> None:
    cfg = _config("early", sim, "model.auxiliary=0.5")
    with pytest.raises(ConfigError, match="early fusion"):
        fit(cfg, tmp_path / "run")


def test_checkpoint_of_another_architecture_refused(sim: Path, tmp_path: Path) -> None:
    result = fit(_config("s2", sim), tmp_path / "run")
    late = _config("late", sim)
    with pytest.raises(CheckpointError, match="another architecture"):
        evaluate(late, result.checkpoint, tmp_path / "eval")


def test_run_folder_not_overwritten_by_accident(sim: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("earlier run")
    with pytest.raises(FileExistsError, match="choose another"):
        fit(_config("s2", sim), out)
    with pytest.raises(FileExistsError, match="not created by sitsfusion"):
        fit(_config("s2", sim), out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["old.txt"]


def test_garbage_checkpoint_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(CheckpointError, match="not a sitsfusion"):
        load_task(bad)
