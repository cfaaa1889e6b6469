"""Classification scores of the papers, all derived from one confusion matrix.

The single accumulator is torchmetrics'
:class:`~torchmetrics.classification.MulticlassConfusionMatrix` (``[K, K]`` int64 counts,
rows = truth, columns = prediction; summed across processes under DDP). Every score is a pure
function of that matrix (:func:`scores_from_confusion`), so the confusion matrices of several
folds can be **summed and scored once** — the PASTIS protocol's overall score
(reference/anchors-code.md §1 item 4, ``utae-paps:train_semantic.py``, ``overall_performance``).

Scores and sources
    * overall accuracy, Cohen's κ, average F-score, mIoU, per-class accuracy
      (seed 000, Sec. 4.4 and Table 3; seed 003, Sec. 3.5 eqs. 5–8);
    * mIoU = mean over classes of ``TP / (TP + FP + FN)`` (seed 001, Sec. 4.2, eq. 8); the mean
      runs over classes present in target ∪ prediction (``TP + FP + FN > 0``): ``nanmean`` of
      ``utae-paps:src/learning/miou.py`` and the parcel mIoU of ``pytorch-psetae``
      (reference/anchors-code.md §4). ``miou_all`` divides by all K classes instead (absent
      classes count 0), the literal eq. 8 / ``MACRO_IoU`` of ``confusion_matrix_analysis``;
    * precision / recall / F1 per class and weighted by class support (seed 003, Sec. 3.5;
      seed 004, Sec. VI "we weigh all metrics with the samples of each class").

Ignored class
    ``ignore_index`` (PASTIS void 19, S4A background 0) is removed from the rows **and** the
    columns, as PASTIS zeroes both (``miou.py``) and ``overall_performance`` deletes both:
    a position whose target is ignored is not counted, and a valid position *predicted* as the
    ignored class is not counted either (it is neither a hit nor a miss of its true class).
    The number of such positions is reported as ``ignored_predictions`` so it is not invisible.
    An ``ignore_index`` outside ``[0, K)`` (e.g. -1, 255) only filters targets.

Zero divisions
    A per-class score is NaN when the class is absent from both target and prediction
    (``TP + FP + FN = 0``) and is left out of the macro means; otherwise ``0/0`` counts as 0
    (precision of a class never predicted, recall of a class never present — scikit-learn's
    ``zero_division=0``). κ is NaN when chance agreement is 1 (a single class everywhere), as in
    scikit-learn and torchmetrics. Every score is NaN for an empty matrix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.table import Table
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix

from sitsfusion.io import write_text_atomic

__all__ = [
    "PER_CLASS_KEYS",
    "SCALAR_KEYS",
    "ClassificationMetrics",
    "format_table",
    "plot_confusion_matrix",
    "scores_from_confusion",
    "write_metrics",
]

#: Scalar entries of the score dictionary (Python floats; NaN when undefined).
SCALAR_KEYS: tuple[str, ...] = (
    "overall_accuracy",
    "kappa",
    "miou",
    "miou_all",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_precision",
    "weighted_recall",
    "weighted_f1",
    "weighted_accuracy",
)
#: Per-class entries (1-D CPU tensors ``[K']``, one value per kept class).
PER_CLASS_KEYS: tuple[str, ...] = (
    "iou",
    "accuracy",
    "ovr_accuracy",
    "precision",
    "recall",
    "f1",
    "support",
)

#: Largest number of classes whose confusion-matrix cells get a number written in them.
ANNOTATE_MAX_CLASSES = 12


def _kept_labels(num_classes: int, ignore_index: int | None) -> list[int]:
    """Original class indices kept after removing ``ignore_index`` (if it is a valid index)."""
    return [k for k in range(num_classes) if k != ignore_index]


def _names_for(
    class_names: Sequence[str] | None, labels: Sequence[int], num_classes: int
) -> list[str]:
    """Names of the kept classes, from names of all K classes or of the kept ones only."""
    if class_names is None:
        return [str(k) for k in labels]
    names = [str(n) for n in class_names]
    if len(names) == len(labels):
        return names
    if len(names) == num_classes:
        return [names[k] for k in labels]
    raise ValueError(
        f"{len(names)} class names for {num_classes} classes ({len(labels)} after removing the "
        "ignored one)"
    )


def _safe_ratio(num: Tensor, den: Tensor, present: Tensor) -> Tensor:
    """``num / den`` with 0/0 → 0 where the class is present and NaN where it is absent."""
    out = torch.where(den > 0, num / den.clamp_min(1), torch.zeros_like(num))
    return torch.where(present, out, torch.full_like(num, math.nan))


def _nanmean(x: Tensor) -> float:
    keep = ~torch.isnan(x)
    return float(x[keep].mean()) if keep.any() else math.nan


def scores_from_confusion(
    cm: Tensor | np.ndarray | Sequence[Sequence[int]],
    class_names: Sequence[str] | None = None,
    ignore_index: int | None = None,
    labels: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Every score from a confusion matrix ``[K, K]`` (rows = truth, columns = prediction).

    Pure function: the scores of a sum of fold matrices are the pooled scores of the folds.

    Args:
        cm: counts ``[K, K]`` (any device / integer or float dtype).
        class_names: names of the K classes, or of the K' kept ones.
        ignore_index: class index whose row and column are removed first (PASTIS void).
        labels: original class indices of the rows (default ``0..K-1`` minus ``ignore_index``);
            use it when re-scoring an already reduced matrix, e.g. ``scores["labels"]``.

    Returns:
        dict with

        * scalars (``float``): ``overall_accuracy``, ``kappa`` (Cohen), ``miou`` (mean over
          classes present in target ∪ prediction), ``miou_all`` (mean over all K'),
          ``macro_precision`` / ``macro_recall`` / ``macro_f1`` (means over present classes;
          ``macro_f1`` is the "average F-score" of seed 000), ``weighted_precision`` /
          ``weighted_recall`` / ``weighted_f1`` (weights = support; ``weighted_recall`` equals
          overall accuracy by construction), ``weighted_accuracy`` (seed 004's "Acc. W.":
          per-class one-vs-rest accuracy ``(TP + TN) / N`` weighted by support), ``total``
          (counted positions) and
          ``ignored_predictions`` (valid positions predicted as the ignored class);
        * per class (float64 ``[K']`` CPU tensors): ``iou``, ``accuracy`` (= ``recall``, the
          producer's accuracy of seed 000 Table 3), ``ovr_accuracy`` (one-vs-rest),
          ``precision`` (user's accuracy), ``recall``, ``f1``; ``support`` (int64 ``[K']``);
        * ``confusion_matrix`` (int64 ``[K', K']`` CPU, ignored row / column removed),
          ``labels`` (original class index of each row) and ``class_names``.
    """
    m = torch.as_tensor(cm).detach().cpu()
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square [K, K], got shape {tuple(m.shape)}")
    num_classes = int(m.shape[0])
    ignored_predictions = 0.0
    if ignore_index is not None and 0 <= ignore_index < num_classes:
        keep = _kept_labels(num_classes, ignore_index)
        ignored_predictions = float(m[keep, ignore_index].sum())
        m = m[keep][:, keep]
        if labels is None:
            labels = keep
    if labels is None:
        labels = list(range(m.shape[0]))
    labels = [int(k) for k in labels]
    if len(labels) != m.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {m.shape[0]}-class confusion matrix")
    names = _names_for(class_names, labels, num_classes)

    counts = m.to(torch.int64) if not m.is_floating_point() else m.round().to(torch.int64)
    f = m.to(torch.float64)
    total = f.sum()
    tp = torch.diagonal(f)
    support = f.sum(dim=1)  # truth
    predicted = f.sum(dim=0)
    fp = predicted - tp
    fn = support - tp
    present = (tp + fp + fn) > 0

    iou = _safe_ratio(tp, tp + fp + fn, present)
    precision = _safe_ratio(tp, tp + fp, present)
    recall = _safe_ratio(tp, tp + fn, present)
    f1 = _safe_ratio(2 * tp, 2 * tp + fp + fn, present)

    if total > 0:
        oa = float(tp.sum() / total)
        p_e = float((support * predicted).sum() / total**2)
        kappa = (oa - p_e) / (1.0 - p_e) if p_e < 1.0 else math.nan
        w = support / total

        def weighted(x: Tensor) -> float:
            return float((torch.nan_to_num(x, nan=0.0) * w).sum())

        w_precision, w_recall, w_f1 = weighted(precision), weighted(recall), weighted(f1)
        # seed 004 / S4A "accuracy": per class one-vs-rest (TP + TN) / N, weighted by support
        ovr_accuracy = (total - fp - fn) / total
        w_accuracy = weighted(ovr_accuracy)
    else:
        oa = kappa = w_precision = w_recall = w_f1 = w_accuracy = math.nan
        ovr_accuracy = torch.full_like(tp, math.nan)

    k_all = len(labels)
    return {
        "overall_accuracy": oa,
        "kappa": kappa,
        "miou": _nanmean(iou),
        "miou_all": float(torch.nan_to_num(iou, nan=0.0).sum() / k_all) if total > 0 else math.nan,
        "macro_precision": _nanmean(precision),
        "macro_recall": _nanmean(recall),
        "macro_f1": _nanmean(f1),
        "weighted_precision": w_precision,
        "weighted_recall": w_recall,
        "weighted_f1": w_f1,
        "weighted_accuracy": w_accuracy,
        "total": float(total),
        "ignored_predictions": ignored_predictions,
        "iou": iou,
        "accuracy": recall.clone(),
        "ovr_accuracy": ovr_accuracy,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support.round().to(torch.int64),
        "confusion_matrix": counts,
        "labels": labels,
        "class_names": names,
    }


class ClassificationMetrics(MulticlassConfusionMatrix):
    """Confusion-matrix accumulator whose :meth:`compute` returns every score as a dict.

    A :class:`torchmetrics.classification.MulticlassConfusionMatrix` (state ``confmat``
    ``[K, K]`` int64, DDP-summed, ``reset`` / ``to(device)`` as any torchmetrics metric);
    :meth:`compute` is :func:`scores_from_confusion` of that state.

    Args:
        num_classes: K, the model's number of outputs (PASTIS semantic: 20 incl. void 19;
            parcel: 18).
        ignore_index: target value not counted; if in ``[0, K)`` its row and column are removed
            from the scores (PASTIS convention, see the module docstring).
        class_names: names of the K classes (or of the K' kept ones).
        validate_args: check shapes, dtypes and that labels lie in ``[0, K)`` (costs a
            device sync per update; torchmetrics itself only counts unique values).

    ``update(preds, target)`` accepts

    * ``preds [B]`` / ``[B, H, W]`` class indices with ``target`` of the same shape, or
    * ``preds [B, K]`` / ``[B, K, H, W]`` scores (logits, probabilities or log-probabilities;
      the arg-max over dim 1 is taken) with ``target [B]`` / ``[B, H, W]``.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        class_names: Sequence[str] | None = None,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            ignore_index=ignore_index,
            normalize=None,
            validate_args=validate_args,
            **kwargs,
        )
        labels = _kept_labels(num_classes, ignore_index)
        self.class_names: list[str] = _names_for(class_names, labels, num_classes)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add ``preds`` (labels ``[B, *]`` or scores ``[B, K, *]``) vs ``target [B, *]``."""
        if self.validate_args:
            self._check_values(preds, target)
        super().update(preds, target)

    def _check_values(self, preds: Tensor, target: Tensor) -> None:
        if target.is_floating_point():
            raise ValueError(f"target must hold integer class indices, got {target.dtype}")
        if preds.ndim == target.ndim and preds.is_floating_point():
            raise ValueError(
                "float preds must carry a class dimension ([B, K, *]); pass labels as integers"
            )
        k = self.num_classes
        t = target if self.ignore_index is None else target[target != self.ignore_index]
        if t.numel() and bool(((t < 0) | (t >= k)).any()):
            raise ValueError(f"target values outside [0, {k}) (ignore_index={self.ignore_index})")
        if (
            not preds.is_floating_point()
            and preds.numel()
            and bool(((preds < 0) | (preds >= k)).any())
        ):
            raise ValueError(f"predicted labels outside [0, {k})")

    def compute(self) -> dict[str, Any]:  # type: ignore[override]
        """Scores of everything seen since the last ``reset`` (:func:`scores_from_confusion`)."""
        return scores_from_confusion(self.confmat, self.class_names, ignore_index=self.ignore_index)

    def plot(  # type: ignore[override]
        self, normalize: Literal["true", "pred"] | None = "true", title: str | None = None
    ) -> Figure:
        """Figure of the accumulated confusion matrix (see :func:`plot_confusion_matrix`)."""
        scores = self.compute()
        return plot_confusion_matrix(
            scores["confusion_matrix"], scores["class_names"], normalize=normalize, title=title
        )


# --------------------------------------------------------------------------- writers


def _json_value(x: Any) -> Any:
    """Tensors / arrays → lists, NaN / inf → ``None`` (strict JSON)."""
    if isinstance(x, Tensor | np.ndarray):
        return _json_value(x.tolist())
    if isinstance(x, list | tuple):
        return [_json_value(v) for v in x]
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _per_class_frame(scores: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": list(scores["labels"]),
            "name": list(scores["class_names"]),
            "support": torch.as_tensor(scores["support"]).tolist(),
            "iou": torch.as_tensor(scores["iou"]).tolist(),
            "precision": torch.as_tensor(scores["precision"]).tolist(),
            "recall": torch.as_tensor(scores["recall"]).tolist(),
            "f1": torch.as_tensor(scores["f1"]).tolist(),
        }
    )


def write_metrics(
    scores: Mapping[str, Any], out_dir: str | Path, prefix: str = "test"
) -> list[Path]:
    """Write the scores of :func:`scores_from_confusion` as three files, each atomically.

    * ``<prefix>_metrics.json`` — every scalar, the per-class lists, ``labels``,
      ``class_names`` and the confusion matrix (so folds can be re-summed later); NaN → null;
    * ``<prefix>_per_class.csv`` — one row per class: ``label, name, support, iou, precision,
      recall, f1`` (empty cells for classes absent from target and prediction);
    * ``<prefix>_confusion.csv`` — counts, rows = truth, columns = prediction, headed by the
      class names.

    Returns:
        the three paths, in that order.
    """
    out = Path(out_dir)
    payload = {key: _json_value(value) for key, value in scores.items()}
    json_path = write_text_atomic(
        out / f"{prefix}_metrics.json",
        json.dumps(payload, indent=2, allow_nan=False) + "\n",
    )
    per_class_path = write_text_atomic(
        out / f"{prefix}_per_class.csv", _per_class_frame(scores).to_csv(index=False)
    )
    names = list(scores["class_names"])
    cm = pd.DataFrame(
        torch.as_tensor(scores["confusion_matrix"]).tolist(),
        index=pd.Index(names, name="truth \\ prediction"),
        columns=names,
    )
    cm_path = write_text_atomic(out / f"{prefix}_confusion.csv", cm.to_csv())
    return [json_path, per_class_path, cm_path]


# --------------------------------------------------------------------------- figures, tables


def plot_confusion_matrix(
    cm: Tensor | np.ndarray | Sequence[Sequence[float]],
    class_names: Sequence[str] | None = None,
    normalize: Literal["true", "pred"] | None = "true",
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Heat map of a confusion matrix ``[K, K]`` (rows = truth, columns = prediction).

    Args:
        cm: counts.
        class_names: K tick labels (default ``0..K-1``).
        normalize: ``"true"`` — each row sums to 1 (recall / producer's accuracy on the
            diagonal); ``"pred"`` — each column sums to 1 (precision on the diagonal; the
            normalisation of Sen4AgriNet's figures, seed 004, Sec. VI); ``None`` — raw counts.
            Empty rows / columns stay 0.
        title: figure title.
        annotate: write the value in each cell; default only when K ≤ 12 (readable at 20).

    Returns:
        a :class:`matplotlib.figure.Figure` on the Agg canvas (not registered with pyplot, so
        it needs no ``plt.close``); save it with ``fig.savefig`` or
        :func:`sitsfusion.plots.save_figure`.
    """
    m = torch.as_tensor(cm).detach().cpu().to(torch.float64).numpy()
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square [K, K], got shape {m.shape}")
    k = m.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for a {k}-class confusion matrix")
    if normalize not in ("true", "pred", None):
        raise ValueError(f"normalize must be 'true', 'pred' or None, got {normalize!r}")
    if normalize is not None:
        axis = 1 if normalize == "true" else 0
        sums = m.sum(axis=axis, keepdims=True)
        m = np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)
    if annotate is None:
        annotate = k <= ANNOTATE_MAX_CLASSES

    side = float(np.clip(0.42 * k + 2.5, 4.0, 14.0))
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    vmax = 1.0 if normalize is not None else max(float(m.max()), 1.0)
    image = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    label = {"true": "fraction of true class", "pred": "fraction of predicted class"}
    fig.colorbar(image, ax=ax, shrink=0.8, label=label.get(str(normalize), "count"))
    ax.set_xticks(range(k), names, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("truth")
    fontsize = 8 if k > 8 else 9
    ax.tick_params(labelsize=fontsize)
    if annotate:
        for i in range(k):
            for j in range(k):
                value = m[i, j]
                text = f"{value:.2f}" if normalize is not None else f"{value:.0f}"
                color = "white" if value > 0.6 * vmax else "black"
                ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=color)
    if title:
        ax.set_title(title)
    return fig


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float | np.floating):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def format_table(
    rows: Sequence[Mapping[str, Any]], title: str | None = None, digits: int = 4
) -> Table:
    """A :class:`rich.table.Table` of ``rows`` (e.g. one dict of scalar scores per experiment).

    Columns are the union of the rows' keys in first-seen order; floats get ``digits`` decimals,
    NaN and missing cells show "–".
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    table = Table(title=title)
    for col in columns:
        numeric = all(
            isinstance(row.get(col), int | float | np.number) for row in rows if col in row
        )
        table.add_column(col, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(row[c], digits) if c in row else "–" for c in columns))
    return table
