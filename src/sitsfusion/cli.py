"""The ``sitsfusion`` command line: ``simulate``, ``info``, ``show``, ``demo``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from sitsfusion.errors import DatasetError

console = Console()

SYNTHETIC_NOTE = "synthetic data from the sitsfusion simulator, not a real dataset"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sitsfusion")
def cli() -> None:
    """Crop and land-cover mapping from multi-sensor satellite image time series."""


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New folder.")
@click.option("--patches", default=20, show_default=True, help="Number of patches.")
@click.option("--size", default=128, show_default=True, help="Patch side H = W in pixels.")
@click.option("--seed", default=0, show_default=True, help="Random seed (deterministic).")
@click.option("--region", default="west", show_default=True, help="Shifts phenology.")
@click.option("--year", default=2019, show_default=True, help="Season year (shifts dates).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["pastis-r", "multisenge", "sen4agrinet"]),
    default="pastis-r",
    show_default=True,
    help="On-disk layout to write.",
)
@click.option(
    "--cloud-cover",
    type=float,
    default=None,
    help="Fraction of cloudy S2 pixels (default: simulator's).",
)
def simulate(
    out: Path,
    patches: int,
    size: int,
    seed: int,
    region: str,
    year: int,
    fmt: str,
    cloud_cover: float | None,
) -> None:
    """Write a synthetic dataset in the exact PASTIS-R, MultiSenGE or Sen4AgriNet format."""
    common = {"patches": patches, "size": size, "seed": seed}
    clouds = {} if cloud_cover is None else {"cloud_cover": cloud_cover}
    if fmt == "multisenge":
        from sitsfusion.data.simulate_multisenge import simulate_multisenge as writer

        kwargs, label = common, "MultiSenGE-format patches"
    elif fmt == "sen4agrinet":
        from sitsfusion.data.simulate_sen4agrinet import simulate_sen4agrinet as writer

        kwargs = {**common, **clouds, "region": region, "year": year, "progress": True}
        label = f"Sen4AgriNet-format patches ({region}, {year})"
    else:
        from sitsfusion.data.simulate import simulate_pastis as writer

        kwargs = {**common, **clouds, "region": region, "year": year, "progress": True}
        label = "PASTIS-R-format patches"
    t0 = time.perf_counter()
    writer(out, **kwargs)
    console.print(
        f"wrote {patches} {label} of {size}x{size} to [bold]{out}[/] in "
        f"{time.perf_counter() - t0:.1f} s ({SYNTHETIC_NOTE})"
    )


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
            norm=False,
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
    ds = PASTIS(root, modalities=modalities, norm=False)
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

    ds = PASTIS(root, modalities=available_modalities(root), target="instance", norm=False)
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


DEMO_RUNS = (  # (label, config) trained by the demo: seed 001 Table 1's S2 row and best row
    ("S2 only", "garnot2021/parcel/s2.yaml"),
    ("late fusion + aux + temporal dropout", "garnot2021/parcel/late_aux_td.yaml"),
)


def _config_dir() -> Path:
    """The repository's ``configs/`` folder (the demo runs from a clone)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "configs" / "garnot2021").is_dir():
            return parent / "configs"
    raise FileNotFoundError("configs/ folder not found: run the demo from a sitsfusion clone")


@cli.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("runs/demo"), show_default=True
)
@click.option("--patches", default=30, show_default=True)
@click.option("--size", default=64, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--epochs", default=15, show_default=True, help="Epochs per model (0: no training).")
def demo(out: Path, patches: int, size: int, seed: int, epochs: int) -> None:
    """The main job on the embedded default: simulate, read, plot, train and compare."""
    from sitsfusion.config import load_config
    from sitsfusion.data.readers.pastis import read_metadata
    from sitsfusion.data.simulate import simulate_pastis
    from sitsfusion.training import fit as run_fit

    data = out / "pastis_r_synthetic"
    if not data.exists():
        console.rule(f"1. simulating {patches} synthetic PASTIS-R patches")
        simulate_pastis(data, patches=patches, size=size, seed=seed, progress=True)
    else:
        console.print(f"reusing {data}")
    console.rule("2. reading it back through the PASTIS-R reader")
    mod_table, cls_table, _ = _dataset_summary(data)
    console.print(mod_table)
    console.print(cls_table)
    console.rule("3. figure")
    first = int(read_metadata(data)["ID_PATCH"].iloc[0])
    png = _show(data, first, out / f"patch_{first}.png", max_dates=8)
    console.print(f"wrote {png}")
    if epochs > 0:
        rows = []
        for i, (label, config) in enumerate(DEMO_RUNS, start=1):
            console.rule(f"4.{i} training PSE + L-TAE, {label} ({epochs} epochs)")
            overrides = [f"data.root={data}", f"train.epochs={epochs}", "data.batch_size=64"]
            cfg = load_config(_config_dir() / config, overrides)
            result = run_fit(cfg, out / "runs" / cfg.name, overwrite=True)
            rows.append((label, result.scores, result.out_dir))
        table = Table(title=f"parcel classification, test fold 5 ({SYNTHETIC_NOTE})")
        for col in ("model", "OA", "mIoU", "macro F1"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for label, scores, _ in rows:
            table.add_row(
                label,
                f"{100 * scores['overall_accuracy']:.1f}",
                f"{100 * scores['miou']:.1f}",
                f"{100 * scores['macro_f1']:.1f}",
            )
        console.rule("5. comparison")
        console.print(table)
        for label, _, run_dir in rows:
            console.print(f"{label}: per-class scores and confusion matrix in {run_dir / 'test'}")
    console.print(f"[yellow]note:[/] every number above is from {SYNTHETIC_NOTE}")


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Experiment YAML (configs/...).",
)
_set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set train.epochs=2 --set data.root=DATA.",
)


def _load(config_path: Path, overrides: tuple[str, ...]):  # -> ExperimentConfig
    from sitsfusion.config import load_config

    return load_config(config_path, overrides)


@cli.command()
@_config_option
@_set_option
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Run folder.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier run in the run folder.")
def fit(config_path: Path, overrides: tuple[str, ...], out: Path | None, overwrite: bool) -> None:
    """Train a model, keep the best checkpoint (validation mIoU), test it."""
    from sitsfusion.training import fit as run_fit
    from sitsfusion.training import is_synthetic

    cfg = _load(config_path, overrides)
    result = run_fit(cfg, out, overwrite=overwrite)
    _print_scores(f"{cfg.name}: test", result.scores, is_synthetic(cfg.data.root))
    console.print(f"best checkpoint: {result.checkpoint}\nreport: {result.out_dir / 'test'}")


def _evaluate(split: str, config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path):
    from sitsfusion.training import evaluate, is_synthetic

    cfg = _load(config_path, overrides)
    scores = evaluate(cfg, ckpt, out, split=split)
    _print_scores(f"{cfg.name}: {split}", scores, is_synthetic(cfg.data.root))
    console.print(f"report: {out / split}")


@cli.command()
@_config_option
@_set_option
@click.option("--ckpt", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/validate"))
def validate(config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path) -> None:
    """Score a checkpoint on the validation folds."""
    _evaluate("val", config_path, overrides, ckpt, out)


@cli.command()
@_config_option
@_set_option
@click.option("--ckpt", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/test"))
def test(config_path: Path, overrides: tuple[str, ...], ckpt: Path, out: Path) -> None:
    """Score a checkpoint on the test folds."""
    _evaluate("test", config_path, overrides, ckpt, out)


@cli.command()
@_config_option
@_set_option
@click.option("--ckpt", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train", "all"]),
    default="test",
    show_default=True,
    help="Which samples to map ('all': the whole dataset).",
)
@click.option("--batch-size", type=int, default=None, help="Default: the config's.")
def predict(
    config_path: Path,
    overrides: tuple[str, ...],
    ckpt: Path,
    out: Path,
    split: str,
    batch_size: int | None,
) -> None:
    """Map a dataset with a segmentation checkpoint: COG GeoTIFFs per patch, parcels GeoPackage."""
    from sitsfusion.inference import predict_maps
    from sitsfusion.training import is_synthetic

    cfg = _load(config_path, overrides)
    t0 = time.perf_counter()
    result = predict_maps(cfg, ckpt, out, split=split, batch_size=batch_size)
    table = Table(title=f"{cfg.name}: maps of the {split} split")
    for col in ("samples", "patch maps", "parcels", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        str(result.n_samples),
        str(len(result.maps)),
        str(result.n_parcels),
        f"{time.perf_counter() - t0:.1f}",
    )
    console.print(table)
    console.print(
        f"maps: {out / 'maps'}" + (f"\nparcels: {result.parcels}" if result.parcels else "")
    )
    if is_synthetic(cfg.data.root):
        console.print(f"[yellow]note:[/] {SYNTHETIC_NOTE}")


@cli.command()
@click.option(
    "--config",
    "configs",
    type=click.Path(path_type=Path),
    multiple=True,
    required=True,
    help="Experiment YAML of a model (repeat: one per --ckpt, in the same order).",
)
@click.option("--ckpt", "ckpts", type=click.Path(path_type=Path), multiple=True, required=True)
@_set_option
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--modality", default="S2", show_default=True, help="The clouded modality.")
@click.option(
    "--kept",
    default="1.0,0.9,0.7,0.5,0.3,0.1",
    show_default=True,
    help="Ratios of remaining observations (seed 001 Fig. 8).",
)
@click.option("--seeds", default="0", show_default=True, help="Seeds of the random removal.")
def robustness(
    configs: tuple[Path, ...],
    ckpts: tuple[Path, ...],
    overrides: tuple[str, ...],
    out: Path,
    modality: str,
    kept: str,
    seeds: str,
) -> None:
    """Varying cloud cover: test scores with random optical acquisitions removed."""
    from sitsfusion.experiments.cloud_robustness import run_cloud_robustness

    if len(configs) != len(ckpts):
        raise click.BadParameter(f"{len(configs)} --config for {len(ckpts)} --ckpt: pair them")
    try:
        ratios = [float(k) for k in kept.split(",") if k.strip()]
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("--kept: numbers like 1,0.5,0.3; --seeds: integers") from None
    runs = [(_load(c, overrides), k) for c, k in zip(configs, ckpts, strict=True)]
    table = run_cloud_robustness(runs, out, modality=modality, kept=ratios, seeds=seed_list)
    summary = table.groupby(["model", "kept"], sort=False).mean(numeric_only=True).reset_index()
    view = Table(title=f"test scores with {modality} observations removed")
    columns = [c for c in ("OA", "mIoU", "macro_F1", "PQ") if c in summary]
    for col in ("model", "kept", *columns):
        view.add_column(col, justify="left" if col == "model" else "right")
    for row in summary.to_dict("records"):
        cells = [f"{100 * row[c]:.1f}" for c in columns]
        view.add_row(str(row["model"]), f"{100 * row['kept']:.0f} %", *cells)
    console.print(view)
    console.print(f"table: {out / 'robustness.csv'}\nfigure: {out / 'robustness.png'}")


# C per modality when no dataset is at hand: PASTIS-R (S2 10 bands, S1 VV/VH/ratio) and
# seed 000's S1 with VV, VH only.
DEFAULT_CHANNELS = {"S2": 10, "S1A": 3, "S1D": 3, "S1": 2}


@cli.command()
@_config_option
@_set_option
@click.option(
    "--channels",
    default=None,
    help="C per modality, e.g. S2=10,S1=2 (default: from the dataset, else PASTIS-R's).",
)
def params(config_path: Path, overrides: tuple[str, ...], channels: str | None) -> None:
    """Print the trainable parameters of the configured model, per module."""
    from sitsfusion.models.builder import build_model, count_parameters

    cfg = _load(config_path, overrides)
    given = dict(DEFAULT_CHANNELS)
    if channels:
        try:
            given |= {k: int(v) for k, v in (item.split("=") for item in channels.split(","))}
        except ValueError:
            raise click.BadParameter(f"{channels!r}: expected MOD=C,MOD=C") from None
    chans = {m: given.get(m, 0) for m in cfg.data.modalities}
    unknown = [m for m, c in chans.items() if c <= 0]
    if unknown:
        raise click.BadParameter(f"give --channels for {unknown}")
    from torch import nn

    model = build_model(cfg, chans)
    table = Table(title=f"{cfg.name}: trainable parameters")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleDict):
            for sub, mod in child.items():
                table.add_row(f"{name}.{sub}", f"{count_parameters(mod):,}")
        else:
            table.add_row(name, f"{count_parameters(child):,}")
    table.add_row("[bold]total[/]", f"[bold]{count_parameters(model):,}[/]")
    console.print(table)


def _print_scores(title: str, scores: dict, synthetic: bool) -> None:
    table = Table(title=title + (" (synthetic data)" if synthetic else ""))
    columns = {"OA": "overall_accuracy", "mIoU": "miou", "macro F1": "macro_f1"}
    columns |= {"kappa": "kappa", "weighted F1": "weighted_f1"}
    if "PQ" in scores:  # panoptic segmentation (seed 001 Sec. 4.5)
        columns |= {"SQ": "SQ", "RQ": "RQ", "PQ": "PQ"}
    for col in columns:
        table.add_column(col, justify="right")
    table.add_row(*(f"{100 * float(scores[k]):.1f}" for k in columns.values()))
    console.print(table)


def main() -> None:
    """Entry point: bad input ends with its message, not a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (
        DatasetError,
        FileExistsError,
        FileNotFoundError,
        ValueError,
        KeyError,
        ImportError,
    ) as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(2)
