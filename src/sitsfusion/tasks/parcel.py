"""Parcel classification: one label per parcel (pixel set), seed 000 / seed 001 Sec. 3.4."""

from __future__ import annotations

from torch import Tensor, nn

from sitsfusion.data.sample import Batch
from sitsfusion.models.builder import build_parcel_model
from sitsfusion.tasks.base import SupervisedTask

__all__ = ["ParcelClassificationTask"]


class ParcelClassificationTask(SupervisedTask):
    """PSE + TAE / L-TAE at any fusion level; target ``batch.label`` ``[B]``."""

    task_name = "parcel"

    def build_model(self, channels: dict[str, int]) -> nn.Module:
        return build_parcel_model(self.cfg.model, channels)

    def target(self, batch: Batch) -> Tensor:
        if batch.label is None:
            raise ValueError("parcel classification needs parcel labels (target='parcel')")
        return batch.label
