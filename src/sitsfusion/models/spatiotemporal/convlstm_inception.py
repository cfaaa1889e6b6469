"""ConvLSTM+Inception-S1S2 (seed 003 Sec. 3.1-3.2, Fig. 5): spatio-temporal + spatio-spectral
features of Sentinel-1 and Sentinel-2, fused before a VGG-16 U-Net.

* a :class:`~sitsfusion.models.spatiotemporal.convlstm.ConvLSTM` per sensor (3×3, 32 filters,
  one layer) → its state after the last real date, ``[B, hidden, H, W]`` each;
* a :class:`~sitsfusion.models.spatial.inception.NaiveInception` on the **first real date**
  of S2 and of S1 stacked along channels (``[B, C_S2 + C_S1, H, W]``);
* the three concatenated → :class:`~sitsfusion.models.spatiotemporal.unet.VGG16UNet` → raw
  logits ``[B, K, H, W]`` (no softmax, unlike the PyTorch port, reference §2.10; trainable
  encoder, not frozen).

The two sensors may have different T and dates. ``use_inception=False`` gives seed 003's
"ConvLSTM-S1S2" experiment (Table 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from sitsfusion.data.sample import Batch, PaddedSeries
from sitsfusion.models.registry import register_model
from sitsfusion.models.spatial.inception import NaiveInception
from sitsfusion.models.spatiotemporal.convlstm import ConvLSTM
from sitsfusion.models.spatiotemporal.unet import VGG16UNet

__all__ = ["ConvLSTMInceptionS1S2", "first_real_date"]


def first_real_date(series: PaddedSeries) -> Tensor:
    """Each sample's first unpadded observation: ``values [B, T, C, H, W] -> [B, C, H, W]``."""
    real = ~series.pad_mask.to(device=series.values.device, dtype=torch.bool)
    first = real.int().argmax(dim=1)  # the first True (dates are padded at any position)
    return series.values[torch.arange(series.values.shape[0], device=first.device), first]


# seed 003 Sec. 3.1-3.2: fused in the network itself (model.fusion: feature)
@register_model("network", "convlstm_inception")
class ConvLSTMInceptionS1S2(nn.Module):
    """``forward(batch) -> logits [B, K, H, W]`` from the modalities ``s2_name`` and ``s1_name``.

    Args:
        s2_channels, s1_channels: bands of each sensor (10 and 2 in seed 003).
        num_classes: K (6 or 10 in seed 003).
        hidden: ConvLSTM filters per sensor (32).
        kernel_size: ConvLSTM kernel (3).
        inception_branches: widths of the 1×1, 3×3, 5×5 branches; the module outputs their sum
            plus ``s2_channels + s1_channels`` (the max-pool branch).
        use_inception: False drops the Inception branch.
        unet_widths: VGG16UNet stage widths ``(64, 128, 256, 512, 512)``.
        s2_name, s1_name: modality names in the batch.
    """

    def __init__(
        self,
        s2_channels: int = 10,
        s1_channels: int = 2,
        num_classes: int = 10,
        hidden: int = 32,
        kernel_size: int = 3,
        inception_branches: Sequence[int] = (32, 32, 32),
        use_inception: bool = True,
        unet_widths: Sequence[int] = (64, 128, 256, 512, 512),
        s2_name: str = "S2",
        s1_name: str = "S1",
    ) -> None:
        super().__init__()
        self.s2_name, self.s1_name = s2_name, s1_name
        self.convlstm_s2 = ConvLSTM(s2_channels, hidden, kernel_size)
        self.convlstm_s1 = ConvLSTM(s1_channels, hidden, kernel_size)
        self.inception = (
            NaiveInception(s2_channels + s1_channels, inception_branches) if use_inception else None
        )
        fused = self.convlstm_s2.out_channels + self.convlstm_s1.out_channels
        if self.inception is not None:
            fused += self.inception.out_channels
        self.fused_channels = fused
        self.unet = VGG16UNet(fused, num_classes, widths=unet_widths)
        self.num_classes = int(num_classes)
        self.out_channels: int = int(num_classes)

    @property
    def modalities(self) -> list[str]:
        return [self.s2_name, self.s1_name]

    def features(self, batch: Batch | Mapping[str, PaddedSeries]) -> Tensor:
        """The U-Net's input ``[B, fused_channels, H, W]`` (S2 state, S1 state, Inception)."""
        series = batch.series if isinstance(batch, Batch) else batch
        missing = [m for m in self.modalities if m not in series]
        if missing:
            raise KeyError(
                f"ConvLSTMInceptionS1S2 reads {self.modalities}; the batch lacks {missing} "
                f"(it has {list(series)}); set s2_name / s1_name to the batch's names"
            )
        s2, s1 = series[self.s2_name], series[self.s1_name]
        parts = [self.convlstm_s2(s2), self.convlstm_s1(s1)]
        if self.inception is not None:
            stack = torch.cat([first_real_date(s2), first_real_date(s1)], dim=1)
            parts.append(self.inception(stack))
        return torch.cat(parts, dim=1)

    def forward(self, batch: Batch | Mapping[str, PaddedSeries]) -> Tensor:
        return self.unet(self.features(batch))
