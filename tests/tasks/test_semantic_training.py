"""Semantic segmentation end to end on a tiny simulated (synthetic) PASTIS-R dataset.

Each fusion level of seed 001 Table 2 trains two epochs with a shrunken U-TAE; its best
checkpoint reloads (``weights_only=True``) and reproduces the reported test scores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from paths import CONFIGS as ALL_CONFIGS
from sitsfusion.config import load_config
from sitsfusion.metrics import ClassificationMetrics
from sitsfusion.tasks.base import load_task
from sitsfusion.training import datamodule, fit

CONFIGS = ALL_CONFIGS / "garnot2021" / "semantic"
SMALL = [
    "model.encoder={name: utae, encoder_widths: [8, 8, 8, 16], decoder_widths: [8, 8, 8, 16],"
    " n_head: 4, d_model: 16, d_k: 4}",
    "model.head=[8]",
    "data.batch_size=2",
    "train.epochs=2",
    "train.log_every_n_steps=1",
]


@pytest.fixture(scope="module")
def sim(pastis_r: Path) -> Path:
    return pastis_r


@pytest.mark.slow
@pytest.mark.parametrize("name", ["s2", "early_td", "late_aux_td", "decision_td"])
def test_semantic_fusion_levels_train_and_reload(sim: Path, tmp_path: Path, name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml", [*SMALL, f"data.root={sim}", "data.augment=true"])
    result = fit(cfg, tmp_path / "run")
    assert result.checkpoint is not None
    for f in ("test_metrics.json", "test_confusion.png", "test_predictions.png"):
        assert (result.out_dir / "test" / f).is_file(), f
    assert 0.0 <= result.scores["miou"] <= 1.0
    task = load_task(result.checkpoint).eval()
    dm = datamodule(cfg)
    dm.setup()
    metric = ClassificationMetrics(20, ignore_index=19)
    with torch.no_grad():
        for batch in dm.test_dataloader():
            logits = task(batch).logits
            assert logits.shape[1:] == (20, 32, 32)
            metric.update(logits, batch.semantic)
    assert metric.compute()["miou"] == pytest.approx(result.scores["miou"])


WENGER = ALL_CONFIGS / "wenger2022"


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    ["convlstm_inception_s1s2_6classes", "convlstm_s1s2_10classes", "convlstm_s2_6classes"],
)
def test_multisenge_feature_fusion_trains_and_reloads(
    multisenge: Path, tmp_path: Path, name: str
) -> None:
    root = multisenge  # session fixture: 6 patches of 32 x 32 on tiles 31UFQ, 31UFP, 31UEQ
    cfg = load_config(
        WENGER / f"{name}.yaml",
        [
            f"data.root={root}",
            "data.train_tiles=[31UFQ]",
            "data.val_tiles=[31UFP]",
            "data.test_tiles=[31UEQ]",
            "data.batch_size=2",
            (
                "model.encoder={name: convlstm_inception, hidden: 4, inception_branches: [4, 4, 4],"
                " unet_widths: [8, 8, 8, 8, 8], use_inception: "
                + ("true}" if "inception" in name else "false}")
            )
            if "s1s2" in name
            else "model.encoder={name: convlstm, hidden: 4}",
            "model.unet_widths=[8, 8, 8, 8, 8]",
            "train.epochs=2",
        ],
    )
    result = fit(cfg, tmp_path / "run")
    assert result.checkpoint is not None
    assert (result.out_dir / "test" / "test_predictions.png").is_file()
    task = load_task(result.checkpoint).eval()
    dm = datamodule(cfg)
    dm.setup()
    k = cfg.model.num_classes
    metric = ClassificationMetrics(k, ignore_index=0)
    with torch.no_grad():
        for batch in dm.test_dataloader():
            logits = task(batch).logits
            assert logits.shape[1:] == (k, 32, 32)
            metric.update(logits, batch.semantic)
    assert metric.compute()["miou"] == pytest.approx(result.scores["miou"])
