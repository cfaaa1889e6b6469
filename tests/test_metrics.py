"""Scores, writers and figures of :mod:`sitsfusion.metrics` (tiny CPU tensors)."""

from __future__ import annotations

import io
import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from torchmetrics.functional.classification import (
    multiclass_cohen_kappa,
    multiclass_f1_score,
    multiclass_jaccard_index,
    multiclass_precision,
)

from sitsfusion.metrics import (
    PER_CLASS_KEYS,
    SCALAR_KEYS,
    ClassificationMetrics,
    format_table,
    plot_confusion_matrix,
    scores_from_confusion,
    write_metrics,
)

FAST = settings(max_examples=60, deadline=None)

# rows = truth, columns = prediction
CM3 = torch.tensor([[5, 1, 0], [2, 3, 1], [0, 1, 7]])


def test_hand_computed_three_classes():
    s = scores_from_confusion(CM3, class_names=["maize", "wheat", "meadow"])
    # N = 20, diagonal 5 + 3 + 7 = 15
    assert s["overall_accuracy"] == pytest.approx(15 / 20)
    # truth totals (6, 6, 8), prediction totals (7, 5, 8): P_e = (42 + 30 + 64) / 400 = 0.34
    assert s["kappa"] == pytest.approx((0.75 - 0.34) / (1 - 0.34))
    # FP = (2, 2, 1), FN = (1, 3, 1)
    iou = [Fraction(5, 8), Fraction(3, 8), Fraction(7, 9)]
    precision = [Fraction(5, 7), Fraction(3, 5), Fraction(7, 8)]
    recall = [Fraction(5, 6), Fraction(3, 6), Fraction(7, 8)]
    f1 = [Fraction(10, 13), Fraction(6, 11), Fraction(14, 16)]
    support = [6, 6, 8]
    assert s["iou"].tolist() == pytest.approx([float(x) for x in iou])
    assert s["precision"].tolist() == pytest.approx([float(x) for x in precision])
    assert s["recall"].tolist() == pytest.approx([float(x) for x in recall])
    assert s["accuracy"].tolist() == pytest.approx([float(x) for x in recall])
    assert s["f1"].tolist() == pytest.approx([float(x) for x in f1])
    assert s["support"].tolist() == support
    assert s["miou"] == pytest.approx(float(sum(iou) / 3))  # = 16/27
    assert s["miou"] == pytest.approx(16 / 27)
    assert s["miou_all"] == pytest.approx(16 / 27)
    assert s["macro_f1"] == pytest.approx(float(sum(f1) / 3))
    weighted_f1 = sum(n * x for n, x in zip(support, f1, strict=True)) / 20
    assert s["weighted_f1"] == pytest.approx(float(weighted_f1))
    weighted_precision = sum(n * x for n, x in zip(support, precision, strict=True)) / 20
    assert s["weighted_precision"] == pytest.approx(float(weighted_precision))
    assert s["weighted_recall"] == pytest.approx(s["overall_accuracy"])  # identity
    assert s["class_names"] == ["maize", "wheat", "meadow"]
    assert s["labels"] == [0, 1, 2]
    assert torch.equal(s["confusion_matrix"], CM3)
    assert set(SCALAR_KEYS) <= s.keys() and set(PER_CLASS_KEYS) <= s.keys()


def _direct(pred: np.ndarray, true: np.ndarray, k: int) -> dict[str, float]:
    """Scores from label vectors, without a confusion matrix."""
    n = len(true)
    oa = float(np.mean(pred == true))
    p_e = sum(np.mean(true == c) * np.mean(pred == c) for c in range(k))
    ious, f1s, weights = [], [], []
    for c in range(k):
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        if tp + fp + fn:
            ious.append(tp / (tp + fp + fn))
            f1s.append(2 * tp / (2 * tp + fp + fn))
            weights.append(np.sum(true == c) / n)
    return {
        "overall_accuracy": oa,
        "kappa": (oa - p_e) / (1 - p_e),
        "miou": float(np.mean(ious)),
        "macro_f1": float(np.mean(f1s)),
        "weighted_f1": float(np.dot(weights, f1s)),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_direct_formulas_and_torchmetrics(seed):
    g = torch.Generator().manual_seed(seed)
    k = 5
    true = torch.randint(0, k, (400,), generator=g)
    pred = torch.where(
        torch.rand(400, generator=g) < 0.6, true, torch.randint(0, k, (400,), generator=g)
    )
    metric = ClassificationMetrics(k)
    metric.update(pred, true)
    s = metric.compute()
    direct = _direct(pred.numpy(), true.numpy(), k)
    for key, value in direct.items():
        assert s[key] == pytest.approx(value), key
    # independent implementations in torchmetrics (all classes present here)
    assert s["kappa"] == pytest.approx(float(multiclass_cohen_kappa(pred, true, k)))
    assert s["weighted_f1"] == pytest.approx(
        float(multiclass_f1_score(pred, true, k, average="weighted"))
    )
    assert s["weighted_precision"] == pytest.approx(
        float(multiclass_precision(pred, true, k, average="weighted"))
    )
    assert s["iou"].tolist() == pytest.approx(
        multiclass_jaccard_index(pred, true, k, average="none").tolist()
    )


@pytest.mark.parametrize("layout", ["labels", "scores_1d", "labels_2d", "scores_2d"])
def test_update_layouts(layout):
    g = torch.Generator().manual_seed(4)
    k = 4
    target = torch.randint(0, k, (3, 5, 6), generator=g)
    logits = torch.randn(3, k, 5, 6, generator=g)
    labels = logits.argmax(1)
    if layout == "labels":
        preds, tgt = labels.reshape(-1), target.reshape(-1)
    elif layout == "scores_1d":
        preds, tgt = logits.movedim(1, -1).reshape(-1, k), target.reshape(-1)
    elif layout == "labels_2d":
        preds, tgt = labels, target
    else:
        preds, tgt = logits.log_softmax(1), target  # log-probabilities: same arg-max
    metric = ClassificationMetrics(k)
    metric.update(preds, tgt)
    want = torch.bincount(target.reshape(-1) * k + labels.reshape(-1), minlength=k * k)
    assert torch.equal(metric.compute()["confusion_matrix"], want.reshape(k, k))


def test_perfect_predictions_score_one():
    target = torch.tensor([0, 1, 2, 2, 3, 3, 3, 1])
    metric = ClassificationMetrics(4)
    metric.update(target.clone(), target)
    s = metric.compute()
    for key in SCALAR_KEYS:
        assert s[key] == pytest.approx(1.0), key
    for key in ("iou", "precision", "recall", "f1", "accuracy"):
        assert torch.all(s[key] == 1.0), key


def test_ignore_index_excluded_rows_and_columns():
    # PASTIS semantic: 20 outputs, 19 = void
    target = torch.tensor([0, 0, 1, 1, 19, 19, 2, 2])
    preds = torch.tensor([0, 19, 1, 0, 5, 19, 2, 2])
    names = [f"c{i}" for i in range(19)] + ["void"]
    metric = ClassificationMetrics(20, ignore_index=19, class_names=names)
    metric.update(preds, target)
    s = metric.compute()
    assert s["confusion_matrix"].shape == (19, 19)
    assert s["labels"] == list(range(19))
    assert "void" not in s["class_names"] and len(s["class_names"]) == 19
    # counted: (0,0) (1,1) (1,0) (2,2) (2,2); (0 → void) is dropped, void targets are dropped
    assert s["total"] == 5
    assert s["ignored_predictions"] == 1
    assert s["overall_accuracy"] == pytest.approx(4 / 5)
    assert s["support"][:3].tolist() == [1, 2, 2]
    # classes 3..18 never appear: NaN, and out of the mIoU (not out of miou_all)
    assert torch.isnan(s["iou"][3:]).all()
    assert s["miou"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert s["miou_all"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 19)


def test_ignore_index_in_the_middle_and_outside():
    target = torch.tensor([0, 1, 2, 2, 1])
    preds = torch.tensor([0, 2, 2, 1, 1])
    # S4A: 0 = background, ignored
    s = ClassificationMetrics(3, ignore_index=0, class_names=["bg", "wheat", "maize"])
    s.update(preds, target)
    out = s.compute()
    assert out["labels"] == [1, 2] and out["class_names"] == ["wheat", "maize"]
    assert out["confusion_matrix"].tolist() == [[1, 1], [1, 1]]
    # re-scoring the reduced matrix keeps labels and names
    again = scores_from_confusion(out["confusion_matrix"], out["class_names"], labels=out["labels"])
    assert again["labels"] == [1, 2] and again["miou"] == pytest.approx(out["miou"])
    # an ignore value outside [0, K) only filters targets
    m = ClassificationMetrics(3, ignore_index=-1)
    m.update(torch.tensor([0, 1, 2]), torch.tensor([0, -1, 2]))
    assert m.compute()["confusion_matrix"].shape == (3, 3) and m.compute()["total"] == 2


def test_bad_updates_rejected():
    m = ClassificationMetrics(3)
    with pytest.raises(ValueError, match="target values"):
        m.update(torch.tensor([0, 1]), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="predicted labels"):
        m.update(torch.tensor([0, 5]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class dimension"):
        m.update(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class names"):
        ClassificationMetrics(3, class_names=["a", "b"], ignore_index=None)


def test_sum_of_fold_matrices_equals_pooled_predictions():
    g = torch.Generator().manual_seed(7)
    k, void = 6, 5
    folds = []
    for n in (50, 80, 33):
        target = torch.randint(0, k, (n,), generator=g)
        logits = torch.randn(n, k, generator=g)
        folds.append((logits, target))
    per_fold = []
    for logits, target in folds:
        m = ClassificationMetrics(k, ignore_index=void)
        m.update(logits, target)
        per_fold.append(m.compute())
    summed = sum(s["confusion_matrix"] for s in per_fold)
    pooled_from_sum = scores_from_confusion(summed, per_fold[0]["class_names"])
    pooled = ClassificationMetrics(k, ignore_index=void)
    pooled.update(torch.cat([f[0] for f in folds]), torch.cat([f[1] for f in folds]))
    direct = pooled.compute()
    for key in SCALAR_KEYS:
        assert pooled_from_sum[key] == pytest.approx(direct[key], nan_ok=True), key
    assert torch.equal(pooled_from_sum["confusion_matrix"], direct["confusion_matrix"])
    # the full (un-reduced) matrices can be summed too
    full = ClassificationMetrics(k, ignore_index=void)
    for logits, target in folds:
        full.update(logits, target)
    assert full.compute()["miou"] == pytest.approx(direct["miou"])


def test_miou_over_present_classes_vs_all():
    cm = torch.tensor([[3, 1, 0], [1, 2, 0], [0, 0, 0]])  # class 2 absent from truth and preds
    s = scores_from_confusion(cm)
    iou0, iou1 = 3 / 5, 2 / 4
    assert math.isnan(s["iou"][2])
    assert s["miou"] == pytest.approx((iou0 + iou1) / 2)
    assert s["miou_all"] == pytest.approx((iou0 + iou1) / 3)
    # a class predicted but never true is present: IoU 0, precision 0, recall 0
    cm = torch.tensor([[3, 1, 1], [1, 2, 0], [0, 0, 0]])
    s = scores_from_confusion(cm)
    assert s["iou"][2] == 0 and s["precision"][2] == 0 and s["recall"][2] == 0
    assert s["miou"] == pytest.approx(s["miou_all"])


def test_degenerate_matrices():
    empty = scores_from_confusion(torch.zeros(3, 3, dtype=torch.long))
    assert all(math.isnan(empty[k]) for k in SCALAR_KEYS)
    single = scores_from_confusion(torch.tensor([[4, 0], [0, 0]]))
    assert single["overall_accuracy"] == 1.0 and single["miou"] == 1.0
    assert math.isnan(single["kappa"])  # chance agreement is 1: κ undefined (as sklearn)


@st.composite
def confusion_matrices(draw):
    k = draw(st.integers(1, 6))
    cells = draw(st.lists(st.integers(0, 50), min_size=k * k, max_size=k * k))
    return torch.tensor(cells, dtype=torch.long).reshape(k, k)


@FAST
@given(cm=confusion_matrices())
def test_scores_within_bounds(cm):
    s = scores_from_confusion(cm)
    for key in SCALAR_KEYS:
        value = s[key]
        if key == "kappa":
            assert math.isnan(value) or -1 - 1e-12 <= value <= 1 + 1e-12
        else:
            assert math.isnan(value) or 0 <= value <= 1 + 1e-12, key
    for key in ("iou", "precision", "recall", "f1", "accuracy"):
        v = s[key][~torch.isnan(s[key])]
        assert torch.all((v >= 0) & (v <= 1)), key
    if cm.sum() > 0:
        assert s["weighted_recall"] == pytest.approx(s["overall_accuracy"])
        assert s["miou"] <= max(s["macro_f1"], 0) + 1e-12  # IoU ≤ F1 class by class
        assert s["miou_all"] <= s["miou"] + 1e-12


@FAST
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(2, 6),
    n=st.integers(1, 60),
)
def test_random_predictions_within_bounds(seed, k, n):
    g = torch.Generator().manual_seed(seed)
    metric = ClassificationMetrics(k)
    metric.update(torch.randn(n, k, generator=g), torch.randint(0, k, (n,), generator=g))
    s = metric.compute()
    assert 0 <= s["overall_accuracy"] <= 1
    assert math.isnan(s["kappa"]) or -1 <= s["kappa"] <= 1
    assert 0 <= s["miou"] <= 1 and 0 <= s["weighted_f1"] <= 1


def test_reset_and_forward():
    m = ClassificationMetrics(3)
    batch = m(torch.tensor([0, 1]), torch.tensor([0, 1]))  # forward: batch scores, accumulates
    assert batch["overall_accuracy"] == 1.0
    m.update(torch.tensor([0]), torch.tensor([1]))
    assert m.compute()["total"] == 3
    m.reset()
    m.update(torch.tensor([2]), torch.tensor([2]))
    assert m.compute()["total"] == 1


# --------------------------------------------------------------------------- writers, figures


def test_write_metrics(tmp_path):
    cm = torch.tensor([[5, 1, 0, 0], [2, 3, 1, 0], [0, 1, 7, 0], [0, 0, 0, 0]])
    s = scores_from_confusion(cm, class_names=["maize", "wheat", "meadow", "orchard"])
    paths = write_metrics(s, tmp_path / "out", prefix="fold1")
    assert [p.name for p in paths] == [
        "fold1_metrics.json",
        "fold1_per_class.csv",
        "fold1_confusion.csv",
    ]
    assert all(p.is_file() for p in paths)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp left
    data = json.loads(paths[0].read_text())
    for key in SCALAR_KEYS:
        assert key in data
    assert data["overall_accuracy"] == pytest.approx(0.75)
    assert data["iou"][3] is None  # NaN → null (strict JSON)
    assert data["confusion_matrix"] == cm.tolist()
    per_class = pd.read_csv(paths[1])
    assert list(per_class.columns) == [
        "label",
        "name",
        "support",
        "iou",
        "precision",
        "recall",
        "f1",
    ]
    assert per_class["name"].tolist() == ["maize", "wheat", "meadow", "orchard"]
    assert per_class["support"].tolist() == [6, 6, 8, 0]
    assert per_class["iou"].iloc[0] == pytest.approx(5 / 8)
    assert math.isnan(per_class["iou"].iloc[3])
    confusion = pd.read_csv(paths[2], index_col=0)
    assert confusion.shape == (4, 4)
    assert list(confusion.columns) == ["maize", "wheat", "meadow", "orchard"]
    assert confusion.to_numpy().tolist() == cm.tolist()
    # a summed matrix re-scored from the JSON gives the same numbers
    again = scores_from_confusion(torch.tensor(data["confusion_matrix"]), data["class_names"])
    assert again["miou"] == pytest.approx(s["miou"])
    # overwriting works
    assert write_metrics(s, tmp_path / "out", prefix="fold1") == paths


@pytest.mark.parametrize("normalize", ["true", "pred", None])
def test_confusion_figure_twenty_classes(normalize):
    g = torch.Generator().manual_seed(0)
    cm = torch.randint(0, 50, (20, 20), generator=g)
    cm[3] = 0  # an empty row must not produce NaN
    names = [f"class {i} long name" for i in range(20)]
    fig = plot_confusion_matrix(cm, names, normalize=normalize, title="fold 1")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert len(fig.axes) == 2  # heat map + colour bar
    assert not ax.texts  # 20 classes: no cell annotations
    image = ax.images[0].get_array()
    assert np.isfinite(image).all()
    if normalize == "true":
        sums = np.asarray(image).sum(axis=1)
        assert sums[3] == 0 and np.allclose(np.delete(sums, 3), 1)
    elif normalize == "pred":
        assert np.allclose(np.asarray(image).sum(axis=0), 1)


def test_confusion_figure_small_is_annotated_and_metric_plot():
    fig = plot_confusion_matrix(CM3, ["a", "b", "c"], normalize=None)
    assert len(fig.axes[0].texts) == 9
    with pytest.raises(ValueError, match="class names"):
        plot_confusion_matrix(CM3, ["a", "b"])
    m = ClassificationMetrics(3, class_names=["a", "b", "c"])
    m.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]))
    fig = m.plot(normalize="pred")
    fig.savefig(io.BytesIO(), format="png")


def test_format_table():
    rows = [
        {"model": "S2", "overall_accuracy": 0.916, "miou": 0.502},
        {"model": "early", "overall_accuracy": 0.922, "miou": float("nan"), "kappa": 0.883},
    ]
    table = format_table(rows, title="fusion")
    assert [c.header for c in table.columns] == ["model", "overall_accuracy", "miou", "kappa"]
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(table)
    text = console.export_text()
    assert "0.9220" in text and "fusion" in text and "–" in text
