"""The assessment as tables (pandas), CSV files, rich console tables and one figure.

Three tables, one row per class (``accuracy`` adds an ``overall`` row):

* ``error_matrix``: the area-weighted error matrix ``p_ij`` (rows: map, columns: reference)
  with the sample counts ``n_i.`` and mapped area proportions ``W_i``;
* ``accuracy``: user's and producer's accuracy, overall accuracy, each with its standard
  error and 95 % confidence interval;
* ``areas``: mapped area, estimated (error-adjusted) area, its SE and 95 % CI, in the unit
  of the mapped areas given (hectares from the CLI).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rich.table import Table

from sitsfusion.assessment.estimates import Z95, Assessment
from sitsfusion.io import atomic_path, write_text_atomic

__all__ = [
    "FILES",
    "accuracy_table",
    "areas_table",
    "error_matrix_table",
    "plot_assessment",
    "rich_table",
    "write_report",
]

FILES = ("error_matrix.csv", "accuracy.csv", "areas.csv", "assessment.png")
"""What :func:`write_report` writes in its folder."""


def _ci(value: np.ndarray, se: np.ndarray) -> dict[str, np.ndarray]:
    return {"se": se, "ci95": Z95 * se, "lower": value - Z95 * se, "upper": value + Z95 * se}


def error_matrix_table(a: Assessment) -> pd.DataFrame:
    """``p_ij`` (rows: map class, columns: reference class), ``total`` (``p_i.``), the sample
    points ``n`` and the mapped proportion ``W``; a last row ``total`` holds ``p_.j``."""
    frame = pd.DataFrame(a.proportions, index=list(a.class_names), columns=list(a.class_names))
    frame["total"] = a.proportions.sum(axis=1)
    frame["n"] = a.counts.sum(axis=1).astype(np.int64)
    frame["W"] = a.mapped_area / a.total_area
    frame.loc["total"] = [*a.proportions.sum(axis=0), 1.0, int(a.counts.sum()), 1.0]
    frame["n"] = frame["n"].astype(np.int64)  # the float row above made it float
    frame.index.name = "map \\ reference"
    return frame


def accuracy_table(a: Assessment) -> pd.DataFrame:
    """Rows ``(measure, class)``: ``user`` and ``producer`` per class, then ``overall``."""
    parts = []
    for measure, value, se in (
        ("user", a.users, a.users_se),
        ("producer", a.producers, a.producers_se),
    ):
        parts.append(
            pd.DataFrame(
                {
                    "measure": measure,
                    "class": list(a.class_names),
                    "estimate": value,
                    **_ci(value, se),
                }
            )
        )
    overall = np.array([a.overall])
    parts.append(
        pd.DataFrame(
            {
                "measure": "overall",
                "class": "",
                "estimate": overall,
                **_ci(overall, np.array([a.overall_se])),
            }
        )
    )
    return pd.concat(parts, ignore_index=True)


def areas_table(a: Assessment, unit: str = "ha") -> pd.DataFrame:
    """Per class: ``mapped_<unit>``, ``estimated_<unit>`` and its SE / 95 % CI, and the
    estimated proportion of the total area."""
    return pd.DataFrame(
        {
            "class": list(a.class_names),
            f"mapped_{unit}": a.mapped_area,
            "proportion": a.area_proportion,
            f"estimated_{unit}": a.area,
            **{f"{k}_{unit}": v for k, v in _ci(a.area, a.area_se).items()},
        }
    )


def rich_table(
    frame: pd.DataFrame, title: str, digits: int = 4, exact: Sequence[str] = ("proportion",)
) -> Table:
    """A rich table of ``frame`` (index shown when named): floats to ``digits`` places, the
    ``exact`` columns (proportions) to 4; text columns left-aligned, numbers right."""
    table = Table(title=title)
    show_index = frame.index.name is not None
    if show_index:
        table.add_column(str(frame.index.name))
    places = [4 if col in exact else digits for col in frame.columns]
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        table.add_column(str(col), justify="right" if numeric else "left")
    for label, *row in frame.itertuples(name=None):  # keeps each column's type
        cells = [str(label)] if show_index else []
        for value, dp in zip(row, places, strict=True):
            if isinstance(value, float | np.floating):
                cells.append("" if np.isnan(value) else f"{value:,.{dp}f}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    return table


def plot_assessment(a: Assessment, path: str | Path, unit: str = "ha", note: str = "") -> Path:
    """``path`` (PNG): mapped vs estimated area with 95 % CIs, and user's / producer's
    accuracy with 95 % CIs, per class; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(a.class_names)
    x = np.arange(k)
    width = min(max(8.0, 0.55 * k + 3), 16.0)  # one panel above the other: room for names
    fig, (left, right) = plt.subplots(2, 1, figsize=(width, 8.0))
    left.bar(x - 0.2, a.mapped_area, 0.4, label="mapped", color="0.7")
    left.bar(x + 0.2, a.area, 0.4, yerr=Z95 * a.area_se, capsize=3, label="estimated ± 95 % CI")
    left.set_ylabel(f"area ({unit})")
    left.set_title("Class areas")
    for ax, values, err, name, dx in (
        (right, a.users, a.users_se, "user's", -0.2),
        (right, a.producers, a.producers_se, "producer's", 0.2),
    ):
        ax.errorbar(x + dx, values, yerr=Z95 * err, fmt="o", capsize=3, label=f"{name} ± 95 % CI")
    right.axhline(a.overall, color="k", lw=0.8, ls="--", label=f"overall {a.overall:.3f}")
    right.set_ylim(min(0.0, float(np.nanmin(np.r_[a.users, a.producers, 1.0])) - 0.05), 1.05)
    right.set_ylabel("accuracy")
    right.set_title("Accuracy")
    for ax in (left, right):
        ax.set_xticks(x, list(a.class_names), rotation=30, ha="right")
        ax.legend(fontsize=8)
    if note:
        fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def write_report(a: Assessment, folder: str | Path, unit: str = "ha", note: str = "") -> list[Path]:
    """Write :data:`FILES` into ``folder`` (each atomically); returns their paths."""
    folder = Path(folder)
    tables = (error_matrix_table(a), accuracy_table(a), areas_table(a, unit))
    paths = []
    for name, frame in zip(FILES[:3], tables, strict=True):
        index = frame.index.name is not None
        paths.append(write_text_atomic(folder / name, frame.to_csv(index=index)))
    paths.append(plot_assessment(a, folder / FILES[3], unit, note))
    return paths
