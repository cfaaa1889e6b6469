"""Panoptic segmentation: each parcel's mask and class (seed 001 Sec. 3.4 / 4.5, U-TAE + PaPs).

Training follows the reference recipe: the PaPs loss (centerness, size, class, shape; weights
1), centres taken per ground-truth zone; the first ``train.warmup_epochs`` epochs train the
centerness heatmap only. Validation and test run the inference path (local maxima of the
heatmap, pseudo-NMS) and score panoptic quality (SQ, RQ, PQ; void instances ignored) and the
semantic map of the panoptic prediction (OA, mIoU). The best checkpoint is chosen by
``train.monitor`` (the panoptic configs use ``val_pq``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sitsfusion.config import ConfigError
from sitsfusion.data.sample import Batch
from sitsfusion.models.builder import build_panoptic_model
from sitsfusion.models.heads.paps import PaPsOutput
from sitsfusion.models.heads.paps_loss import PaPsLoss
from sitsfusion.panoptic_metrics import PanopticQuality
from sitsfusion.tasks.base import SupervisedTask

__all__ = ["PanopticSegmentationTask"]

_VOID = 19  # PASTIS void label, ignored by the class loss and PQ (reference §2.6)


class PanopticSegmentationTask(SupervisedTask):
    """U-TAE (+ early / late fusion) and PaPs; targets: ``instances``, ``semantic``, ``heatmap``,
    ``zones`` of the batch (``PASTIS(target="panoptic")``)."""

    task_name = "panoptic"

    def __init__(
        self,
        config: dict[str, Any],
        channels: dict[str, int],
        class_names: list[str],
        class_weights: list[float] | None = None,
    ) -> None:
        super().__init__(config, channels, class_names, class_weights)
        if self.cfg.train.scheduler == "plateau":
            raise ConfigError(
                "train.scheduler: 'plateau' watches val_loss, which panoptic validation does not "
                "compute (it scores the inference path); use multistep (seed 001) or step"
            )
        void = self.cfg.model.ignore_index if self.cfg.model.ignore_index is not None else _VOID
        k = self.cfg.model.num_classes
        self.paps_loss = PaPsLoss(void_label=void)
        self.val_pq = PanopticQuality(k, background_index=0, void_index=void)
        self.test_pq = PanopticQuality(k, background_index=0, void_index=void)
        self.test_panoptic: dict[str, Any] | None = None

    def build_model(self, channels: dict[str, int]) -> nn.Module:
        return build_panoptic_model(self.cfg.model, channels)

    def target(self, batch: Batch) -> Tensor:
        needed = ("semantic", "instances", "heatmap", "zones")
        missing = [n for n in needed if getattr(batch, n) is None]
        if missing:
            raise ValueError(
                f"panoptic segmentation needs {missing} in the batch (PASTIS(target='panoptic'), "
                "or CenternessTargets for heatmap / zones)"
            )
        return batch.semantic  # type: ignore[return-value]

    def forward(self, batch: Batch) -> PaPsOutput:  # type: ignore[override]
        return self.model(batch)

    # ---- training ----------------------------------------------------------------------------

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        self.target(batch)
        warmup = self.current_epoch < self.cfg.train.warmup_epochs
        out = self.model(batch, zones=batch.zones, heatmap_only=warmup, pseudo_nms=False)
        loss, terms = self.paps_loss(
            out, batch.heatmap, batch.instances, batch.zones, batch.semantic
        )
        n = len(batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=n)
        for name, value in terms.items():
            self.log(f"train_{name}", value, batch_size=n)
        return loss

    # ---- evaluation --------------------------------------------------------------------------

    def _score(self, batch: Batch, pq: PanopticQuality, pixels: Any) -> None:
        target = self.target(batch)
        out = self.model(batch)  # inference path: local maxima + pseudo-NMS
        pq.update(out.panoptic_instance, out.panoptic_semantic, batch.instances, target)
        pixels.update(out.panoptic_semantic, target)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._score(batch, self.val_pq, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        panoptic = self.val_pq.compute()
        self.val_pq.reset()
        semantic = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log("val_pq", _finite(panoptic["PQ"]), prog_bar=True)
        self.log("val_sq", _finite(panoptic["SQ"]))
        self.log("val_rq", _finite(panoptic["RQ"]))
        self.log("val_miou", semantic["miou"])

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._score(batch, self.test_pq, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        panoptic = self.test_pq.compute()
        self.test_pq.reset()
        super().on_test_epoch_end()  # pixel scores of the panoptic semantic map
        self.test_panoptic = panoptic
        assert self.test_scores is not None
        for key in ("SQ", "RQ", "PQ"):
            self.test_scores[key] = float(panoptic[key])
            self.log(f"test_{key.lower()}", _finite(panoptic[key]))

    def write_test_report(self, out_dir: str | Path, title: str) -> list[Path]:
        """The pixel report of the base task plus ``test_panoptic.json`` (SQ, RQ, PQ, per
        class with the class names, TP / FP / FN)."""
        from sitsfusion.io import write_json_atomic

        paths = super().write_test_report(out_dir, title)
        if self.test_panoptic is not None:
            names = list(self.hparams["class_names"])
            report: dict[str, Any] = {"title": title}
            for key, value in self.test_panoptic.items():
                if isinstance(value, torch.Tensor):
                    value = value.tolist()
                report[key] = value
            report["class_names"] = names
            paths.append(write_json_atomic(Path(out_dir) / "test_panoptic.json", report))
        return paths


def _finite(value: Any) -> float:
    """NaN (nothing to score, e.g. no parcel predicted yet) logged as 0 for the monitor."""
    v = float(value)
    return 0.0 if v != v else v
