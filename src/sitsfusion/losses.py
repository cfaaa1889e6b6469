"""Classification losses of the papers: cross-entropy, focal, inverse-frequency weights, masked NLL.

Shapes (every loss here): scores ``[B, K]`` (one prediction per parcel) or ``[B, K, d1, ...]``
(e.g. ``[B, K, H, W]`` per pixel) with targets ``[B]`` or ``[B, d1, ...]`` of class indices.

Logits or log-probabilities
    :class:`FocalLoss` and cross-entropy apply ``log_softmax`` over the class dimension. Because
    ``log_softmax`` is the identity on normalised log-probabilities, they accept either logits
    or log-probabilities: decision fusion outputs the log of the fused (averaged) class
    distribution, and cross-entropy on it *is* the negative log-likelihood of that fused
    distribution, with the same value and the same gradients for the model's parameters.
    :class:`MaskedNLLLoss` takes log-probabilities as they are (``from_logits=True`` for
    logits), like the LogSoftmax + NLL models of Sen4AgriNet (seed 004, Sec. VI).

Sources
    * focal loss, γ = 2 (seed 000, Sec. 4.3, after Lin et al. 2017). The public code of
      PSE-TAE / L-TAE / CropTypeMapping trains with γ = 1 and detaches the modulating factor
      ``(1 - p_t)^γ`` from the graph (reference/anchors-code.md §4); we follow the paper (γ = 2)
      and Lin et al. (the factor is differentiated).
    * inverse-frequency weighted cross-entropy (seed 003, Sec. 3.4); the "balanced" form
      ``N / (K · N_c)`` of S4A-Models (reference/anchors-code.md §4).
    * NLL over known labels only, weighted, unknown pixels masked (seed 004, Sec. VI).
    * PASTIS semantic segmentation: 20 outputs, class 19 (void) ignored (seed 001, Sec. 4.2;
      reference/anchors-code.md §1 item 4) — ``ignore_index=19``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LOSS_NAMES",
    "FocalLoss",
    "MaskedNLLLoss",
    "build_loss",
    "class_counts",
    "inverse_frequency_weights",
]

Reduction = Literal["mean", "sum", "none"]
LossName = Literal["cross_entropy", "focal", "weighted_cross_entropy", "masked_nll"]
LOSS_NAMES: tuple[str, ...] = ("cross_entropy", "focal", "weighted_cross_entropy", "masked_nll")

#: Focal-loss focusing parameter of seed 000, Sec. 4.3 (the reference code uses 1).
FOCAL_GAMMA = 2.0


def _check_shapes(scores: Tensor, target: Tensor) -> None:
    """Raise ``ValueError`` unless ``scores`` is ``[B, K, *]`` and ``target`` is ``[B, *]``."""
    if scores.ndim < 2 or scores.ndim != target.ndim + 1:
        raise ValueError(
            f"scores must be [B, K, *] and target [B, *]; got scores {tuple(scores.shape)} "
            f"and target {tuple(target.shape)}"
        )
    if scores.shape[:1] + scores.shape[2:] != target.shape:
        raise ValueError(
            f"scores {tuple(scores.shape)} and target {tuple(target.shape)} disagree outside the "
            "class dimension (dim 1)"
        )
    if target.is_floating_point() or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer class indices, got dtype {target.dtype}")


def _as_weight(weight: Tensor | Sequence[float] | None, num_classes: int | None) -> Tensor | None:
    """Class weights as a float 1-D tensor ``[K]`` (or ``None``), length-checked if K is known."""
    if weight is None:
        return None
    w = torch.as_tensor(weight, dtype=torch.get_default_dtype())
    if w.ndim != 1:
        raise ValueError(f"class weights must be 1-D [K], got shape {tuple(w.shape)}")
    if num_classes is not None and w.numel() != num_classes:
        raise ValueError(f"{w.numel()} class weights given for {num_classes} classes")
    if not torch.isfinite(w).all() or (w < 0).any():
        raise ValueError("class weights must be finite and non-negative")
    return w


def _valid_and_safe_target(
    target: Tensor, ignore_index: int | None, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``valid`` bool ``[B, *]`` and a target with invalid positions set to 0 (safe to gather)."""
    valid = torch.ones_like(target, dtype=torch.bool)
    if ignore_index is not None:
        valid &= target != ignore_index
    if mask is not None:
        if mask.shape != target.shape:
            raise ValueError(
                f"mask {tuple(mask.shape)} must have the target's shape {target.shape}"
            )
        valid &= mask.to(torch.bool)
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    return valid, safe


def _reduce(
    per_item: Tensor, item_weight: Tensor, reduction: Reduction, denominator: Tensor | None = None
) -> Tensor:
    """Reduce ``per_item`` (already weighted, 0 at invalid positions) over all positions.

    ``mean`` divides by ``denominator`` (default ``item_weight.sum()``); an empty denominator
    (no valid position) gives 0 — connected to the graph, so ``backward`` yields zero gradients
    instead of the NaN of ``torch.nn.CrossEntropyLoss``.
    """
    if reduction == "none":
        return per_item
    total = per_item.sum()
    if reduction == "sum":
        return total
    if denominator is None:
        denominator = item_weight.sum()
    return total / denominator.clamp_min(torch.finfo(total.dtype).tiny)


class FocalLoss(nn.Module):
    r"""Multiclass focal loss (Lin et al. 2017) on logits or log-probabilities.

    ``FL = -w_y (1 - p_y)^γ log p_y`` with ``log p = log_softmax(scores, dim=1)``.
    γ = 0 is exactly (weighted) cross-entropy; γ > 0 down-weights well-classified examples,
    the remedy for class imbalance chosen by seed 000 (Sec. 4.3, γ = 2). The public PSE-TAE /
    CropTypeMapping code uses γ = 1 and detaches ``(1 - p_y)^γ``; pass ``gamma=1.0`` for
    their value (the factor is still differentiated here, as in Lin et al.).

    Args:
        gamma: focusing parameter γ ≥ 0 (seed 000, Sec. 4.3: 2).
        weight: optional class weights ``[K]`` (e.g. :func:`inverse_frequency_weights`);
            stored as a buffer so it follows ``.to(device)``.
        ignore_index: target value that contributes nothing (e.g. 19 = PASTIS void).
        reduction: ``"mean"`` — ``Σ w_y FL / Σ w_y`` over non-ignored positions, the same
            normalisation as ``torch.nn.CrossEntropyLoss`` so that γ = 0 reproduces it;
            ``"sum"``; or ``"none"`` — ``[B, *]`` with 0 at ignored positions.

    Shapes:
        ``scores [B, K]`` or ``[B, K, d1, ...]``; ``target [B]`` or ``[B, d1, ...]`` (int).

    A batch without any non-ignored position gives 0 (with zero gradients), not NaN.
    """

    weight: Tensor | None

    def __init__(
        self,
        gamma: float = FOCAL_GAMMA,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.gamma = float(gamma)
        self.ignore_index = ignore_index
        self.reduction: Reduction = reduction
        self.register_buffer("weight", _as_weight(weight, None))

    def forward(self, scores: Tensor, target: Tensor) -> Tensor:
        """Loss of ``scores [B, K, *]`` (logits or log-probabilities) against ``target [B, *]``."""
        _check_shapes(scores, target)
        if self.weight is not None and self.weight.numel() != scores.shape[1]:
            raise ValueError(f"{self.weight.numel()} class weights for {scores.shape[1]} classes")
        valid, safe = _valid_and_safe_target(target, self.ignore_index)
        log_p = F.log_softmax(scores, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)  # [B, *]
        nll = -log_p
        if self.gamma > 0:
            # 1 - p_t, computed as -expm1(log p_t) for accuracy when p_t -> 1.
            one_minus_p = (-torch.expm1(log_p)).clamp_min(0.0)
            if self.gamma < 1:  # d/dx x^γ is infinite at 0 for γ < 1
                one_minus_p = one_minus_p.clamp_min(torch.finfo(one_minus_p.dtype).eps)
            nll = one_minus_p.pow(self.gamma) * nll
        item_weight = valid.to(nll.dtype)
        if self.weight is not None:
            item_weight = item_weight * self.weight.to(nll.dtype)[safe]
        per_item = torch.where(valid, nll * item_weight, torch.zeros_like(nll))
        return _reduce(per_item, item_weight, self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class MaskedNLLLoss(nn.Module):
    """Negative log-likelihood over known labels only (Sen4AgriNet, seed 004, Sec. VI).

    "We masked all nonparcel or unknown pixels and let the models learn only from the known
    labels": a position counts if its target differs from ``ignore_index`` *and* the optional
    ``mask`` passed to :meth:`forward` is true there. The loss is
    ``Σ_valid w_y · (-log p_y) / D`` with ``D`` the number of valid positions
    (``normalize_by="valid"``, the S4A "parcel loss": masked, summed, divided by the number of
    parcel pixels) or ``Σ_valid w_y`` (``normalize_by="weight"``, ``torch.nn.NLLLoss``'s mean).
    Without class weights both are the plain mean over valid positions.

    Args:
        weight: optional class weights ``[K]`` (buffer; follows ``.to(device)``).
        ignore_index: label of unknown / background positions (S4A: 0; PASTIS: 19).
        reduction: ``"mean"`` (see above), ``"sum"`` or ``"none"`` (``[B, *]``, 0 where invalid).
        normalize_by: ``"valid"`` or ``"weight"`` (only for ``reduction="mean"``).
        from_logits: apply ``log_softmax`` first (for logits). Default ``False``: the input is
            already log-probabilities (a LogSoftmax head or decision fusion's fused log-probs).

    Shapes:
        ``log_probs [B, K]`` or ``[B, K, d1, ...]``; ``target [B]`` / ``[B, d1, ...]`` (int);
        ``mask`` like ``target`` (bool; true = known label).

    A batch without any valid position returns 0 connected to the graph, so ``backward`` gives
    finite (zero) gradients — not the NaN of an empty mean.
    """

    weight: Tensor | None

    def __init__(
        self,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int | None = None,
        reduction: Reduction = "mean",
        normalize_by: Literal["valid", "weight"] = "valid",
        from_logits: bool = False,
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        if normalize_by not in ("valid", "weight"):
            raise ValueError(f"normalize_by must be 'valid' or 'weight', got {normalize_by!r}")
        self.ignore_index = ignore_index
        self.reduction: Reduction = reduction
        self.normalize_by = normalize_by
        self.from_logits = from_logits
        self.register_buffer("weight", _as_weight(weight, None))

    def forward(self, log_probs: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """Loss of ``log_probs [B, K, *]`` against ``target [B, *]`` where ``mask [B, *]``."""
        _check_shapes(log_probs, target)
        if self.weight is not None and self.weight.numel() != log_probs.shape[1]:
            raise ValueError(
                f"{self.weight.numel()} class weights for {log_probs.shape[1]} classes"
            )
        if self.from_logits:
            log_probs = F.log_softmax(log_probs, dim=1)
        valid, safe = _valid_and_safe_target(target, self.ignore_index, mask)
        nll = -log_probs.gather(1, safe.unsqueeze(1)).squeeze(1)  # [B, *]
        valid_f = valid.to(nll.dtype)
        item_weight = valid_f
        if self.weight is not None:
            item_weight = valid_f * self.weight.to(nll.dtype)[safe]
        # torch.where, not a product: a -inf log-probability at a masked position stays out.
        per_item = torch.where(valid, nll * item_weight, torch.zeros_like(nll))
        denominator = valid_f.sum() if self.normalize_by == "valid" else None
        return _reduce(per_item, item_weight, self.reduction, denominator)

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
            f"normalize_by={self.normalize_by!r}, from_logits={self.from_logits}"
        )


def class_counts(target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """Number of positions of each class, ``[K]`` int64, from labels of any shape.

    Positions equal to ``ignore_index`` are not counted; other values must lie in ``[0, K)``.
    Feed the result (summed over the training set) to :func:`inverse_frequency_weights`.
    """
    flat = target.reshape(-1).long()
    if ignore_index is not None:
        flat = flat[flat != ignore_index]
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= num_classes):
        raise ValueError(f"labels outside [0, {num_classes}) in target")
    return torch.bincount(flat, minlength=num_classes)


def inverse_frequency_weights(
    counts: Tensor | Sequence[int | float],
    ignore_index: int | None = None,
    normalize: bool = True,
) -> Tensor:
    """Class weights inversely proportional to class frequency (seed 003, Sec. 3.4).

    With ``N_c`` the count of class ``c``, ``N = Σ N_c`` over counted classes and ``K`` the
    number of counted classes with ``N_c > 0``:

    * ``normalize=True`` — ``w_c = N / (K · N_c)``, the "balanced" form of S4A-Models
      (reference/anchors-code.md §4) and scikit-learn; the sample-weighted mean weight is 1.
    * ``normalize=False`` — ``w_c = N / N_c = 1 / frequency_c``.

    Both are ∝ 1/frequency, so a loss with ``reduction="mean"`` normalised by ``Σ w_y``
    (cross-entropy, :class:`FocalLoss`) is the same with either; the scale matters for ``sum``
    and for :class:`MaskedNLLLoss` with ``normalize_by="valid"``.

    Absent classes (``N_c = 0``) and ``ignore_index`` get weight 0, never ``inf``.

    Args:
        counts: ``[K]`` non-negative counts (pixels or parcels per class), e.g. from
            :func:`class_counts`.
        ignore_index: class index whose weight is forced to 0 (PASTIS void 19, S4A background 0).
        normalize: see above.

    Returns:
        float tensor ``[K]`` (default dtype, on ``counts``' device).
    """
    c = torch.as_tensor(counts)
    if c.ndim != 1:
        raise ValueError(f"counts must be 1-D [K], got shape {tuple(c.shape)}")
    device = c.device
    c = c.detach().cpu().to(torch.float64)  # float64 on CPU (MPS has no float64)
    if (c < 0).any() or not torch.isfinite(c).all():
        raise ValueError("counts must be finite and non-negative")
    used = c > 0
    if ignore_index is not None and 0 <= ignore_index < c.numel():
        used[ignore_index] = False
    total = c[used].sum()
    weights = torch.zeros_like(c)
    weights[used] = total / c[used]
    if normalize:
        weights = weights / max(int(used.sum()), 1)
    return weights.to(device=device, dtype=torch.get_default_dtype())


def build_loss(
    name: LossName,
    num_classes: int,
    class_weights: Tensor | Sequence[float] | None = None,
    ignore_index: int | None = None,
    gamma: float = FOCAL_GAMMA,
    label_smoothing: float = 0.0,
) -> nn.Module:
    """Loss module by name, for configs.

    * ``"cross_entropy"`` — :class:`torch.nn.CrossEntropyLoss` (optional weights; PASTIS
      semantic: ``ignore_index=19``, reference/anchors-code.md §4). Note: a batch where every
      target is ignored gives NaN there (PyTorch behaviour).
    * ``"weighted_cross_entropy"`` — the same with required ``class_weights`` (seed 003,
      Sec. 3.4: :func:`inverse_frequency_weights`).
    * ``"focal"`` — :class:`FocalLoss` with ``gamma`` (seed 000, Sec. 4.3: 2).
    * ``"masked_nll"`` — :class:`MaskedNLLLoss` on log-probabilities (seed 004, Sec. VI).

    Args:
        name: one of :data:`LOSS_NAMES`.
        num_classes: K, the size of the model's class dimension (checks ``class_weights``).
        class_weights: optional ``[K]`` weights.
        ignore_index: target value excluded from the loss.
        gamma: focal γ (only for ``"focal"``).
        label_smoothing: only for the cross-entropies.
    """
    if name not in LOSS_NAMES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    weight = _as_weight(class_weights, num_classes)
    if label_smoothing and name not in ("cross_entropy", "weighted_cross_entropy"):
        raise ValueError(f"label_smoothing is only supported by the cross-entropies, not {name!r}")
    if name == "weighted_cross_entropy" and weight is None:
        raise ValueError(
            "weighted_cross_entropy needs class_weights, e.g. inverse_frequency_weights(counts)"
        )
    if name in ("cross_entropy", "weighted_cross_entropy"):
        return nn.CrossEntropyLoss(
            weight=weight,
            ignore_index=-100 if ignore_index is None else ignore_index,
            label_smoothing=label_smoothing,
        )
    if name == "focal":
        return FocalLoss(gamma=gamma, weight=weight, ignore_index=ignore_index)
    return MaskedNLLLoss(weight=weight, ignore_index=ignore_index)
