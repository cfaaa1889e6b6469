"""The PaPs training loss (Garnot & Landrieu 2021; seed 001 Sec. 3.4 "Panoptic segmentation").

Four terms, as in the reference ``utae-paps:src/panoptic/paps_loss.py`` (anchors-code §2.6),
written anew and vectorised:

* **centerness**: CornerNet's focal loss on the heatmap with ``α = 0``, ``β = 4``:
  ``−[Σ_{y=1} log p + Σ_{y<1} (1 − y)^β log(1 − p)] / max(#{y = 1}, 1)``;
* **size**: ``Σ_{h,w} |true − pred| / (true + ε)``, averaged over the matched centres;
* **class**: cross-entropy of the centres' class logits against their object's class, the void
  class (19 in PASTIS) ignored;
* **shape**: binary cross-entropy of the assembled masks against the ground-truth object's
  mask cropped to the predicted box, averaged over all box pixels.

Each centre is matched to the object whose id is the ``zones`` value at the centre (PASTIS's
zones hold instance ids: the reference's matching), or with ``match="instance"`` the
``instances`` value there. The per-object targets are derived from the maps: bounding-box
height and width in pixels (``max − min + 1`` of its rows / columns; the reference counts the
occupied rows / columns, the same for row- and column-convex parcels), and the majority
semantic class of its pixels (the reference: its first pixel's class). Centres matched to no
object (id 0, or an id with no pixel in ``instances``) get no size / class / shape target; the
reference would give them a zero size target and divide by ``ε``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sitsfusion.models.heads.paps import PaPsOutput

__all__ = ["PaPsLoss", "centerness_loss", "object_targets"]


def centerness_loss(
    pred: Tensor, target: Tensor, beta: float = 4.0, alpha: float = 0.0, eps: float = 1e-8
) -> Tensor:
    """CornerNet focal loss of a heatmap ``pred`` (in ``(0, 1)``) vs ``target``, any equal
    shapes; normalised by the number of positive pixels (``target == 1``, at least 1)."""
    pred, target = pred.reshape(-1).float(), target.reshape(-1).float()
    pos = target == 1
    pos_term = torch.log(pred + eps) * (1 - pred).pow(alpha)
    neg_term = torch.log(1 - pred + eps) * pred.pow(alpha) * (1 - target).pow(beta)
    total = torch.where(pos, pos_term, neg_term).sum()
    return -total / pos.sum().clamp_min(1)


def object_targets(
    instances: Tensor, semantic: Tensor, keys_base: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-object targets of a batch of instance maps, vectorised.

    Args:
        instances: long ``[B, H, W]`` (0 = no object). semantic: long ``[B, H, W]``.
        keys_base: an integer larger than every id (objects are keyed ``b · keys_base + id``).

    Returns:
        ``keys`` long ``[M]`` (sorted), ``size`` float ``[M, 2]`` (bounding-box height and
        width in pixels), ``label`` long ``[M]`` (majority semantic class; ties: the smallest).
    """
    _, h, w = instances.shape
    device = instances.device
    flat = instances.reshape(-1).long()
    pix = torch.arange(flat.numel(), device=device)
    fg = flat > 0
    key = (pix // (h * w)) * keys_base + flat
    keys, inv = torch.unique(key[fg], return_inverse=True)
    m = keys.numel()
    rows, cols = (pix // w % h)[fg], (pix % w)[fg]

    def reduce(v: Tensor, how: str, init: int) -> Tensor:
        return torch.full((m,), init, dtype=torch.long, device=device).scatter_reduce(
            0, inv, v, how
        )

    height = reduce(rows, "amax", -1) - reduce(rows, "amin", h) + 1
    width = reduce(cols, "amax", -1) - reduce(cols, "amin", w) + 1
    cls = semantic.reshape(-1).long()[fg]
    n_cls = int(cls.max()) + 1 if cls.numel() else 1
    votes = torch.zeros(m * n_cls, dtype=torch.long, device=device)
    votes.index_add_(0, inv * n_cls + cls, torch.ones_like(cls))
    label = votes.view(m, n_cls).argmax(dim=1)
    return keys, torch.stack([height, width], dim=1).float(), label


class PaPsLoss(nn.Module):
    """``PaPsLoss()(output, heatmap, instances, zones, semantic) -> (total, terms)``.

    Args:
        l_center, l_size, l_class, l_shape: weights of the four terms (1 each by default).
        beta, alpha: the centerness focal loss's exponents (4 and 0).
        void_label: object class ignored by the class term (19: PASTIS's void); None: none.
        match: ``"zone"`` (the reference) or ``"instance"``: which map's id at a centre
            designates its object.
        eps: ``ε`` of the size term and of the logs.
    """

    def __init__(
        self,
        l_center: float = 1.0,
        l_size: float = 1.0,
        l_class: float = 1.0,
        l_shape: float = 1.0,
        beta: float = 4.0,
        alpha: float = 0.0,
        void_label: int | None = 19,
        match: Literal["zone", "instance"] = "zone",
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if match not in ("zone", "instance"):
            raise ValueError(f"match must be 'zone' or 'instance', got {match!r}")
        self.l_center, self.l_size = float(l_center), float(l_size)
        self.l_class, self.l_shape = float(l_class), float(l_shape)
        self.beta, self.alpha, self.eps = float(beta), float(alpha), float(eps)
        self.void_label = void_label
        self.match = match

    def forward(
        self,
        output: PaPsOutput,
        heatmap: Tensor,
        instances: Tensor,
        zones: Tensor,
        semantic: Tensor,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The weighted loss and its (detached) terms ``center``, ``size``, ``class``, ``shape``.

        Args:
            output: :class:`PaPsOutput` (in training, from ``PaPs(features, zones=zones)``);
                with ``heatmap_only`` only the centerness term is non-zero.
            heatmap: float ``[B, H, W]`` target centerness (1 at the parcels' centres).
            instances: long ``[B, H, W]`` instance ids (0 = none).
            zones: long ``[B, H, W]`` zone of each pixel (the id of its closest object).
            semantic: long ``[B, H, W]`` semantic class of each pixel.
        """
        pred_hm = output.heatmap
        if tuple(heatmap.shape) != (pred_hm.shape[0], *pred_hm.shape[2:]):
            raise ValueError(
                f"heatmap target must be [B, H, W] = {(pred_hm.shape[0], *pred_hm.shape[2:])}, "
                f"got {tuple(heatmap.shape)}"
            )
        l_center = centerness_loss(pred_hm[:, 0], heatmap, self.beta, self.alpha, self.eps)
        zero = l_center.new_zeros(())
        l_size = l_class = l_shape = zero
        if output.semantic is not None and output.centre_batch.numel() > 0:
            l_size, l_class, l_shape = self._centre_terms(output, instances, zones, semantic)
        total = (
            self.l_center * l_center
            + self.l_size * l_size
            + self.l_class * l_class
            + self.l_shape * l_shape
        )
        terms = {"center": l_center, "size": l_size, "class": l_class, "shape": l_shape}
        return total, {k: v.detach() for k, v in terms.items()}

    def _centre_terms(
        self, output: PaPsOutput, instances: Tensor, zones: Tensor, semantic: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        assert output.semantic is not None and output.size is not None
        assert output.masks is not None
        instances, zones = instances.long(), zones.long()
        base = int(torch.maximum(instances.max(), zones.max()).clamp_min(0)) + 1
        keys, obj_size, obj_label = object_targets(instances, semantic, base)
        cb, pos = output.centre_batch, output.centre_pos
        ids = (zones if self.match == "zone" else instances)[cb, pos[:, 0], pos[:, 1]]
        ckey = cb * base + ids
        slot = torch.searchsorted(keys, ckey).clamp_max(max(keys.numel() - 1, 0))
        matched = (ids > 0) & (keys.numel() > 0)
        if keys.numel():
            matched = matched & (keys[slot] == ckey)
        zero = output.size.sum() * 0.0
        if not bool(matched.any()):
            return zero, zero, zero
        slot_m = slot[matched]
        # size
        true = obj_size[slot_m]
        l_size = ((true - output.size[matched].float()).abs() / (true + self.eps)).sum(1).mean()
        # class (void ignored)
        label = obj_label[slot_m]
        keep = (
            label != self.void_label
            if self.void_label is not None
            else torch.ones_like(label, dtype=torch.bool)
        )
        l_class = (
            F.cross_entropy(output.semantic[matched][keep].float(), label[keep])
            if bool(keep.any())
            else zero
        )
        # shape: every pixel of a matched centre's box vs its object's mask
        masks = output.masks
        obj_id = torch.where(matched, ids, ids.new_zeros(()))
        pix_ok = matched[masks.index]
        target = instances.reshape(-1)[masks.pixel[pix_ok]] == obj_id[masks.index[pix_ok]]
        l_shape = F.binary_cross_entropy(masks.values[pix_ok].float(), target.float())
        return l_size, l_class, l_shape
