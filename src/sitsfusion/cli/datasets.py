"""``sitsfusion info``, ``show`` and ``aggregate``: look into a dataset of any format.

Every command detects the format of ROOT (:func:`~sitsfusion.data.readers.detect_format`; a
folder matching no layout gets one line naming the layouts looked for) and reads it through
that format's reader, so they serve every format the readers know.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import yaml
from rich.table import Table

from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console
from sitsfusion.errors import DatasetError

_ALIASES = {"pastis-r": "pastis"}  # PASTIS-R is the PASTIS layout with S1 folders

format_option = click.option(
    "--format",
    "fmt",
    default=None,
    metavar="FORMAT",
    help="Format of ROOT (pastis, multisenge, sen4agrinet, pixelset, oad, long_table, "
    "wide_table, jrc); default: detected.",
)
reader_option = click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A reader option, e.g. --option n_bands=3 (a wide table's channels per date).",
)


def _parse_options(items: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--option")
        options[key.strip()] = yaml.safe_load(value)
    return options


def _reader_class(root: Path, fmt: str | None) -> Any:  # type[Reader]
    from sitsfusion.data.readers import detect_format, reader_class

    if fmt is None:
        fmt = detect_format(root)
    return reader_class(_ALIASES.get(fmt, fmt))


def _patch_reader_class(root: Path, fmt: str | None, command: str) -> Any:
    """The reader class of ``root``, which must read image patches."""
    from sitsfusion.data.readers import PatchReader

    cls = _reader_class(root, fmt)
    if not issubclass(cls, PatchReader):
        raise DatasetError(
            root,
            f"{cls.title}: a dataset of {cls.sample_noun}, not of image patches; `{command}` reads "
            "the patches of PASTIS, MultiSenGE and Sen4AgriNet",
        )
    return cls


def open_dataset(root: Path, fmt: str | None = None, **options: Any) -> Any:  # Reader
    """The reader of ``root`` (format detected unless ``fmt``) over the whole dataset."""
    return _open(_reader_class(root, fmt), root, options)


def _open(cls: Any, root: Path, options: dict[str, Any]) -> Any:
    try:
        return cls.open(root, **options)
    except TypeError as exc:  # an unknown reader option
        if "keyword argument" not in str(exc):
            raise
        raise click.BadParameter(f"{cls.__name__}: {exc}", param_hint="--option") from None


# --------------------------------------------------------------------------------------------
# info
# --------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return str(value) if isinstance(value, np.datetime64) else f"day {int(value)}"


def summary_tables(reader: Any) -> list[Table]:
    """Rich tables describing a reader's dataset: modalities (channels, T, dates), region ×
    year groups when the format has them, and the class histogram."""
    n = len(reader)
    noun = reader.sample_noun
    dates = [reader.observation_dates(i) for i in range(n)]
    modalities = Table(title=f"modalities of the {n} {noun}")
    for col in ("modality", "channels", "T min", "T median", "T max", "first date", "last date"):
        modalities.add_column(col, justify="right" if col.startswith(("T", "ch")) else "left")
    for m in reader.modalities:
        lengths = [len(d[m]) for d in dates]
        modalities.add_row(
            m,
            str(reader.channels[m]),
            str(min(lengths)),
            f"{np.median(lengths):g}",
            str(max(lengths)),
            _text(min(d[m][0] for d in dates)),
            _text(max(d[m][-1] for d in dates)),
        )
    tables = [modalities]
    if reader.groups is not None:
        groups = np.asarray(reader.groups)
        first_modality = reader.modalities[0]
        table = Table(title=f"{noun} per region / year")
        for col in ("region/year", noun, "first date", "last date"):
            table.add_column(col, justify="right" if col == noun else "left")
        for group in sorted(set(groups.tolist())):
            members = [dates[i][first_modality] for i in np.flatnonzero(groups == group)]
            table.add_row(
                group,
                str(len(members)),
                _text(min(d[0] for d in members)),
                _text(max(d[-1] for d in members)),
            )
        tables.append(table)
    if reader.num_classes:
        counts = reader.label_counts()
        unit = "pixels" if reader.labels is None else noun
        total = max(int(counts.sum()), 1)
        classes = Table(title=f"class histogram ({unit})")
        for col in ("id", "class", unit, "%"):
            classes.add_column(col, justify="left" if col == "class" else "right")
        for cid, name in enumerate(reader.class_names):
            classes.add_row(str(cid), name, f"{counts[cid]:,}", f"{100 * counts[cid] / total:.2f}")
        tables.append(classes)
    return tables


def print_summary(root: Path, fmt: str | None = None, **options: Any) -> None:
    """Print what :func:`summary_tables` says about the dataset at ``root``."""
    reader = open_dataset(root, fmt, **options)
    console.print(f"{len(reader)} {reader.title} {reader.sample_noun} in {root}")
    for table in summary_tables(reader):
        console.print(table)
    if reader.synthetic:
        console.print(f"[yellow]note:[/] {SYNTHETIC_NOTE}")


@cli.command()
@click.argument("root", type=click.Path(path_type=Path))
@format_option
@reader_option
def info(root: Path, fmt: str | None, options: tuple[str, ...]) -> None:
    """Summarise a dataset of any format: modalities, channels, dates, classes."""
    print_summary(root, fmt, **_parse_options(options))


# --------------------------------------------------------------------------------------------
# show
# --------------------------------------------------------------------------------------------

_RGB_FIRST = ("B2", "B3", "B4")  # the order the figures expect (the PASTIS band order)


def _band(name: str) -> str:
    """``"B02"`` → ``"B2"`` (Sen4AgriNet names its bands with two digits)."""
    return f"B{name[1:].lstrip('0')}" if name[:1] == "B" and name[1:].isdigit() else name


def _for_figure(sample: Any, reader: Any) -> Any:
    """The sample with its S2 bands B2, B3, B4 first, as L2A digital numbers."""
    if "S2" not in sample.series:
        return sample
    names = [_band(b) for b in reader.band_names.get("S2", ())]
    if not all(b in names for b in _RGB_FIRST):
        return sample
    first = [names.index(b) for b in _RGB_FIRST]
    order = first + [i for i in range(len(names)) if i not in first]
    ts = sample["S2"]
    values = ts.values[:, order] * (reader.reflectance_factor * 1e4)
    return sample.with_series("S2", ts.replace(values=values))


def show_patch(root: Path, patch: str, out: Path, max_dates: int, fmt: str | None = None) -> Path:
    """Plot one patch of a patch dataset (PASTIS-R, MultiSenGE, Sen4AgriNet) to ``out``."""
    from sitsfusion.plots import plot_sample, save_figure

    reader = _open(_patch_reader_class(root, fmt, "show"), root, {})
    sample = reader.patch(patch)
    title = f"patch {patch}"
    if "fold" in sample.meta:
        title += f" (fold {sample.meta['fold']})"
    if reader.synthetic:
        title += f" — {SYNTHETIC_NOTE}"
    figure = plot_sample(_for_figure(sample, reader), reader.legend, max_dates, title)
    return save_figure(figure, out)


@cli.command()
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--patch", required=True, help="The patch id of the format (PASTIS: ID_PATCH).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="PNG file.")
@click.option("--dates", "max_dates", default=8, show_default=True, help="Dates per strip.")
@format_option
def show(root: Path, patch: str, out: Path, max_dates: int, fmt: str | None) -> None:
    """Plot one patch: S2 RGB and radar over time, semantic and instance maps."""
    from sitsfusion.outputs import check_output_path

    check_output_path(out, folder=False)
    console.print(f"wrote {show_patch(root, patch, out, max_dates, fmt)}")


# --------------------------------------------------------------------------------------------
# aggregate
# --------------------------------------------------------------------------------------------


@cli.command()
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Table to write.")
@format_option
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
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an existing OAD table at OUT (never any other file).",
)
def aggregate(
    root: Path,
    out: Path,
    fmt: str | None,
    months: str,
    extra: str,
    as_csv: bool,
    overwrite: bool,
) -> None:
    """Aggregate patches into an object-level (OAD) table: per parcel, date and band statistics.

    OUT must lie outside ROOT; it is written atomically and locked while written."""
    from sitsfusion.data.oad import aggregate_dataset, check_table_output

    cls = _patch_reader_class(root, fmt, "aggregate")
    check_table_output(out, overwrite, inputs=(root,))  # before reading anything

    transform = None
    if months.strip().lower() != "none":
        from sitsfusion.data.binning import MonthlyMedian

        try:
            chosen = [int(m) for m in months.split(",") if m.strip()]
        except ValueError:
            raise click.BadParameter(f"{months!r}: expected months like 4,5,6") from None
        transform = MonthlyMedian(months=chosen)
    dataset = _open(cls, root, {"transform": transform})
    if dataset[0].instances is None:
        raise DatasetError(
            root,
            f"{cls.title} patches carry no parcel ids here; `aggregate` needs patches with "
            "parcels (PASTIS-R instance maps, Sen4AgriNet parcels)",
        )
    extras = tuple(e.strip() for e in extra.split(",") if e.strip())
    t0 = time.perf_counter()
    path = aggregate_dataset(
        dataset,
        out,
        format="csv" if as_csv else "parquet",
        extra=extras,
        progress=True,
        overwrite=overwrite,
        inputs=(root,),
    )
    console.print(
        f"wrote [bold]{path}[/] from {len(dataset)} patches in {time.perf_counter() - t0:.1f} s"
    )
