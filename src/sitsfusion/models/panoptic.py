"""U-TAE + PaPs panoptic segmentation at one fusion level (seed 001 Sec. 3.4, 4.5).

Seed 001 evaluates panoptic segmentation for single modalities, early fusion and late fusion
(decision fusion is "prohibitively costly" and not evaluated; mid fusion is impossible with
U-TAE). Here:

* ``none`` / ``early``: one U-TAE on the (channel-concatenated, date-aligned) input, its
  features into the PaPs head;
* ``late``: one U-TAE per modality; their full-resolution maps and each level of their decoder
  maps are concatenated along channels (``enc_dim = M·32``, ``stack_dim = M·256`` with U-TAE
  defaults) and go into one PaPs head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from sitsfusion.models.fusion import EarlyFusion
from sitsfusion.models.heads.paps import PaPs, PaPsOutput

__all__ = ["PanopticNetwork"]


class PanopticNetwork(nn.Module):
    """U-TAE encoder(s) and a PaPs head: ``batch -> PaPsOutput``.

    Args:
        encoders: ``{modality: UTAEEncoder}``; one entry keyed by the fused modalities' first
            name for ``none`` / ``early``.
        head: the :class:`~sitsfusion.models.heads.paps.PaPs` head, sized for the
            (concatenated) features.
        fusion: ``"none"``, ``"early"`` or ``"late"``.
        modalities: the modalities read from the batch, in order.
    """

    def __init__(
        self,
        encoders: Mapping[str, nn.Module],
        head: PaPs,
        fusion: str,
        modalities: Sequence[str],
    ) -> None:
        super().__init__()
        if fusion not in ("none", "early", "late"):
            raise ValueError(f"panoptic segmentation: no {fusion!r} fusion")
        self.fusion = fusion
        self.modalities = tuple(modalities)
        self.encoders = nn.ModuleDict(dict(encoders))
        self.head = head
        if fusion in ("none", "early"):
            (encoder,) = self.encoders.values()
            # the channel merge of early fusion (decoder unused)
            self._merge = EarlyFusion(encoder, nn.Identity(), self.modalities).merge_inputs

    def forward(
        self,
        batch: Any,
        zones: torch.Tensor | None = None,
        heatmap_only: bool = False,
        pseudo_nms: bool = True,
    ) -> PaPsOutput:
        """``batch`` (patch series ``[B, T, C, H, W]`` per modality) → :class:`PaPsOutput`.

        ``zones`` (training): ground-truth zones, one centre per zone; None at inference.
        """
        if self.fusion in ("none", "early"):
            (encoder,) = self.encoders.values()
            feats = encoder.forward_features(self._merge(batch))
            out, maps = feats.out, list(feats.maps)
        else:
            parts = [self.encoders[m].forward_features(batch[m]) for m in self.modalities]
            out = torch.cat([p.out for p in parts], dim=1)
            maps = [torch.cat(level, dim=1) for level in zip(*(p.maps for p in parts), strict=True)]
        return self.head((out, maps), zones=zones, heatmap_only=heatmap_only, pseudo_nms=pseudo_nms)
