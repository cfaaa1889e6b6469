"""``sitsfusion demo --own-area``: the own-area path on a synthetic scene, end to end.

simulate scene → prepare → fit a U-TAE a few epochs → predict the whole area → mosaic and
parcels (docs/own-area.md). Every step goes through the same functions as its command.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from sitsfusion.cli.app import SYNTHETIC_NOTE, console
from sitsfusion.cli.output import print_paths

SCENE, DATASET, MAPS = "area", "area_ds", "maps"
"""The folders of the own-area demo: OUT/area (the scene), OUT/area_ds (the prepared dataset),
OUT/maps (the maps); the run is OUT/semantic/<config name>."""
CONFIG = "garnot2021/semantic/s2.yaml"  # seed 001 Table 2: U-TAE on S2
PATCH_SIZE = 32  # own choice: a 2 km scene gives 49 patches over the 5 folds (128 px: 4)
BATCH_SIZE = 8  # own choice: 32-px patches, several per step on a CPU


def demo_area(out: Path, size: int, seed: int, epochs: int, config_dir: Path) -> None:
    """The steps of ``demo --own-area`` in the (locked) demo folder ``out``."""
    from sitsfusion.config import load_config
    from sitsfusion.geo.prepare import prepare
    from sitsfusion.inference import predict_maps
    from sitsfusion.outputs import read_mark
    from sitsfusion.simulate import simulate_scene
    from sitsfusion.training import fit

    scene, data = out / SCENE, out / DATASET
    mark = read_mark(scene)
    if mark is None or not mark.get("complete"):
        console.rule(f"1. simulating a synthetic {size} x {size} px scene (STAC catalog of COGs)")
        simulate_scene(scene, size=size, seed=seed, overwrite=mark is not None)
    else:
        print_paths({"reusing": scene})
    console.rule(f"2. prepare: {PATCH_SIZE}-px patches in the PASTIS-R layout")
    summary = prepare(
        scene / "catalog.json",
        scene / "parcels.gpkg",
        data,
        patch_size=PATCH_SIZE,
        progress=True,
        command="demo --own-area",
    )
    console.print(summary.line(), soft_wrap=True, highlight=False)
    if epochs == 0:
        console.print(f"[yellow]note:[/] no training (--epochs 0); {SYNTHETIC_NOTE}")
        return
    console.rule(f"3. training U-TAE on S2 ({epochs} epochs; folds 1-3 train, 4 val, 5 test)")
    overrides = [f"data.root={data}", f"train.epochs={epochs}", f"data.batch_size={BATCH_SIZE}"]
    cfg = load_config(config_dir / CONFIG, overrides)
    cfg.train.out_dir = str(out)  # the run folder OUT/semantic/<name>
    run = fit(cfg, overwrite=True)
    console.rule("4. mapping the whole area")
    maps = predict_maps(cfg, run.checkpoint, out / MAPS, split="all", overwrite=True)
    table = Table(title=f"the area mapped ({SYNTHETIC_NOTE})")
    for col in ("test OA", "test mIoU", "patches", "parcels"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{100 * run.scores['overall_accuracy']:.1f}",
        f"{100 * run.scores['miou']:.1f}",
        str(len(maps.maps)),
        str(maps.n_parcels),
    )
    console.print(table)
    paths = {"scene": scene / "catalog.json", "dataset": data, "run": run.out_dir}
    paths.update({m.stem: m for m in maps.mosaics})  # "mosaic" (one CRS)
    if maps.parcels is not None:
        paths["parcels"] = maps.parcels
    if maps.mosaics and maps.parcels is not None:
        title = f"{cfg.name}: reference and predicted map of the area ({SYNTHETIC_NOTE})"
        paths["figure"] = _figure(maps.mosaics[0], maps.parcels, out / "area_map.png", title)
    print_paths(paths)
    console.print(f"[yellow]note:[/] every number above is from {SYNTHETIC_NOTE}")


def _figure(mosaic: Path, parcels: Path, png: Path, title: str) -> Path:
    """The reference (the parcels' classes) and the predicted mosaic side by side."""
    import json

    import geopandas as gpd
    import numpy as np
    import rasterio
    from rasterio.features import rasterize

    from sitsfusion.data.taxonomy import load_nomenclature
    from sitsfusion.inference import NODATA
    from sitsfusion.plots import plot_area, save_figure

    with rasterio.open(mosaic) as src:
        prediction = src.read(1)
        transform, shape = src.transform, (src.height, src.width)
        names = list(json.loads(src.tags()["classes"]).values())
    rows = gpd.read_file(parcels, layer="parcels")
    rows = rows[rows["ref_class"] >= 0]
    shapes = zip(rows.geometry, rows["ref_class"].astype(int), strict=True)
    reference = rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="uint8")
    reference = np.where(prediction == NODATA, NODATA, reference)
    fig = plot_area(reference, prediction, names, load_nomenclature("pastis"), NODATA, title=title)
    return save_figure(fig, png)
