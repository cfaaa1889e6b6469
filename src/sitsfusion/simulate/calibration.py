"""Calibration check of the simulator with a classifier it did not write: a scikit-learn
random forest on per-parcel mean series of a (synthetic) PASTIS-R folder.

The papers' facts the simulator is calibrated on (issue 13; seed 001 Sec. 4.2, seed 000):
the optical series separates the classes better than the two radar orbits together, and the
two sensors together better than the optical one alone. This module measures that without
the project's readers or models: the ``.npy`` files and ``metadata.geojson`` are read with
numpy / json, each parcel's pixels are averaged per date and band, each band's series is
interpolated linearly onto a 10-day grid of the season, and a random forest is fit on four
folds and scored on the fifth, each fold in turn (scikit-learn's accuracy and macro-F1 of
the pooled predictions).

Usage: ``python -m sitsfusion.simulate.calibration ROOT [--trees 300] [--fold K]`` prints OA and
macro-F1 per sensor set. The numbers describe the simulator (synthetic data), not a sensor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SENSOR_SETS", "ParcelSeries", "parcel_series", "sensor_set_scores"]

SENSOR_SETS: dict[str, tuple[str, ...]] = {
    "S2": ("S2",),
    "S1": ("S1A", "S1D"),
    "S1+S2": ("S2", "S1A", "S1D"),
}
"""The sensor sets compared (names as in seed 001's tables)."""
_VOID = 19  # PASTIS's void label (seed 000 Sec. 4.1)
_GRID_DAYS = 10


@dataclass(frozen=True)
class ParcelSeries:
    """Per-parcel features of one modality: ``x [N, F]`` (bands x grid dates), labels
    ``y [N]``, folds ``fold [N]``, parcel ids ``ids [N]`` (patch, parcel), in one order."""

    x: np.ndarray
    y: np.ndarray
    fold: np.ndarray
    ids: np.ndarray


def _days(dates: dict[str, int]) -> np.ndarray:
    values = [str(dates[k]) for k in sorted(dates, key=int)]
    return np.array([dt.date(int(v[:4]), int(v[4:6]), int(v[6:8])).toordinal() for v in values])


def parcel_series(root: Path, modality: str, grid_days: int = _GRID_DAYS) -> ParcelSeries:
    """The mean series of every labelled parcel (not background 0, not void 19) of the
    PASTIS-R folder ``root`` for ``modality`` (``S2``, ``S1A``, ``S1D``), each band
    interpolated onto one ``grid_days`` grid spanning the dataset's dates."""
    features = json.loads((root / "metadata.geojson").read_text())["features"]
    meta = [f["properties"] for f in features]
    all_days = np.concatenate([_days(p[f"dates-{modality}"]) for p in meta])
    grid = np.arange(all_days.min(), all_days.max() + 1, grid_days)
    xs, ys, folds, ids = [], [], [], []
    for p in meta:
        pid = p["ID_PATCH"]
        days = _days(p[f"dates-{modality}"])
        data = np.load(root / f"DATA_{modality}" / f"{modality}_{pid}.npy")  # [T, C, H, W]
        target = np.load(root / "ANNOTATIONS" / f"TARGET_{pid}.npy")[0]
        parcels = np.load(root / "ANNOTATIONS" / f"ParcelIDs_{pid}.npy")
        flat = data.reshape(data.shape[0] * data.shape[1], -1).astype(np.float64)
        for parcel in np.unique(parcels[parcels > 0]):
            inside = (parcels == parcel) & (target != 0) & (target != _VOID)
            if not inside.any():
                continue
            label = np.bincount(target[inside]).argmax()
            mean = flat[:, inside.reshape(-1)].mean(axis=1).reshape(data.shape[:2])  # [T, C]
            order = np.argsort(days)
            series = [np.interp(grid, days[order], mean[order, c]) for c in range(mean.shape[1])]
            xs.append(np.concatenate(series))
            ys.append(label)
            folds.append(p["Fold"])
            ids.append((pid, parcel))
    return ParcelSeries(np.array(xs), np.array(ys), np.array(folds), np.array(ids))


def sensor_set_scores(
    root: Path, test_fold: int | None = None, trees: int = 300, seed: int = 0
) -> dict[str, dict[str, float]]:
    """``{sensor set: {"oa", "macro_f1", "classes"}}`` of a random forest per sensor set
    (:data:`SENSOR_SETS`).

    With ``test_fold`` the forest is fit on the other folds and scored on that one. Without
    it (the default) each of the dataset's folds is the test fold once and the scores are
    those of the pooled predictions (cross-validation on the PASTIS folds): every parcel is
    predicted once, which keeps the rare classes' F1 from resting on one or two parcels.
    Macro-F1 is over the classes present in the labels or the predictions (scikit-learn).
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score

    per = {m: parcel_series(root, m) for m in ("S2", "S1A", "S1D")}
    first = per["S2"]
    for m, s in per.items():
        if not np.array_equal(s.ids, first.ids):
            raise ValueError(f"{root}: the parcels of {m} differ from those of S2")
    folds = np.unique(first.fold) if test_fold is None else np.array([test_fold])
    tested = np.isin(first.fold, folds)
    if len(np.unique(first.fold)) < 2 or not tested.any():
        raise ValueError(f"{root}: needs parcels in 2 folds or more, and in fold {test_fold}")
    scores = {}
    for name, modalities in SENSOR_SETS.items():
        x = np.concatenate([per[m].x for m in modalities], axis=1)
        predicted = np.zeros_like(first.y)
        for fold in folds:
            test = first.fold == fold
            forest = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1)
            forest.fit(x[~test], first.y[~test])
            predicted[test] = forest.predict(x[test])
        truth = first.y[tested]
        scores[name] = {
            "oa": float(accuracy_score(truth, predicted[tested])),
            "macro_f1": float(f1_score(truth, predicted[tested], average="macro")),
            "classes": int(np.unique(truth).size),
        }
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a PASTIS-R folder (sitsfusion simulate)")
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--fold", type=int, help="one test fold (default: each fold in turn)")
    args = parser.parse_args(argv)
    if not (args.root / "metadata.geojson").is_file():
        parser.error(f"{args.root}: no metadata.geojson; give a PASTIS-R folder")
    scores = sensor_set_scores(args.root, args.fold, args.trees)
    test = f"test fold {args.fold}" if args.fold else "each fold the test fold once"
    print(f"random forest on parcel-mean series of {args.root} (synthetic), {test}")
    for name, s in scores.items():
        print(f"{name:6s} OA {s['oa']:.3f}  macro-F1 {s['macro_f1']:.3f}  ({s['classes']} classes)")


if __name__ == "__main__":
    main()
