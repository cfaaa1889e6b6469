"""Figures a person looks at: a sample's time series and maps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sitsfusion.data.sample import Sample
from sitsfusion.data.taxonomy import Nomenclature
from sitsfusion.io import atomic_path

__all__ = ["plot_predictions", "plot_sample", "save_figure"]

# Sentinel-2 band order of PASTIS: B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12 (reference §3.1)
S2_RGB = (2, 1, 0)
S2_REFLECTANCE_SCALE = 10_000.0


def save_figure(fig: Figure, out: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``out`` atomically (temporary file, then rename) and close it."""
    out = Path(out)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out


def _pick(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, num=min(n, k)).round().astype(int))


def _s2_rgb(values: np.ndarray) -> np.ndarray:
    """``[C, H, W]`` raw L2A (×10⁴) → ``[H, W, 3]`` in [0, 1], 0–0.3 reflectance stretch."""
    rgb = values[list(S2_RGB)].transpose(1, 2, 0) / S2_REFLECTANCE_SCALE
    return np.clip(rgb / 0.3, 0.0, 1.0)


def _date_label(reference: np.datetime64, day: int) -> str:
    return str(reference + np.timedelta64(int(day), "D"))


def plot_sample(
    sample: Sample,
    nomenclature: Nomenclature,
    max_dates: int = 8,
    title: str | None = None,
) -> Figure:
    """One figure per patch: S2 RGB and S1 VV strips over time, semantic and instance maps.

    ``sample`` must hold raw (not normalised) values: S2 as L2A reflectance × 10⁴, S1 in dB.
    """
    reference = np.datetime64(sample.meta.get("reference_date", "2018-09-01"), "D")
    strips = [m for m in ("S2", "S1A", "S1D") if m in sample.series]
    strips += [m for m in sample.series if m not in strips]
    has_maps = sample.semantic is not None
    n_rows = len(strips) + int(has_maps)
    fig, axes = plt.subplots(
        n_rows, max_dates, figsize=(1.9 * max_dates, 2.1 * n_rows), squeeze=False
    )
    for row, name in enumerate(strips):
        ts = sample.series[name]
        vals = ts.values.detach().cpu().numpy()
        dates = ts.dates.cpu().numpy()
        idx = _pick(ts.num_dates, max_dates)
        for col in range(max_dates):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(idx):
                ax.axis("off")
                continue
            t = idx[col]
            if name == "S2" and vals.shape[1] >= 3:
                ax.imshow(_s2_rgb(vals[t]), interpolation="nearest")
            else:  # radar: VV in dB, fixed stretch so dates compare
                ax.imshow(vals[t, 0], cmap="gray", vmin=-25, vmax=0, interpolation="nearest")
            ax.set_title(_date_label(reference, dates[t]), fontsize=7)
            if col == 0:
                label = f"{name} RGB" if name == "S2" else f"{name} VV (dB)"
                ax.set_ylabel(f"{label}\nT={ts.num_dates}", fontsize=8)
    if has_maps:
        row = n_rows - 1
        for ax in axes[row]:
            ax.axis("off")
        colors = list(nomenclature.colors)
        cmap = ListedColormap(colors)
        sem = sample.semantic.cpu().numpy()
        lut = {cid: i for i, cid in enumerate(nomenclature.ids)}
        sem_idx = np.vectorize(lambda v: lut.get(int(v), 0))(sem)
        ax = axes[row, 0]
        ax.imshow(sem_idx, cmap=cmap, vmin=0, vmax=len(colors) - 1, interpolation="nearest")
        ax.set_title("semantic", fontsize=8)
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
        if sample.instances is not None and max_dates > 1:
            inst = sample.instances.cpu().numpy()
            # a colour per distinct id (ids may be large, e.g. Sen4AgriNet parcel ids ~1e8)
            ids, ranks = np.unique(inst, return_inverse=True)
            palette = np.random.default_rng(0).uniform(0.2, 1.0, size=(ids.size, 3))
            palette[ids == 0] = 0.0
            ax2 = axes[row, 1]
            ax2.imshow(palette[ranks.reshape(inst.shape)], interpolation="nearest")
            ax2.set_title(f"instances ({int((ids != 0).sum())})", fontsize=8)
            ax2.axis("on")
            ax2.set_xticks([])
            ax2.set_yticks([])
        present = [cid for cid in nomenclature.ids if (sem == cid).any()]
        handles = [
            Patch(facecolor=nomenclature.colors[lut[c]], edgecolor="k", linewidth=0.3)
            for c in present
        ]
        labels = [f"{c} {nomenclature.name_of(c)}" for c in present]
        fig.legend(
            handles,
            labels,
            loc="lower right",
            ncol=2,
            fontsize=7,
            frameon=False,
            bbox_to_anchor=(0.98, 0.0),
        )
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _display_rgb(image: np.ndarray) -> np.ndarray:
    """``[C, H, W]`` (any scaling) → ``[H, W, 3]`` in [0, 1], 2–98 % stretch per image."""
    bands = list(S2_RGB) if image.shape[0] >= 3 else [0, 0, 0]
    rgb = image[bands].transpose(1, 2, 0).astype(np.float64)
    lo, hi = np.percentile(rgb, 2), np.percentile(rgb, 98)
    return np.clip((rgb - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _outlines(ids: np.ndarray) -> np.ndarray:
    """Bool ``[H, W]``: pixels of an instance whose right or lower neighbour is another one."""
    edges = np.zeros(ids.shape, dtype=bool)
    edges[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    edges[:-1, :] |= ids[:-1, :] != ids[1:, :]
    return edges & (ids > 0)


def plot_predictions(
    samples: list[tuple],
    class_names: list[str],
    nomenclature: Nomenclature | None = None,
    title: str | None = None,
    ignore_index: int | None = None,
    instances: list[tuple] | None = None,
) -> Figure:
    """One row per sample: input (mid-season date, RGB), truth, prediction.

    ``samples``: ``(image [C, H, W], truth [H, W], prediction [H, W])`` tensors or arrays with
    class indices into ``class_names``. Truth pixels of ``ignore_index`` (not scored) are
    drawn white. ``instances`` (panoptic): per sample ``(true [H, W], predicted [H, W])``
    instance ids, whose outlines are drawn in black over the truth and the prediction.
    """
    k = len(class_names)
    if nomenclature is not None and len(nomenclature) == k:
        colors = list(nomenclature.colors)
    else:
        colors = [plt.get_cmap("tab20")(i % 20) for i in range(k)]
    cmap = ListedColormap(colors).with_extremes(bad="white")
    fig, axes = plt.subplots(len(samples), 3, figsize=(7.5, 2.5 * len(samples)), squeeze=False)
    present: set[int] = set()
    for row, (image, truth, pred) in enumerate(samples):
        truth, pred = np.asarray(truth), np.asarray(pred)
        shown = truth if ignore_index is None else np.ma.masked_equal(truth, ignore_index)
        present |= set(np.unique(np.ma.compressed(shown)).tolist()) | set(np.unique(pred).tolist())
        panels = (_display_rgb(np.asarray(image)), shown, pred)
        for col, (panel, label) in enumerate(
            zip(panels, ("input", "truth", "prediction"), strict=True)
        ):
            ax = axes[row, col]
            if col == 0:
                ax.imshow(panel, interpolation="nearest")
            else:
                ax.imshow(panel, cmap=cmap, vmin=0, vmax=k - 1, interpolation="nearest")
                if instances is not None:
                    edges = _outlines(np.asarray(instances[row][col - 1]))
                    ax.imshow(np.ma.masked_where(~edges, edges), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=9)
    handles = [
        Patch(facecolor=colors[c], edgecolor="k", linewidth=0.3) for c in sorted(present) if c < k
    ]
    labels = [class_names[c] for c in sorted(present) if c < k]
    if ignore_index is not None:
        handles.append(Patch(facecolor="white", edgecolor="k", linewidth=0.3))
        labels.append("not scored")
    fig.legend(handles, labels, loc="center right", fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.78, 1))
    return fig


def plot_area(
    reference: np.ndarray,
    prediction: np.ndarray,
    class_names: list[str],
    nomenclature: Nomenclature | None = None,
    nodata: int = 255,
    ignore_index: int | None = None,
    title: str | None = None,
) -> Figure:
    """Reference and predicted class maps of an area side by side, one legend.

    ``reference``, ``prediction``: ``[H, W]`` class indices into ``class_names`` on one grid;
    ``nodata`` (both) and ``ignore_index`` (reference) are drawn white.
    """
    k = len(class_names)
    if nomenclature is not None and len(nomenclature) == k:
        colors = list(nomenclature.colors)
    else:
        colors = [plt.get_cmap("tab20")(i % 20) for i in range(k)]
    cmap = ListedColormap(colors).with_extremes(bad="white")
    ref = np.ma.masked_where(
        (reference == nodata) | (reference == (nodata if ignore_index is None else ignore_index)),
        reference,
    )
    pred = np.ma.masked_equal(prediction, nodata)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    for ax, panel, label in zip(axes, (ref, pred), ("reference", "prediction"), strict=True):
        ax.imshow(panel, cmap=cmap, vmin=0, vmax=k - 1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(label, fontsize=9)
    present = sorted(set(np.ma.compressed(ref).tolist()) | set(np.ma.compressed(pred).tolist()))
    handles = [Patch(facecolor=colors[c], edgecolor="k", linewidth=0.3) for c in present if c < k]
    fig.legend(handles, [class_names[c] for c in present if c < k], loc="center right",
               fontsize=7, frameon=False)  # fmt: skip
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    return fig
