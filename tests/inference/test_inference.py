"""Maps from a trained model: COG GeoTIFFs per patch and a GeoPackage of parcels (synthetic
Sen4AgriNet files)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pytest
import rasterio
import torch

from paths import CONFIGS
from sitsfusion.config import ConfigError, load_config
from sitsfusion.data.readers.sen4agrinet import Sen4AgriNet
from sitsfusion.data.sample import collate
from sitsfusion.inference import NODATA, parcel_polygons, predict_maps, write_cog
from sitsfusion.inference.predict import _georeference
from sitsfusion.tasks.base import load_task
from sitsfusion.training import fit

CONFIG = CONFIGS / "sykas2022" / "pad" / "convstar_scenario1.yaml"
SIZE, WINDOW = 24, 12


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, sen4agrinet: Path) -> tuple[object, Path]:
    root = sen4agrinet  # session fixture: 2 patches of SIZE per group (read-only)
    cfg = load_config(
        CONFIG,
        [
            f"data.root={root}",
            f"data.reader.subpatch={WINDOW}",
            "train.epochs=1",
            "data.batch_size=8",
            "model.encoder.hidden=8",
        ],
    )
    run = fit(cfg, tmp_path_factory.mktemp("infer") / "run")
    assert run.checkpoint is not None
    return cfg, run.checkpoint


@pytest.mark.slow
def test_maps_are_georeferenced_stitched_and_match_the_model(
    trained: tuple[object, Path], tmp_path: Path
) -> None:
    cfg, ckpt = trained
    result = predict_maps(cfg, ckpt, tmp_path, split="all", progress=False)
    root = Path(cfg.data.root)
    files = sorted(root.glob("*.nc"))
    assert len(result.maps) == len(files) == 6
    # patches scattered over a UTM zone: no mosaic there, the parcels of each patch; the
    # lone patch of zone 30 is a mosaic of its own (one per CRS and year)
    assert [p.name for p in result.mosaics] == ["mosaic_EPSG_32630_2019.tif"]
    assert len(result.notes) == 2 and all("scattered" in note for note in result.notes)
    assert result.n_samples == 6 * (SIZE // WINDOW) ** 2
    path = files[0]
    with h5py.File(path, "r") as f:
        x, y = f["B02"]["x"][:], f["B02"]["y"][:]
        tile = f.attrs["patch_tile"]
    tile = tile.decode() if isinstance(tile, bytes) else str(tile)
    with rasterio.open(tmp_path / "maps" / f"{path.stem}.tif") as src:
        assert src.crs.to_epsg() == int(f"326{tile[:2]}")
        assert src.shape == (SIZE, SIZE) and src.count == 2
        assert src.descriptions == ("class", "confidence")
        a, b, c, d, e, f_ = tuple(src.transform)[:6]
        assert (a, b, d, e) == (10.0, 0.0, 0.0, -10.0)
        assert c == x[0] - 5.0 and f_ == y[0] + 5.0
        cls, conf = src.read(1), src.read(2)
        assert src.tags()["synthetic"] == "true"
    assert (cls != NODATA).all()  # every window of the patch was predicted and placed
    assert conf.max() <= 100
    # the window at (row 12, col 0) equals the model's own arg-max on that sub-patch
    task = load_task(ckpt).eval()
    from sitsfusion.training import datamodule

    ds = datamodule(cfg).predict_dataset("all")
    index = next(
        i
        for i in range(len(ds))
        if ds[i].meta["patch"] == path.stem and ds[i].meta["window"][:2] == (12, 0)
    )
    with torch.inference_mode():
        expected = task(collate([ds[index]])).logits.argmax(1)[0].numpy()
    assert np.array_equal(cls[12:24, 0:12], expected)

    import pandas as pd

    layers = [gpd.read_file(result.parcels, layer=name) for name in result.layers]
    assert all(layer.crs is not None for layer in layers)
    parcels = pd.concat(
        [pd.DataFrame(layer.drop(columns="geometry")).assign(area=layer.area) for layer in layers]
    )
    assert len(parcels) == result.n_parcels
    reader = Sen4AgriNet(root, subpatch=None, bands=["B02"])
    n_expected = sum(
        int((np.unique(reader[k].instances.numpy()) > 0).sum()) for k in range(len(reader))
    )
    assert len(parcels) == n_expected
    assert set(parcels["pred_class"]) <= set(range(12))
    assert (parcels["pixels"] * 100.0 - parcels["area"]).abs().max() < 1e-6  # never reprojected


def test_predict_command_prints_only_paths_that_exist(
    trained: tuple[object, Path], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from sitsfusion.cli import cli
    from sitsfusion.inference import MAPS_FOLDER, PARCELS_FILE

    cfg, ckpt = trained
    out = tmp_path / "predictions"
    args = ["predict", "--config", str(CONFIG), "--ckpt", str(ckpt), "--out", str(out)]
    for item in (f"data.root={cfg.data.root}", f"data.reader.subpatch={WINDOW}"):
        args += ["--set", item]
    result = CliRunner().invoke(cli, [*args, "--split", "all"])
    assert result.exit_code == 0, result.output
    printed = {
        label: Path(rest)
        for label, _, rest in (line.partition(": ") for line in result.output.splitlines())
        if label in ("maps", "parcels")
    }
    assert printed == {"maps": out / MAPS_FOLDER, "parcels": out / PARCELS_FILE}
    assert all(path.exists() for path in printed.values())
    assert len(list(printed["maps"].glob("*.tif"))) == 6
    help_text = CliRunner().invoke(cli, ["predict", "--help"]).output
    assert "OUT/maps/<patch>.tif" in help_text and "OUT/parcels.gpkg" in help_text


def test_maps_refuse_a_parcel_checkpoint_and_unknown_splits(
    trained: tuple[object, Path], tmp_path: Path
) -> None:
    cfg, ckpt = trained
    with pytest.raises(ConfigError, match="split"):
        predict_maps(cfg, ckpt, tmp_path, split="everything", progress=False)
    with pytest.raises(ConfigError, match="no georeferencing"):
        _georeference({"id": "p1"})


def test_write_cog_and_parcel_polygons(tmp_path: Path) -> None:
    bands = np.arange(2 * 40 * 30, dtype=np.uint8).reshape(2, 40, 30)
    transform = (20.0, 0.0, 500000.0, 0.0, -20.0, 4600000.0)
    path = write_cog(tmp_path / "m.tif", bands, "EPSG:32631", transform, nodata=255)
    with rasterio.open(path) as src:
        assert np.array_equal(src.read(), bands)
        assert tuple(src.transform)[:6] == transform
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]  # no temporary left
    ids = np.zeros((6, 6), dtype=np.int64)
    ids[:2, :2] = 2**40 + 1  # a 64-bit parcel id in two separate pieces
    ids[4:, 4:] = 2**40 + 1
    ids[2:4, :] = 7
    frame = parcel_polygons(ids, "EPSG:32631", transform)
    assert sorted(frame["parcel"]) == [7, 2**40 + 1]
    area = dict(zip(frame["parcel"], frame.geometry.area, strict=True))
    assert area[2**40 + 1] == 8 * 400.0 and area[7] == 12 * 400.0
