"""``sitsfusion assess``: accuracy assessment and area estimation of a class map
(Olofsson et al. 2014): ``design`` draws the sample to label, ``estimate`` reads it back."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np
from rich.table import Table

from sitsfusion.assessment.design import (
    DEFAULT_EXPECTED_UA,
    DEFAULT_MIN_PER_CLASS,
    DEFAULT_TARGET_SE,
)
from sitsfusion.cli.app import SYNTHETIC_NOTE, cli, console
from sitsfusion.cli.output import print_paths
from sitsfusion.errors import DatasetError

M2_PER_HA = 10_000.0

map_option = click.option(
    "--map",
    "map_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Class map (GeoTIFF / COG with a 'classes' tag, as predict and map write it).",
)


def _synthetic_note(synthetic: bool) -> None:
    if synthetic:  # the map's 'synthetic' tag (predict writes it)
        console.print(f"[yellow]note:[/] the map was made from {SYNTHETIC_NOTE}")


@cli.group()
def assess() -> None:
    """Accuracy and areas of a class map from a stratified random sample (Olofsson et al.
    2014): 'design' writes the points to label, 'estimate' computes the estimates."""


def _expected_ua(values: tuple[str, ...], names: tuple[str, ...]) -> np.ndarray:
    """``--expected-ua``: ``0.8`` (every class) or ``NAME=0.7`` (one class), repeatable."""
    ua = np.full(len(names), DEFAULT_EXPECTED_UA)
    for item in values:
        folded = [n.casefold() for n in names]
        name, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0 <= number <= 1:
            raise click.BadParameter(
                f"{item!r}: expected a number in [0, 1]", param_hint="--expected-ua"
            )
        if not sep:
            ua[:] = number
        elif name.strip().casefold() in folded:  # class names, case ignored
            ua[folded.index(name.strip().casefold())] = number
        else:
            raise click.BadParameter(
                f"{name!r} is not a class of the map ({', '.join(names)})",
                param_hint="--expected-ua",
            )
    return ua


@assess.command()
@map_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="The sample to write: a GeoPackage (layer assessment_sample) to label.",
)
@click.option(
    "--target-se",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=DEFAULT_TARGET_SE,
    show_default=True,
    help="Target standard error of the overall accuracy (Olofsson et al. 2014, Eq. 13).",
)
@click.option(
    "--expected-ua",
    multiple=True,
    metavar="[CLASS=]U",
    help=f"Conjectured user's accuracy, for all classes (0.8) or one (CLASS=0.7); repeatable. "
    f"Default {DEFAULT_EXPECTED_UA}.",
)
@click.option(
    "--min-per-class",
    type=click.IntRange(min=2),
    default=DEFAULT_MIN_PER_CLASS,
    show_default=True,
    help="Minimum points per mapped class (Olofsson et al. recommend 50-100 for rare ones).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the sample.")
@click.option("--overwrite", is_flag=True, help="Replace a sample sitsfusion wrote at OUT.")
@click.option(
    "--view",
    is_flag=True,
    help="Also write SAMPLE.html beside the sample: the map with the points (sitsfusion view).",
)
def design(
    map_path: Path,
    out: Path,
    target_se: float,
    expected_ua: tuple[str, ...],
    min_per_class: int,
    seed: int,
    overwrite: bool,
    view: bool,
) -> None:
    """Draw a stratified random sample of pixel centres from the class map (strata: the map
    classes; sizes from a target standard error of the overall accuracy) and write it as a
    GeoPackage with an empty 'reference' column to fill."""
    from sitsfusion.assessment import class_counts, draw_sample, open_class_map, sample_sizes
    from sitsfusion.assessment.sample import is_sample_file, write_sample
    from sitsfusion.outputs import file_lock, prepare_output_file

    cmap = open_class_map(map_path)
    target = prepare_output_file(out, overwrite=overwrite, inputs=[map_path], owned=is_sample_file)
    ua = _expected_ua(expected_ua, cmap.class_names)
    pixels = class_counts(cmap)
    if not pixels.any():
        raise DatasetError(map_path, "holds no classified pixel (all nodata)")
    sizes = sample_sizes(pixels, ua, target_se, min_per_class)
    points = draw_sample(cmap, sizes, seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target):
        write_sample(target, cmap, points)
    table = Table(title=f"Sample design ({int(sizes.sum())} points, seed {seed})")
    for col in ("class", "pixels", "W", "expected UA", "points"):
        table.add_column(col, justify="left" if col == "class" else "right")
    weights = pixels / pixels.sum()
    for name, n_px, w, u, n in zip(cmap.class_names, pixels, weights, ua, sizes, strict=True):
        table.add_row(name, f"{n_px:,}", f"{w:.4f}", f"{u:.2f}", str(n))
    console.print(table)
    paths = {"sample": target}
    if view:
        from sitsfusion.cli.view import display_available, open_in_browser
        from sitsfusion.mapping.view import write_view

        paths["view"] = write_view(target.with_suffix(".html"), map_path, points=target)
        if display_available():
            open_in_browser(paths["view"])
    print_paths(paths)
    _synthetic_note(cmap.synthetic)


@assess.command()
@map_option
@click.option(
    "--sample",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The labelled sample (the GeoPackage of 'assess design', reference column filled).",
)
@click.option(
    "--reference-column",
    default="reference",
    show_default=True,
    help="The column holding each point's reference class name.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output folder: error_matrix.csv, accuracy.csv, areas.csv, assessment.png.",
)
@click.option("--overwrite", is_flag=True, help="Replace an earlier assessment in OUT.")
def estimate(
    map_path: Path, sample: Path, reference_column: str, out: Path, overwrite: bool
) -> None:
    """Area-weighted error matrix, user's / producer's / overall accuracy and error-adjusted
    class areas (ha), each with a 95 % confidence interval (Olofsson et al. 2014), from the
    labelled sample; printed and saved as CSV + a figure."""
    from sitsfusion.assessment import class_counts, open_class_map
    from sitsfusion.assessment import estimate as assess_sample
    from sitsfusion.assessment.report import (
        accuracy_table,
        areas_table,
        error_matrix_table,
        rich_table,
        write_report,
    )
    from sitsfusion.assessment.sample import read_labels
    from sitsfusion.outputs import mark_complete, output_folder

    cmap = open_class_map(map_path)
    map_idx, ref_idx = read_labels(sample, cmap, reference_column)
    k = len(cmap.class_names)
    pixels = class_counts(cmap)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (map_idx, ref_idx), 1)
    per_stratum = counts.sum(axis=1)
    census = (pixels > 0) & (per_stratum >= pixels)  # a tiny class sampled whole
    for c in np.flatnonzero((pixels > 0) & (per_stratum < 2) & ~census):
        raise DatasetError(
            sample,
            f"stratum {cmap.class_names[c]!r} ({int(pixels[c]):,} pixels in the map) has "
            f"{int(per_stratum[c])} sample point(s); every mapped class needs 2 or more",
        )
    for c in np.flatnonzero((pixels == 0) & (per_stratum > 0)):
        raise DatasetError(
            sample,
            f"{int(per_stratum[c])} points have map class {cmap.class_names[c]!r}, which has no "
            f"pixel in {cmap.path.name}; was the sample drawn from another map?",
        )
    area_ha = pixels * cmap.pixel_area / M2_PER_HA
    result = assess_sample(counts, area_ha, cmap.class_names, census)
    with output_folder(
        out,
        kind="assessment",
        overwrite=overwrite,
        inputs=[map_path, sample],
        command=" ".join(sys.argv),
    ) as folder:
        paths = write_report(
            result,
            folder,
            unit="ha",
            note=f"{cmap.path.name}: {int(counts.sum())} points"
            + (" (map of synthetic data)" if cmap.synthetic else ""),
        )
        mark_complete(folder)
    console.print(rich_table(error_matrix_table(result), "Error matrix (area proportions p_ij)"))
    console.print(rich_table(accuracy_table(result), "Accuracy (95 % CI = estimate ± ci95)"))
    console.print(rich_table(areas_table(result), "Areas (ha)", digits=1))
    print_paths({p.stem: p for p in paths})
    _synthetic_note(cmap.synthetic)
