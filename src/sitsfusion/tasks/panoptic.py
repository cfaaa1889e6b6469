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

__all__ = ["PanopticSegmentationTask", "tune_checkpoint", "tune_min_confidence"]

N_FIGURE_SAMPLES = 4
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

    def _score(self, batch: Batch, pq: PanopticQuality, pixels: Any) -> PaPsOutput:
        target = self.target(batch)
        out = self.model(batch)  # inference path: local maxima + pseudo-NMS
        pq.update(out.panoptic_instance, out.panoptic_semantic, batch.instances, target)
        pixels.update(out.panoptic_semantic, target)
        return out

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

    def on_test_epoch_start(self) -> None:
        self._figure: list[tuple[Tensor, ...]] = []

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        out = self._score(batch, self.test_pq, self.test_metrics)
        series = batch.series[next(iter(batch.series))]
        for i in range(min(N_FIGURE_SAMPLES - len(self._figure), len(batch))):
            image = series.values[i, int(series.lengths[i]) // 2].detach().float().cpu()
            pred_sem = out.panoptic_semantic[i].argmax(0).cpu()
            self._figure.append(
                (
                    image,
                    batch.semantic[i].cpu(),
                    pred_sem,
                    batch.instances[i].cpu(),
                    out.panoptic_instance[i].cpu(),
                )
            )

    def on_test_epoch_end(self) -> None:
        panoptic = self.test_pq.compute()
        self.test_pq.reset()
        super().on_test_epoch_end()  # pixel scores of the panoptic semantic map
        self.test_panoptic = panoptic
        assert self.test_scores is not None
        for key in ("SQ", "RQ", "PQ"):
            self.test_scores[key] = float(panoptic[key])
            self.log(f"test_{key.lower()}", _finite(panoptic[key]))

    def write_test_report(
        self, out_dir: str | Path, title: str, prefix: str = "test"
    ) -> list[Path]:
        """The pixel report of the base task plus ``test_panoptic.json`` (SQ, RQ, PQ, per
        class with the class names, TP / FP / FN)."""
        from sitsfusion.io import write_json_atomic

        paths = super().write_test_report(out_dir, title, prefix)
        if self.test_panoptic is not None:
            names = list(self.hparams["class_names"])
            report: dict[str, Any] = {"title": title}
            for key, value in self.test_panoptic.items():
                if isinstance(value, torch.Tensor):
                    value = value.tolist()
                report[key] = value
            report["class_names"] = names
            report["min_confidence"] = float(self.model.head.min_confidence)
            paths.append(write_json_atomic(Path(out_dir) / f"{prefix}_panoptic.json", report))
        figure = getattr(self, "_figure", [])
        if figure:
            from sitsfusion.plots import plot_predictions, save_figure

            fig = plot_predictions(
                [s[:3] for s in figure],
                list(self.hparams["class_names"]),
                _nomenclature(self.cfg.data.nomenclature, len(self.hparams["class_names"])),
                title=f"{title}: parcels outlined",
                ignore_index=self.cfg.model.ignore_index,
                instances=[s[3:] for s in figure],
            )
            paths.append(save_figure(fig, Path(out_dir) / f"{prefix}_panoptic.png"))
        return paths


def _nomenclature(name: str | None, k: int) -> Any:
    """The colours of the config's nomenclature (PASTIS for 20 classes), or None."""
    from sitsfusion.data.taxonomy import load_nomenclature

    chosen = name or ("pastis" if k == 20 else None)
    try:
        return load_nomenclature(chosen) if chosen else None
    except KeyError:
        return None


def _finite(value: Any) -> float:
    """NaN (nothing to score, e.g. no parcel predicted yet) logged as 0 for the monitor."""
    v = float(value)
    return 0.0 if v != v else v


def tune_min_confidence(
    task: PanopticSegmentationTask, loader: Any, step: float = 0.01
) -> tuple[float, float]:
    """The pseudo-NMS confidence threshold that maximises the detection F1 on ``loader``.

    As the reference (reference §4, panoptic recipe): a predicted parcel is a true positive
    when its IoU with a ground-truth parcel exceeds 0.5 (class-agnostic); thresholds
    ``0, step, …, < 1``. The pseudo-NMS visits centres by decreasing confidence, so its output
    at threshold ``t`` is its output at 0 without the parcels below ``t``: one inference pass.

    Returns:
        ``(threshold, F1 at that threshold)``.
    """
    import numpy as np

    head = task.model.head
    saved = head.min_confidence
    head.min_confidence = 0.0
    confidences: list[np.ndarray] = []
    positive: list[np.ndarray] = []
    n_true = 0
    task.eval()
    try:
        with torch.inference_mode():
            for batch in loader:
                batch = batch.to(task.device)
                out = task(batch)
                pred = out.panoptic_instance.cpu().numpy()
                true = batch.instances.cpu().numpy()
                kept = out.kept_ids.cpu().numpy()
                owner = out.centre_batch.cpu().numpy()
                conf = out.confidence.detach().float().cpu().numpy()
                for b in range(pred.shape[0]):
                    t_ids, t_inv = np.unique(true[b], return_inverse=True)
                    p_ids, p_inv = np.unique(pred[b], return_inverse=True)
                    n_true += int((t_ids > 0).sum())
                    joint = np.bincount(
                        t_inv.ravel() * p_ids.size + p_inv.ravel(),
                        minlength=t_ids.size * p_ids.size,
                    ).reshape(t_ids.size, p_ids.size)
                    union = joint.sum(1, keepdims=True) + joint.sum(0, keepdims=True) - joint
                    iou = np.where(union > 0, joint / np.maximum(union, 1), 0.0)
                    iou[t_ids == 0, :] = 0.0
                    best = iou.max(axis=0)  # per predicted id
                    mine = (owner == b) & (kept > 0)
                    where = np.searchsorted(p_ids, kept[mine])
                    confidences.append(conf[mine])
                    positive.append(best[where] > 0.5)
    finally:
        head.min_confidence = saved
    conf_all = np.concatenate(confidences) if confidences else np.zeros(0)
    pos_all = np.concatenate(positive) if positive else np.zeros(0, dtype=bool)
    thresholds = np.arange(0.0, 1.0, step)
    above = conf_all[None, :] >= thresholds[:, None]  # [n_thresholds, n_predicted]
    tp = (above & pos_all[None, :]).sum(axis=1)
    fp = above.sum(axis=1) - tp
    fn = n_true - tp
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    k = int(np.argmax(f1))
    return float(round(thresholds[k], 6)), float(f1[k])


def tune_checkpoint(checkpoint: str | Path, loader: Any) -> tuple[float, float]:
    """Tune the pseudo-NMS threshold of ``checkpoint`` on ``loader`` (validation) and write it
    into the checkpoint's config (``model.paps.min_confidence``), atomically; returns
    ``(threshold, validation F1)``."""
    from sitsfusion.io import atomic_path
    from sitsfusion.tasks.base import load_task

    task = load_task(checkpoint)
    threshold, f1 = tune_min_confidence(task, loader)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    paps = state["hyper_parameters"]["config"]["model"].setdefault("paps", {})
    paps["min_confidence"] = threshold
    state["tuned_min_confidence"] = {"value": threshold, "val_f1": f1}
    with atomic_path(checkpoint) as tmp:
        torch.save(state, tmp)
    return threshold, f1
