"""Validation every few epochs after a given epoch (the reference's panoptic protocol:
every 5 epochs after epoch 65), on the tiny simulated (synthetic) PASTIS-R of the session:
only those epochs and the last are validated, the best checkpoint is one of them, the last
checkpoint is written every epoch, and the log lines of the other epochs carry no stale
validation scores."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import torch

from paths import CONFIGS
from sitsfusion.callbacks import EpochLogLine, ValidationSchedule
from sitsfusion.config import ConfigError, load_config
from sitsfusion.training import fit
from tiny import TINY_PSE_LTAE

CONFIG = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"


def test_validated_epochs() -> None:
    reference = ValidationSchedule(5, 65)  # configs/garnot2021/panoptic/base.yaml
    assert [e for e in range(1, 101) if reference.validates(e, 100)] == [
        70,
        75,
        80,
        85,
        90,
        95,
        100,
    ]
    assert [e for e in range(1, 8) if ValidationSchedule().validates(e, 7)] == list(range(1, 8))
    assert [e for e in range(1, 21) if reference.validates(e, 20)] == [20]  # the last only
    with pytest.raises(ValueError, match="every >= 1"):
        ValidationSchedule(0, 3)


def test_fit_validates_on_schedule(pastis_r: Path, tmp_path: Path) -> None:
    log = io.StringIO()
    cfg = load_config(
        CONFIG,
        [
            *TINY_PSE_LTAE,
            f"data.root={pastis_r}",
            "train.epochs=5",
            "train.val_every=2",
            "train.val_after=2",
        ],
    )
    result = fit(cfg, tmp_path / "run", callbacks=[EpochLogLine(log)])
    metrics = pd.read_csv(result.out_dir / "metrics.csv")
    validated = sorted(metrics.loc[metrics["val_miou"].notna(), "epoch"].astype(int))
    assert validated == [3, 4]  # 0-based: epochs 4 (> 2, even) and 5 (the last)
    best = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert best["epoch"] in (3, 4)
    last = torch.load(result.out_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 4
    lines = [line for line in log.getvalue().splitlines() if line.startswith("epoch ")]
    assert len(lines) == 5
    assert ["val_miou" in line for line in lines] == [False, False, False, True, True]


def test_plateau_needs_a_validation_every_epoch() -> None:
    with pytest.raises(ConfigError, match=r"train\.scheduler: plateau"):
        load_config(CONFIG, ["train.scheduler=plateau", "train.val_every=5"])
