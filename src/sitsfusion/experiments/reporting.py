"""Shared pieces of the real-data experiments: the random-forest baseline and result tables.

Every model of an experiment is scored with :class:`~sitsfusion.metrics.ClassificationMetrics`
(the networks' test-loop metrics), so the baseline and the networks are compared on the same
code; the tables are means ± sample standard deviations over repetitions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from sitsfusion.metrics import ClassificationMetrics

__all__ = ["forest_scores", "markdown_table", "mean_std", "per_class_rows", "plus_minus"]


def forest_scores(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: Sequence[str],
    seed: int,
    n_estimators: int = 500,
) -> tuple[dict[str, Any], np.ndarray]:
    """A scikit-learn random forest (``n_estimators`` trees, default settings, one job) fit on
    ``x_fit [N, F]`` and scored on ``x_test``: (scores, predicted labels ``[N_test]``)."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    forest.fit(x_fit, y_fit)
    predicted = forest.predict(x_test)
    metrics = ClassificationMetrics(len(class_names), class_names=[str(c) for c in class_names])
    metrics.update(torch.as_tensor(predicted, dtype=torch.long), torch.as_tensor(y_test))
    return metrics.compute(), predicted


def per_class_rows(scores: dict[str, Any], **keys: Any) -> list[dict[str, Any]]:
    """One row per class (support, precision, recall, F1, IoU), prefixed with ``keys``."""
    return [
        {
            **keys,
            "class": name,
            "support": int(scores["support"][i]),
            "precision": float(scores["precision"][i]),
            "recall": float(scores["recall"][i]),
            "f1": float(scores["f1"][i]),
            "iou": float(scores["iou"][i]),
        }
        for i, name in enumerate(scores["class_names"])
    ]


def mean_std(results: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """``<metric>_mean`` and ``<metric>_std`` (sample std, ddof 1) per group of ``by``, in
    first-seen order."""
    groups = results.groupby(list(by), sort=False)
    summary = groups[list(metrics)].agg(["mean", "std"])
    summary.columns = [f"{col}_{stat}" for col, stat in summary.columns]
    return summary


def plus_minus(mean: float, std: float) -> str:
    """``"0.812 ± 0.034"`` (just the mean when the std is undefined: one repetition)."""
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of dict rows (the first row's keys are the columns)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
