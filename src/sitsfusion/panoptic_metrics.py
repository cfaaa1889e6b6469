"""Panoptic quality (PQ), segmentation quality (SQ) and recognition quality (RQ) of parcels.

The metrics of Kirillov et al. (2019) as used for PASTIS (seed 001, Sec. 4 "Panoptic
Segmentation"; ``utae-paps:src/panoptic/metrics.py``, reference/anchors-code.md §4), for
"thing" classes only: every class except background (0) and void (19) is evaluated.

Definitions, per class ``c``
    * the class of a **true instance** is the majority true semantic class over its pixels;
      the class of a **predicted instance** is the majority *predicted* semantic class over its
      pixels (ties: the smallest class id). PaPs predicts one class per instance, so this is
      simply that class; for a pixel-wise semantic prediction it is a vote;
    * a predicted and a true instance **match** when their IoU is **strictly above 0.5** (IoU
      exactly 0.5 is not a match) and they have the same class. With a threshold ≥ 0.5 a true
      instance matches at most one prediction and conversely (instances do not overlap);
    * ``TP_c`` = matches of class c, ``FP_c`` = predicted instances of class c not matched,
      ``FN_c`` = true instances of class c not matched;
    * ``SQ_c = ΣIoU(matches) / TP_c`` (0 when ``TP_c = 0``), ``RQ_c = TP_c / (TP_c + ½FP_c +
      ½FN_c)``, ``PQ_c = SQ_c · RQ_c``.

Averages
    ``SQ``, ``RQ``, ``PQ`` are the unweighted means of the per-class values over the classes
    **present**, i.e. with ``TP + FP + FN > 0`` (in the truth or the prediction) — the
    reference's mean over classes whose PQ is not NaN. Because the product is taken per class
    and then averaged, ``PQ ≠ SQ · RQ`` in general (utae-paps issue #24); what holds is
    ``PQ ≤ min(SQ, RQ)`` (each ``PQ_c ≤ min(SQ_c, RQ_c)`` as both lie in [0, 1]).

Void and background (the June-2022 fix of the reference, utae-paps issue #11 / PR #12)
    1. the *void segment* of a true instance is its pixels of the void class; a predicted
       instance whose IoU with a void segment is above the threshold is **discarded** (neither
       TP nor FP) — a prediction of a void parcel is not penalised;
    2. then void pixels are removed from every instance, true and predicted (neither counted in
       areas nor in intersections);
    3. background pixels of the truth are removed from the true instances
       (``instances × (semantic ≠ 0)``, as the PASTIS targets); predicted instances whose
       class is background or void are ignored (the reference evaluates neither class).

Differences from the reference implementation (``PanopticMeter``)
    * vectorised: all IoUs of a batch come from one joint count of (true id, predicted id)
      pixel pairs (``torch.unique``), not from a loop over instance pairs; the states live on
      the metric's device (the reference accumulates on the CPU; ``pastis-benchmark``'s copy
      fails on GPU inputs) and are summed across processes under DDP;
    * the inputs are not modified (the reference zeroes void pixels of the caller's tensors);
    * the void IoU is the true IoU of the void segment with the prediction (the reference
      divides the intersection with the *whole* instance by the void segment's area, so a
      correct prediction of a crop parcel with a void border would be discarded);
    * a true (predicted) instance belongs to the one class of its majority vote and its IoU
      uses all of its non-void pixels; the reference splits an instance whose pixels carry
      several classes into one segment per class (identical results when each instance has a
      single class and void pixels belong only to void parcels or to no instance);
    * the reference zeroes the predicted semantics at void pixels but, because it zeroes the
      instance first, not those of the discarded instances (anchors-code §6 item 9); here a
      discarded instance disappears entirely.

Summing folds
    The state is four per-class sums (``tp``, ``fp``, ``fn``, ``iou_sum``): the scores of several
    batches, epochs or folds pooled together are :func:`panoptic_scores` of the summed counts
    (or ``metric.merge_state(other)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = ["PanopticQuality", "panoptic_scores"]


def _nanmean(x: Tensor) -> float:
    keep = ~torch.isnan(x)
    return float(x[keep].mean()) if keep.any() else math.nan


def panoptic_scores(
    tp: Tensor | Sequence[int],
    fp: Tensor | Sequence[int],
    fn: Tensor | Sequence[int],
    iou_sum: Tensor | Sequence[float],
    evaluated: Tensor | Sequence[bool] | None = None,
) -> dict[str, Any]:
    """SQ / RQ / PQ from per-class counts (a pure function: sum the counts of folds first).

    Args:
        tp, fp, fn: per-class counts ``[K]``.
        iou_sum: per-class sum of the IoUs of the true positives ``[K]``.
        evaluated: bool ``[K]``, the classes that may enter the averages (default: all).

    Returns:
        dict with ``SQ``, ``RQ``, ``PQ`` (floats, means over the present evaluated classes,
        NaN when none is present), ``SQ_per_class``, ``RQ_per_class``, ``PQ_per_class``
        (float64 ``[K]`` CPU tensors, NaN for classes not evaluated or absent), ``TP``, ``FP``,
        ``FN`` (int64 ``[K]``), ``iou_sum`` (float64 ``[K]``), ``present`` (bool ``[K]``,
        the classes averaged) and ``n_classes`` (how many).
    """
    tp_ = torch.as_tensor(tp).detach().cpu().to(torch.float64)
    fp_ = torch.as_tensor(fp).detach().cpu().to(torch.float64)
    fn_ = torch.as_tensor(fn).detach().cpu().to(torch.float64)
    ious = torch.as_tensor(iou_sum).detach().cpu().to(torch.float64)
    k = tp_.numel()
    if not (fp_.numel() == fn_.numel() == ious.numel() == k):
        raise ValueError("tp, fp, fn and iou_sum must have one value per class each")
    keep = (
        torch.ones(k, dtype=torch.bool)
        if evaluated is None
        else torch.as_tensor(evaluated, dtype=torch.bool).cpu()
    )
    present = keep & ((tp_ + fp_ + fn_) > 0)
    nan = torch.full_like(tp_, math.nan)
    sq = torch.where(tp_ > 0, ious / tp_.clamp_min(1), torch.zeros_like(tp_))
    rq = tp_ / (tp_ + 0.5 * fp_ + 0.5 * fn_).clamp_min(1e-300)
    pq = sq * rq
    sq, rq, pq = (torch.where(present, x, nan) for x in (sq, rq, pq))
    return {
        "SQ": _nanmean(sq),
        "RQ": _nanmean(rq),
        "PQ": _nanmean(pq),
        "SQ_per_class": sq,
        "RQ_per_class": rq,
        "PQ_per_class": pq,
        "TP": tp_.round().to(torch.int64),
        "FP": fp_.round().to(torch.int64),
        "FN": fn_.round().to(torch.int64),
        "iou_sum": ious,
        "present": present,
        "n_classes": int(present.sum()),
    }


def _compact(ids: Tensor, image: Tensor, valid: Tensor) -> tuple[Tensor, int]:
    """Per-pixel code ``0..n-1`` of each (image, id) pair where ``valid``, −1 elsewhere."""
    codes = torch.full_like(ids, -1)
    if not bool(valid.any()):
        return codes, 0
    _, local = torch.unique(ids[valid], return_inverse=True)  # ids → 0..m-1, no overflow
    m = int(local.max()) + 1
    pairs, inverse = torch.unique(image[valid] * m + local, return_inverse=True)
    codes[valid] = inverse
    return codes, int(pairs.numel())


def _pair_counts(a: Tensor, b: Tensor, n_b: int) -> tuple[Tensor, Tensor, Tensor]:
    """Distinct ``(a, b)`` code pairs and their pixel counts (a sparse joint histogram)."""
    keys, counts = torch.unique(a * n_b + b, return_counts=True)
    return keys // n_b, keys % n_b, counts


def _majority(codes: Tensor, labels: Tensor, n: int, k: int) -> Tensor:
    """Majority label ``[n]`` of each code (ties: the smallest label)."""
    votes = torch.bincount(codes * k + labels, minlength=n * k).view(n, k)
    return votes.argmax(dim=1)


class PanopticQuality(Metric):
    """PQ / SQ / RQ accumulated over batches (see the module docstring for the definitions).

    ``update(pred_instances, pred_semantic, true_instances, true_semantic)``:

    * ``pred_instances`` integer ``[B, H, W]`` predicted instance ids (0 = no instance);
    * ``pred_semantic`` integer ``[B, H, W]`` predicted classes, or float ``[B, K, H, W]``
      scores (PaPs' ``pano_semantic``; the arg-max over dim 1 is taken);
    * ``true_instances`` integer ``[B, H, W]`` (0 = no instance); ids are per image;
    * ``true_semantic`` integer ``[B, H, W]`` classes ``0..K-1``.

    :meth:`compute` returns :func:`panoptic_scores` of the accumulated counts.

    Args:
        num_classes: K, including background and void (PASTIS: 20).
        background_index: background class, not evaluated (PASTIS 0; None: none).
        void_index: void class, not evaluated and handled by the void rule (PASTIS 19; None:
            none).
        iou_threshold: a match needs IoU strictly above it; ≥ 0.5 so that matches are unique.
        validate_args: check shapes, dtypes and class ranges (one device sync per update).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    tp: Tensor
    fp: Tensor
    fn: Tensor
    iou_sum: Tensor

    def __init__(
        self,
        num_classes: int = 20,
        background_index: int | None = 0,
        void_index: int | None = 19,
        iou_threshold: float = 0.5,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        for name, index in (("background_index", background_index), ("void_index", void_index)):
            if index is not None and not 0 <= index < num_classes:
                raise ValueError(f"{name}={index} is not a class of 0..{num_classes - 1}")
        if not 0.5 <= iou_threshold < 1.0:
            raise ValueError(
                f"iou_threshold must lie in [0.5, 1) (unique matches), got {iou_threshold}"
            )
        self.num_classes = num_classes
        self.background_index = background_index
        self.void_index = void_index
        self.iou_threshold = float(iou_threshold)
        self.validate_args = validate_args
        evaluated = torch.ones(num_classes, dtype=torch.bool)
        for index in (background_index, void_index):
            if index is not None:
                evaluated[index] = False
        self.evaluated_classes: list[int] = [int(c) for c in torch.nonzero(evaluated).flatten()]
        self.add_state("tp", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("fp", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("fn", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state(
            "iou_sum", torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum"
        )

    # ---- input checks -----------------------------------------------------------------------

    def _labels(self, pred_semantic: Tensor, shape: torch.Size) -> Tensor:
        k = self.num_classes
        if pred_semantic.is_floating_point():
            if pred_semantic.ndim != 4 or pred_semantic.shape[1] != k:
                raise ValueError(
                    f"float pred_semantic must be scores [B, K={k}, H, W], got "
                    f"{tuple(pred_semantic.shape)}"
                )
            if (pred_semantic.shape[0], *pred_semantic.shape[2:]) != tuple(shape):
                raise ValueError(
                    f"pred_semantic {tuple(pred_semantic.shape)} does not match the instance "
                    f"maps {tuple(shape)}"
                )
            return pred_semantic.argmax(dim=1)
        if pred_semantic.shape != shape:
            raise ValueError(
                f"pred_semantic {tuple(pred_semantic.shape)} must be [B, H, W] labels like the "
                f"instance maps {tuple(shape)} (or float scores [B, K, H, W])"
            )
        return pred_semantic.long()

    def _check(self, maps: dict[str, Tensor]) -> None:
        shape = maps["true_instances"].shape
        for name, x in maps.items():
            if not isinstance(x, Tensor):
                raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
            if name != "pred_semantic" and (x.ndim != 3 or x.is_floating_point()):
                raise ValueError(
                    f"{name} must be an integer [B, H, W] map, got {x.dtype} {tuple(x.shape)}"
                )
            if name != "pred_semantic" and x.shape != shape:
                raise ValueError(f"{name} is {tuple(x.shape)} but true_instances is {tuple(shape)}")

    # ---- accumulation -----------------------------------------------------------------------

    def update(  # type: ignore[override]
        self,
        pred_instances: Tensor,
        pred_semantic: Tensor,
        true_instances: Tensor,
        true_semantic: Tensor,
    ) -> None:
        """Add a batch (see the class docstring for the inputs; they are not modified)."""
        self._check(
            {
                "pred_instances": pred_instances,
                "pred_semantic": pred_semantic,
                "true_instances": true_instances,
                "true_semantic": true_semantic,
            }
        )
        device = self.tp.device
        k = self.num_classes
        shape = true_instances.shape
        ps = self._labels(pred_semantic, shape).to(device).reshape(-1)
        pi = pred_instances.to(device).long().reshape(-1)
        ti = true_instances.to(device).long().reshape(-1)
        ts = true_semantic.to(device).long().reshape(-1)
        if ti.numel() == 0:
            return
        if self.validate_args:
            for name, labels in (("true_semantic", ts), ("pred_semantic", ps)):
                if bool(((labels < 0) | (labels >= k)).any()):
                    raise ValueError(f"{name} holds classes outside [0, {k})")
        hw = shape[1] * shape[2]
        image = torch.arange(shape[0], device=device).repeat_interleave(hw)
        thr = self.iou_threshold

        t_code, n_t = _compact(ti, image, ti != 0)
        p_code, n_p = _compact(pi, image, pi != 0)
        has_pred = p_code >= 0

        if self.void_index is not None:
            void = ts == self.void_index
            # 1. discard predictions matching the void segment of a true instance
            seg = void & (t_code >= 0)
            if bool(seg.any()) and n_p > 0:
                seg_area = torch.bincount(t_code[seg], minlength=n_t)
                p_area_all = torch.bincount(p_code[has_pred], minlength=n_p)
                both = seg & has_pred
                t_idx, p_idx, inter = _pair_counts(t_code[both], p_code[both], n_p)
                iou = inter / (seg_area[t_idx] + p_area_all[p_idx] - inter)
                discarded = torch.zeros(n_p, dtype=torch.bool, device=device)
                discarded[p_idx[iou > thr]] = True
                has_pred = has_pred & ~discarded[p_code.clamp_min(0)]
            # 2. void pixels belong to no instance
            has_pred = has_pred & ~void
            has_true = (t_code >= 0) & ~void
        else:
            has_true = t_code >= 0
        # 3. background pixels of the truth belong to no true instance
        if self.background_index is not None:
            has_true = has_true & (ts != self.background_index)

        t_area = torch.bincount(t_code[has_true], minlength=n_t)
        p_area = torch.bincount(p_code[has_pred], minlength=n_p)
        evaluated = torch.zeros(k, dtype=torch.bool, device=device)
        evaluated[self.evaluated_classes] = True
        t_class = _majority(t_code[has_true], ts[has_true], n_t, k)
        p_class = _majority(p_code[has_pred], ps[has_pred], n_p, k)
        t_counted = (t_area > 0) & evaluated[t_class]
        p_counted = (p_area > 0) & evaluated[p_class]

        both = has_true & has_pred
        t_idx, p_idx, inter = _pair_counts(t_code[both], p_code[both], max(n_p, 1))
        iou = inter.double() / (t_area[t_idx] + p_area[p_idx] - inter).double()
        match = (
            (iou > thr) & (t_class[t_idx] == p_class[p_idx]) & t_counted[t_idx] & p_counted[p_idx]
        )
        cls = t_class[t_idx[match]]
        tp = torch.bincount(cls, minlength=k)
        n_true = torch.bincount(t_class[t_counted], minlength=k)
        n_pred = torch.bincount(p_class[p_counted], minlength=k)
        self.tp += tp
        self.fp += n_pred - tp
        self.fn += n_true - tp
        self.iou_sum += torch.zeros(k, dtype=torch.float64, device=device).index_add_(
            0, cls, iou[match]
        )

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        """:func:`panoptic_scores` of everything seen since the last ``reset``."""
        evaluated = torch.zeros(self.num_classes, dtype=torch.bool)
        evaluated[self.evaluated_classes] = True
        return panoptic_scores(self.tp, self.fp, self.fn, self.iou_sum, evaluated)
