"""``sitsfusion info``, ``show`` and ``aggregate``: look into a dataset folder."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
from rich.table import Table

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console
from sitsfusion.errors import DatasetError


@cli.command()
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Table to write.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["sen4agrinet", "pastis-r"]),
    default="sen4agrinet",
    show_default=True,
    help="Layout of the patches under ROOT.",
)
@click.option(
    "--months",
    default="4,5,6,7,8,9",
    show_default=True,
    help="Monthly medians over these months before aggregating (seed 004); 'none' = raw dates.",
)
@click.option(
    "--extra", default="", help="Extra statistics besides mean and std: median,skew,count."
)
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV instead of Parquet.")
def aggregate(root: Path, out: Path, fmt: str, months: str, extra: str, as_csv: bool) -> None:
    """Aggregate patches into an object-level (OAD) table: per parcel, date and band statistics."""
    from sitsfusion.data.oad import aggregate_dataset

    transform = None
    if months.strip().lower() != "none":
        from sitsfusion.data.binning import MonthlyMedian

        try:
            chosen = [int(m) for m in months.split(",") if m.strip()]
        except ValueError:
            raise click.BadParameter(f"{months!r}: expected months like 4,5,6") from None
        transform = MonthlyMedian(months=chosen)
    if fmt == "sen4agrinet":
        from sitsfusion.data.readers.sen4agrinet import Sen4AgriNet

        dataset = Sen4AgriNet(root, subpatch=None, transform=transform)
    else:
        from sitsfusion.data.readers.pastis import PASTIS, available_modalities

        dataset = PASTIS(
            root,
            modalities=available_modalities(root),
            target="instance",
            transform=transform,
        )
    extras = tuple(e.strip() for e in extra.split(",") if e.strip())
    t0 = time.perf_counter()
    path = aggregate_dataset(
        dataset, out, format="csv" if as_csv else "parquet", extra=extras, progress=True
    )
    console.print(
        f"wrote [bold]{path}[/] from {len(dataset)} patches in {time.perf_counter() - t0:.1f} s"
    )


def _sen4agrinet_summary(root: Path) -> tuple[Table, Table, bool]:
    """Two rich tables (region × year groups, classes) for a folder of Sen4AgriNet patches."""
    from sitsfusion.data.readers.sen4agrinet import ALL_BANDS, Sen4AgriNet

    ds = Sen4AgriNet(root, subpatch=None)
    groups = ds.groups
    table = Table(title=f"{root}: {len(ds)} Sen4AgriNet patches, {len(ALL_BANDS)} S2 bands")
    for col in ("region/year", "patches", "T min", "T median", "T max", "first date", "last"):
        table.add_column(col, justify="left" if col[0] in "rfl" else "right")
    for group in sorted(set(groups.tolist())):
        infos = [p for p, g in zip(ds.patches, groups, strict=True) if g == group]
        lengths = [p.days.size for p in infos]
        first = min(int(p.days[0]) for p in infos)
        last = max(int(p.days[-1]) for p in infos)
        table.add_row(
            group,
            str(len(infos)),
            str(min(lengths)),
            f"{np.median(lengths):g}",
            str(max(lengths)),
            str(np.datetime64(first, "D")),
            str(np.datetime64(last, "D")),
        )
    counts = ds.label_counts()
    total = max(int(counts.sum()), 1)
    classes = Table(title="class histogram (pixels; 0 = background and other FAO-ICC codes)")
    for col in ("id", "class", "pixels", "%"):
        classes.add_column(col, justify="left" if col == "class" else "right")
    for cid, name in enumerate(ds.class_names):
        classes.add_row(str(cid), name, f"{counts[cid]:,}", f"{100 * counts[cid] / total:.2f}")
    return table, classes, ds.synthetic


def _dataset_summary(root: Path) -> tuple[Table, Table, bool]:
    """Two rich tables (modalities, classes) for the PASTIS-format dataset at ``root``."""
    from sitsfusion.data.readers.pastis import PASTIS, available_modalities, load_target
    from sitsfusion.data.taxonomy import load_nomenclature

    modalities = available_modalities(root)
    ds = PASTIS(root, modalities=modalities)
    meta = ds.metadata
    synthetic = (
        bool(meta["SYNTHETIC"].fillna(False).astype(bool).any()) if "SYNTHETIC" in meta else False
    )
    ref = np.datetime64(ds.reference_date, "D")

    folds = ", ".join(str(int(f)) for f in sorted(meta["Fold"].unique()))
    mod_table = Table(title=f"{root}: {len(ds)} patches, folds {folds}")
    for col in ("modality", "channels", "T min", "T median", "T max", "first date", "last date"):
        mod_table.add_column(col, justify="right" if col.startswith(("T", "ch")) else "left")
    for m in modalities:
        lengths = [len(ds.dates(m, pid)) for pid in ds.patch_ids]
        first = min(int(ds.dates(m, pid)[0]) for pid in ds.patch_ids)
        last = max(int(ds.dates(m, pid)[-1]) for pid in ds.patch_ids)
        mod_table.add_row(
            m,
            str(ds.num_channels(m)),
            str(min(lengths)),
            f"{np.median(lengths):g}",
            str(max(lengths)),
            str(ref + np.timedelta64(first, "D")),
            str(ref + np.timedelta64(last, "D")),
        )

    nomenclature = load_nomenclature("pastis")
    counts = np.zeros(max(nomenclature.ids) + 1, dtype=np.int64)
    for pid in ds.patch_ids:
        counts += np.bincount(load_target(root, pid).ravel(), minlength=len(counts))[: len(counts)]
    total = counts.sum()
    cls_table = Table(title="class histogram (pixels)")
    for col in ("id", "class", "pixels", "%"):
        cls_table.add_column(col, justify="left" if col == "class" else "right")
    for cid, name in zip(nomenclature.ids, nomenclature.names, strict=True):
        cls_table.add_row(str(cid), name, f"{counts[cid]:,}", f"{100 * counts[cid] / total:.2f}")
    return mod_table, cls_table, synthetic


@cli.command()
@click.argument("root", type=click.Path(path_type=Path))
def info(root: Path) -> None:
    """Summarise a PASTIS / PASTIS-R or Sen4AgriNet dataset: modalities, dates, classes."""
    sen4agrinet = not (root / "metadata.geojson").exists() and any(root.rglob("*.nc"))
    summary = _sen4agrinet_summary if sen4agrinet else _dataset_summary
    mod_table, cls_table, synthetic = summary(root)
    console.print(mod_table)
    console.print(cls_table)
    if synthetic:
        console.print(f"[yellow]note:[/] {SYNTHETIC_NOTE}")


def _show(root: Path, patch: int, out: Path, max_dates: int) -> Path:
    from sitsfusion.data.readers.pastis import PASTIS, available_modalities
    from sitsfusion.data.taxonomy import load_nomenclature
    from sitsfusion.plots import plot_sample, save_figure

    ds = PASTIS(root, modalities=available_modalities(root), target="instance")
    if patch not in ds.patch_ids:
        raise DatasetError(root / "metadata.geojson", f"no patch with ID_PATCH {patch}")
    sample = ds[ds.patch_ids.index(patch)]
    synthetic = bool(sample.meta.get("synthetic", False))
    title = f"patch {patch} (fold {sample.meta.get('fold')})"
    if synthetic:
        title += f" — {SYNTHETIC_NOTE}"
    fig = plot_sample(sample, load_nomenclature("pastis"), max_dates=max_dates, title=title)
    return save_figure(fig, out)


@cli.command()
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--patch", type=int, required=True, help="ID_PATCH to show.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="PNG file.")
@click.option("--dates", "max_dates", default=8, show_default=True, help="Dates per strip.")
def show(root: Path, patch: int, out: Path, max_dates: int) -> None:
    """Plot one patch: S2 RGB and S1 VV over time, semantic and instance maps."""
    console.print(f"wrote {_show(root, patch, out, max_dates)}")
