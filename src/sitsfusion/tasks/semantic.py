"""Semantic segmentation: a class per pixel (seed 001 Sec. 3.4 / 4.4, seed 003, seed 004 PAD)."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from sitsfusion.data.sample import Batch
from sitsfusion.models.builder import build_semantic_model
from sitsfusion.tasks.base import SupervisedTask

__all__ = ["SemanticSegmentationTask"]

N_FIGURE_SAMPLES = 4


class SemanticSegmentationTask(SupervisedTask):
    """U-TAE (or another dense encoder) at any fusion level but mid; target ``[B, H, W]``.

    The loss and the metrics ignore ``model.ignore_index`` (PASTIS: 19, void); the test report
    adds a figure of a few test patches (input, truth, prediction).
    """

    task_name = "semantic"

    def build_model(self, channels: dict[str, int]) -> nn.Module:
        return build_semantic_model(self.cfg.model, channels)

    def target(self, batch: Batch) -> Tensor:
        if batch.semantic is None:
            raise ValueError("semantic segmentation needs semantic maps (target='semantic')")
        return batch.semantic

    def on_test_epoch_start(self) -> None:
        self._figure_samples: list[tuple[Tensor, Tensor, Tensor]] = []

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        out = self(batch)
        target = self.target(batch)
        self.test_metrics.update(out.logits, target)
        room = N_FIGURE_SAMPLES - len(self._figure_samples)
        if room > 0:
            name = next(iter(batch.series))
            series = batch.series[name]
            for i in range(min(room, len(batch))):
                t_mid = int(series.lengths[i]) // 2
                image = series.values[i, t_mid].detach().float().cpu()
                pred = out.logits[i].argmax(0).cpu()
                self._figure_samples.append((image, target[i].cpu(), pred))

    def write_test_report(
        self, out_dir: str | Path, title: str, prefix: str = "test"
    ) -> list[Path]:
        from sitsfusion.data.taxonomy import load_nomenclature
        from sitsfusion.plots import plot_predictions, save_figure

        paths = super().write_test_report(out_dir, title, prefix)
        samples = getattr(self, "_figure_samples", [])
        if samples:
            names = self.hparams["class_names"]
            chosen = self.cfg.data.nomenclature or ("pastis" if len(names) == 20 else None)
            try:
                nomenclature = load_nomenclature(chosen) if chosen else None
            except KeyError:
                nomenclature = None
            fig = plot_predictions(
                samples, names, nomenclature, title=title, ignore_index=self.cfg.model.ignore_index
            )
            paths.append(save_figure(fig, Path(out_dir) / f"{prefix}_predictions.png"))
        return paths
