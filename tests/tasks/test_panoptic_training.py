"""Panoptic segmentation (U-TAE + PaPs) end to end on a tiny simulated (synthetic) PASTIS-R.

Seed 001 Table 3's single-modality, early and late fusion models train two epochs with a
shrunken U-TAE; the best checkpoint reloads (``weights_only=True``) and reproduces the test
panoptic quality; the parameter count matches the reference U-TAE + PaPs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from paths import CONFIGS as ALL_CONFIGS
from sitsfusion.config import ConfigError, load_config
from sitsfusion.models.builder import build_model, count_parameters
from sitsfusion.panoptic_metrics import PanopticQuality
from sitsfusion.tasks.base import load_task
from sitsfusion.training import datamodule, fit

CONFIGS = ALL_CONFIGS / "garnot2021" / "panoptic"
SMALL = [
    "model.encoder={name: utae, encoder_widths: [8, 8, 8, 16], decoder_widths: [8, 8, 8, 16],"
    " n_head: 4, d_model: 16, d_k: 4}",
    "data.batch_size=2",
    "train.epochs=2",
    "train.warmup_epochs=1",
    "train.lr=1e-3",
    "train.log_every_n_steps=1",
]
PASTIS_R = {"S2": 10, "S1A": 3, "S1D": 3}


@pytest.fixture(scope="module")
def sim(pastis_r: Path) -> Path:
    return pastis_r


def test_parameter_count_matches_the_reference() -> None:
    """Reference U-TAE + PaPs: 1,259,673 = U-TAE 1,087,260 (with its classifier, unused by
    PaPs: 15,132 parameters) + head 172,413; ours has no unused classifier."""
    cfg = load_config(CONFIGS / "s2.yaml")
    assert count_parameters(build_model(cfg, {"S2": 10})) == 1_259_673 - 15_132


def test_unavailable_fusion_levels_are_refused() -> None:
    cfg = load_config(CONFIGS / "late_td.yaml", ["model.fusion=decision"])
    with pytest.raises(ConfigError, match="not available for panoptic"):
        build_model(cfg, PASTIS_R)
    cfg = load_config(CONFIGS / "s2.yaml", ["model.encoder={name: convlstm}"])
    with pytest.raises(ConfigError, match="U-TAE"):
        build_model(cfg, {"S2": 10})


def test_plateau_scheduler_is_refused(sim: Path) -> None:
    from sitsfusion.training import build_task

    plateau = ["train.scheduler=plateau", "train.val_every=1", "train.val_after=0"]
    cfg = load_config(CONFIGS / "s2.yaml", [*SMALL, f"data.root={sim}", *plateau])
    with pytest.raises(ConfigError, match="val_loss"):
        build_task(cfg, datamodule(cfg))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["s2", "early_td", "late_td"])
def test_panoptic_trains_and_reloads(sim: Path, tmp_path: Path, name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml", [*SMALL, f"data.root={sim}"])
    result = fit(cfg, tmp_path / "run")
    assert result.checkpoint is not None
    report = json.loads((result.out_dir / "test" / "test_panoptic.json").read_text())
    for key in ("SQ", "RQ", "PQ"):
        assert key in result.scores and key in report
    # the pseudo-NMS threshold was tuned on validation and travels with the checkpoint
    state = torch.load(result.checkpoint, weights_only=True)
    tuned = state["tuned_min_confidence"]["value"]
    assert 0.0 <= tuned < 1.0 and 0.0 <= state["tuned_min_confidence"]["val_f1"] <= 1.0
    assert report["min_confidence"] == pytest.approx(tuned)
    task = load_task(result.checkpoint).eval()
    assert task.model.head.min_confidence == pytest.approx(tuned)
    dm = datamodule(cfg)
    dm.setup()
    metric = PanopticQuality(20, background_index=0, void_index=19)
    with torch.no_grad():
        for batch in dm.test_dataloader():
            out = task(batch)
            assert out.panoptic_instance.shape == batch.instances.shape
            metric.update(
                out.panoptic_instance, out.panoptic_semantic, batch.instances, batch.semantic
            )
    pq = float(metric.compute()["PQ"])
    expected = result.scores["PQ"]
    assert 0.0 <= expected <= 1.0  # parcels exist in the test fold: PQ is defined
    assert pq == pytest.approx(expected)


def test_threshold_tuning_maximises_detection_f1() -> None:
    """A hand-built case: the head's output is replaced by known instances and confidences."""
    from types import SimpleNamespace

    from sitsfusion.tasks.panoptic import tune_min_confidence

    true = torch.zeros(1, 8, 8, dtype=torch.long)
    true[0, :4, :4], true[0, 4:, 4:] = 1, 2
    pred = torch.zeros(1, 8, 8, dtype=torch.long)
    pred[0, :4, :4] = 1  # right, confidence 0.9
    pred[0, 4:, :4] = 2  # wrong (no parcel there), confidence 0.5
    pred[0, 4:, 4:] = 3  # right, confidence 0.3
    pred[0, :4, 4:] = 4  # wrong, confidence 0.105
    out = SimpleNamespace(
        panoptic_instance=pred,
        kept_ids=torch.tensor([1, 2, 3, 4]),
        centre_batch=torch.zeros(4, dtype=torch.long),
        confidence=torch.tensor([0.9, 0.5, 0.3, 0.105]),
    )
    head = SimpleNamespace(min_confidence=0.2)

    class Stub:
        device = torch.device("cpu")
        model = SimpleNamespace(head=head)

        def eval(self):
            return self

        def __call__(self, batch):
            return out

    batch = SimpleNamespace(instances=true, to=lambda device: batch)
    threshold, f1 = tune_min_confidence(Stub(), [batch])  # type: ignore[arg-type]
    # t <= 0.10: TP 2, FP 2 -> F1 2/3; 0.11 <= t <= 0.3: TP 2, FP 1 -> 0.8 (best, first at
    # 0.11); 0.3 < t <= 0.5: TP 1, FP 1, FN 1 -> 0.5; above: 2/3
    assert threshold == pytest.approx(0.11) and f1 == pytest.approx(0.8)
    assert head.min_confidence == 0.2  # restored
