"""Parcel models in ``sitsfusion map`` (``sitsfusion.mapping.parcel_models``) on the
simulator's synthetic 64 x 64 px scene: a tiny late-fusion PSE + L-TAE trained one epoch on the
scene's pixel sets maps the parcels, with or without their labels (the tests that train are
marked slow)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("odc.stac")

from paths import CONFIGS
from sitsfusion.config import ConfigError, ExperimentConfig, load_config
from sitsfusion.errors import DataWarning
from sitsfusion.geo.grid import Grid
from sitsfusion.geo.pixelsets import UNLABELLED, prepare_pixelsets
from sitsfusion.mapping.parcel_models import PIXELSETS, map_parcel_model
from sitsfusion.simulate import simulate_scene
from tiny import TINY_PSE_LTAE

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # DataWarning: small parcels

PREPARE = {"tile": 32, "folds": 3, "block": 1, "block_unit": 32}  # tests/geo/test_pixelsets.py
SMALL = [
    *TINY_PSE_LTAE,
    "train.accelerator=cpu",
    "data.train_folds=[1]",
    "data.val_folds=[2]",
    "data.test_folds=[3]",
]  # tests/cli/test_training_commands.py SMALL, one epoch
FAR = 999  # a parcel id away from the imagery


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The scene, its labelled pixel sets, and a checkpoint of a tiny model trained on them."""
    from sitsfusion.tasks.base import load_task
    from sitsfusion.training import fit

    base = tmp_path_factory.mktemp("parcel_models")
    scene = simulate_scene(base / "area", size=64, s2_dates=4, s1_dates=3, seed=3)
    data = base / "pixelsets"
    summary = prepare_pixelsets(scene / "catalog.json", scene / "parcels.gpkg", data, **PREPARE)
    cfg = load_config(CONFIGS / "own_area" / "pixelset_late.yaml", [*SMALL, f"data.root={data}"])
    fit(cfg, base / "run")
    task = load_task(base / "run" / "checkpoints" / "best.ckpt")
    return {
        "scene": scene,
        "data": data,
        "cfg": cfg,
        "task": task,
        "task_path": base / "run" / "checkpoints" / "best.ckpt",
        "summary": summary,
    }


@pytest.fixture(scope="module")
def unlabelled(trained: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scene's parcels without their class column, plus one parcel 1 km east of the
    imagery (the scene is 640 m wide)."""
    import geopandas as gpd
    import pandas as pd

    parcels = gpd.read_file(trained["scene"] / "parcels.gpkg").drop(columns="crop_code")
    far = parcels.iloc[[0]].assign(parcel_id=FAR)
    far["geometry"] = far.translate(1000, 0)
    path = tmp_path_factory.mktemp("production") / "parcels.gpkg"
    gpd.GeoDataFrame(pd.concat([parcels, far]), crs=parcels.crs).to_file(path)
    return path


@pytest.fixture(scope="module")
def mapped(
    trained: dict[str, Any], unlabelled: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, Path]:
    work = tmp_path_factory.mktemp("map") / "work"
    scene, cfg, task = trained["scene"], trained["cfg"], trained["task"]
    return map_parcel_model(task, cfg, scene / "catalog.json", unlabelled, work), work


def evaluation(cfg: ExperimentConfig, task: Any) -> dict[int, np.ndarray]:
    """``{parcel id: probabilities [K]}`` of every parcel of the training data, as ``sitsfusion
    test`` evaluates them (the data module's evaluation samples, the model in eval mode)."""
    import torch
    from torch.utils.data import DataLoader

    from sitsfusion.data.sample import collate
    from sitsfusion.training import datamodule

    samples = datamodule(cfg).predict_dataset("all")
    out = {}
    task.eval()
    with torch.inference_mode():
        for batch in DataLoader(samples, batch_size=8, collate_fn=collate):
            probs = task(batch).logits.softmax(dim=1).numpy()
            out.update({int(m["id"]): p for m, p in zip(batch.meta, probs, strict=True)})
    return out


@pytest.mark.slow
def test_every_parcel_is_classified_once_without_labels(
    trained: dict[str, Any], unlabelled: Path, mapped: tuple[Any, Path]
) -> None:
    import geopandas as gpd

    result, work = mapped
    frame, probs = result.frame, result.probabilities
    names = list(trained["task"].hparams["class_names"])
    assert list(frame.columns) == [
        "parcel_id",
        "pred_class",
        "pred_name",
        "confidence",
        "pixels",
        "geometry",
    ]  # no class_value: the file has no class column
    assert frame["parcel_id"].dtype == np.int64 and frame["parcel_id"].is_monotonic_increasing
    assert frame["parcel_id"].is_unique and frame.crs == "EPSG:32630"
    assert probs.dtype == np.float32 and probs.shape == (len(frame), len(names))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(frame["pred_class"], probs.argmax(axis=1))
    np.testing.assert_allclose(frame["confidence"], probs.max(axis=1))
    assert frame["pred_name"].tolist() == [names[c] for c in frame["pred_class"]]
    assert (frame["pixels"] >= 4).all() and result.synthetic
    file = gpd.read_file(unlabelled)
    assert FAR not in set(frame["parcel_id"]) and result.skipped >= 1  # away from the imagery
    assert len(frame) + result.skipped == len(file)  # every polygon mapped or counted skipped
    meta = work / PIXELSETS / "S2" / "META"
    assert set(json.loads((meta / "labels.json").read_text())["pastis"].values()) == {UNLABELLED}
    assert not (meta / "folds.json").exists()


@pytest.mark.slow
def test_a_parcel_gets_the_prediction_of_its_evaluation(
    trained: dict[str, Any], mapped: tuple[Any, Path]
) -> None:
    expected = evaluation(trained["cfg"], trained["task"])
    result, _ = mapped
    row = {int(p): i for i, p in enumerate(result.frame["parcel_id"])}
    assert set(expected) <= set(row)  # every training parcel is mapped
    got = np.stack([result.probabilities[row[p]] for p in expected])
    np.testing.assert_allclose(got, np.stack(list(expected.values())), atol=1e-5)


@pytest.mark.slow
def test_a_labelled_file_on_a_given_grid_keeps_its_classes(
    trained: dict[str, Any], mapped: tuple[Any, Path], tmp_path: Path
) -> None:
    import geopandas as gpd

    scene, data = trained["scene"], trained["data"]
    grid = Grid(**json.loads((data / ".sitsfusion.json").read_text())["grid"])
    result = map_parcel_model(
        trained["task"],
        trained["cfg"],
        scene / "catalog.json",
        scene / "parcels.gpkg",
        tmp_path / "work",
        grid=grid,
        batch_size=5,
    )
    codes = gpd.read_file(scene / "parcels.gpkg").set_index("parcel_id")["crop_code"]
    assert result.frame["class_value"].tolist() == codes[result.frame["parcel_id"]].tolist()
    before, _ = mapped  # the same parcels read on a wider grid, in batches of 32
    same = before.frame["parcel_id"].isin(result.frame["parcel_id"]).to_numpy()
    np.testing.assert_allclose(result.probabilities, before.probabilities[same], atol=1e-5)
    bounds = gpd.read_file(tmp_path / "work" / PIXELSETS / "aoi.geojson").total_bounds
    np.testing.assert_allclose(bounds, grid.bounds)


@pytest.mark.slow
def test_days_count_from_the_training_data_and_other_arguments_replace_a_map(
    trained: dict[str, Any], unlabelled: Path, tmp_path: Path
) -> None:
    from sitsfusion.mapping.parcel_models import _evaluation_reader
    from sitsfusion.training import datamodule

    cfg = trained["cfg"]
    args = (trained["task"], cfg, trained["scene"] / "catalog.json", unlabelled)
    work = tmp_path / "work"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = map_parcel_model(*args, work, start="2018-09-18", min_clear=0.9)  # 1st: 09-17
    said = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert any("prepared otherwise than this map (min_clear 0.9, not 0.5)" in m for m in said)
    reader = _evaluation_reader(cfg, datamodule(cfg), work / PIXELSETS)
    assert reader.reference_date == "2018-09-17"  # the training data's, not the map's first
    assert int(reader[0]["S1D"].dates[0]) > 0 and int(reader[0]["S2"].dates[0]) == 2
    again = map_parcel_model(*args, work)  # other arguments: the pixel sets written anew
    mark = json.loads((work / PIXELSETS / ".sitsfusion.json").read_text())
    assert mark["complete"] and mark["pixelsets"]["start"] is None
    assert len(first.frame) == len(again.frame)


@pytest.mark.slow
def test_a_rerun_resumes_and_an_unreadable_parcel_is_skipped(
    trained: dict[str, Any], unlabelled: Path, mapped: tuple[Any, Path], tmp_path: Path
) -> None:
    before, work = mapped
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    pid = int(before.frame["parcel_id"].iloc[0])
    s2 = copy / PIXELSETS / "S2" / "DATA" / f"{pid}.npy"
    np.save(s2, np.zeros_like(np.load(s2)))  # no valid S2 pixel left
    args = (trained["task"], trained["cfg"], trained["scene"] / "catalog.json", unlabelled)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = map_parcel_model(*args, copy)  # the same arguments: resumed, nothing read again
    said = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    left = [m for m in said if m.startswith("1 parcel(s) left out, their pixel sets unreadable")]
    assert len(left) == 1 and f"parcel {pid} has no pixel holding data" in left[0]
    assert pid not in set(again.frame["parcel_id"]) and again.skipped == before.skipped + 1
    np.testing.assert_allclose(again.probabilities, before.probabilities[1:], atol=1e-6)


def test_refusals_are_one_line_before_any_work(tmp_path: Path) -> None:
    data = tmp_path / "gone"
    cfg = load_config(CONFIGS / "own_area" / "pixelset_late.yaml", [*SMALL, f"data.root={data}"])
    args = (tmp_path / "catalog.json", tmp_path / "parcels.gpkg", tmp_path / "work")
    parcel = SimpleNamespace(task_name="parcel", hparams={"channels": {"S2": 10, "S1A": 3}})
    with pytest.raises(ConfigError, match="holds a 'semantic' model") as info:
        map_parcel_model(SimpleNamespace(task_name="semantic"), cfg, *args)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"the checkpoint was trained on \['S2', 'S1A'\]"):
        map_parcel_model(parcel, cfg, *args)  # type: ignore[arg-type]
    parcel.hparams["channels"]["S1D"] = 3
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        map_parcel_model(parcel, cfg, *args, batch_size=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"gone not found; mapping needs the training data"):
        map_parcel_model(parcel, cfg, *args)  # type: ignore[arg-type]
    seed000 = load_config(CONFIGS / "ofori2021" / "late.yaml", [f"data.root={tmp_path}"])
    with pytest.raises(ConfigError, match=r"\['S1'\] are not imagery sensors; a map reads S2"):
        map_parcel_model(parcel, seed000, *args)  # type: ignore[arg-type]
    assert not (tmp_path / "work").exists()


def test_parcels_to_classify_need_no_class_column(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    from sitsfusion.errors import DatasetError
    from sitsfusion.geo.labels import read_parcels

    squares = [box(0, 0, 100, 100), box(200, 0, 300, 100)]
    path = tmp_path / "p.gpkg"
    gpd.GeoDataFrame({"area_ha": [1.0, 1.0]}, geometry=squares, crs="EPSG:32630").to_file(path)
    with pytest.raises(DatasetError, match="no class column found"):
        read_parcels(path)  # to learn from: a class column is needed
    assert read_parcels(path, class_required=False)["class_value"].isna().all()
    two = gpd.read_file(path).assign(crop_code=["A", "B"], crop_name=["a", "b"])
    two.to_file(path)
    assert read_parcels(path, class_required=False)["class_value"].isna().all()  # ambiguous
    chosen = read_parcels(path, class_column="crop_name", class_required=False)
    assert chosen["class_value"].tolist() == ["a", "b"]


@pytest.mark.slow
def test_tiles_read_on_a_local_cluster_resume_after_an_interruption(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from sitsfusion.mapping.cluster import TileRunner, run_on_cluster

    scene = simulate_scene(tmp_path / "area", size=64, s2_dates=3, s1_dates=2, seed=3)
    args = (scene / "catalog.json", scene / "parcels.gpkg")
    small = {**PREPARE, "tile": 16, "labelled": False}  # 16 tiles, parcels across them
    reference = prepare_pixelsets(*args, tmp_path / "serial", **small)
    done: list[int] = []

    def interrupt_third(tile: int) -> None:
        done.append(tile)
        if len(done) == 3:
            raise KeyboardInterrupt

    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):  # the cluster closed, the tiles left cancelled
        prepare_pixelsets(*args, out, **small, run_tiles=TileRunner(2), on_tile=interrupt_third)
    records = {int(p.stem) for p in (out / ".pixelsets" / "tiles").iterdir()}
    assert set(done) <= records and len(records) < 16
    again: list[int] = []
    summary = prepare_pixelsets(*args, out, **small, on_tile=again.append)
    assert summary.n_resumed == len(records) and sorted(again) == sorted(set(range(16)) - records)
    assert summary.n_parcels == reference.n_parcels and reference.n_tiles == 16
    for path in sorted((tmp_path / "serial").rglob("*.npy")) + sorted(
        (tmp_path / "serial").rglob("*.json")
    ):
        rel = path.relative_to(tmp_path / "serial")
        if ".pixelsets" not in rel.parts and rel.name != ".sitsfusion.json":
            assert (out / rel).read_bytes() == path.read_bytes(), rel
    with pytest.raises(ValueError, match="workers must be >= 1 without a scheduler"):
        next(run_on_cluster(print, [1], workers=0))


@pytest.mark.slow
def test_sitsfusion_map_with_a_parcel_checkpoint(
    trained: dict[str, Any], unlabelled: Path, mapped: tuple[Any, Path], sitsfusion_main, tmp_path
) -> None:
    import geopandas as gpd
    import rasterio
    from rasterio.features import rasterize

    scene = trained["scene"]
    out = tmp_path / "map"
    ran = sitsfusion_main(
        "map", "--config", CONFIGS / "own_area" / "pixelset_late.yaml",
        *[x for o in [*SMALL, f"data.root={trained['data']}"] for x in ("--set", o)],
        "--ckpt", trained["task_path"],
        "--imagery", scene / "catalog.json", "--parcels", unlabelled, "--out", out,
        "--workers", "2",
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    table = gpd.read_file(out / "parcels.gpkg")
    expected = mapped[0].frame  # map_parcel_model in this process (workers=0)
    assert table["parcel_id"].tolist() == expected["parcel_id"].tolist()
    assert table["pred_class"].tolist() == expected["pred_class"].tolist()  # tiles on 2 workers
    np.testing.assert_allclose(table["confidence"], expected["confidence"], atol=1e-6)
    with rasterio.open(out / "classes.tif") as src:
        classes = src.read(1)
        ids = rasterize(
            zip(table.geometry, table["parcel_id"], strict=True), out_shape=src.shape,
            transform=src.transform,
        )  # fmt: skip
    for row in table.itertuples():  # a parcel's pixels hold its class
        assert (classes[ids == row.parcel_id] == row.pred_class).all()
    assert (classes[ids == 0] == 255).all()
    assert not (out / ".blocks").exists() and "synthetic" in ran.stdout
