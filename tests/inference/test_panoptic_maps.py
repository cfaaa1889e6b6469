"""``sitsfusion predict`` with a panoptic (U-TAE + PaPs) checkpoint: instance rasters and
polygons beside the class maps (tiny simulated — synthetic — PASTIS-R)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch

from paths import CONFIGS
from sitsfusion.config import load_config
from sitsfusion.data.sample import collate
from sitsfusion.inference import predict_maps
from sitsfusion.tasks.base import load_task
from sitsfusion.training import datamodule, fit

pytestmark = pytest.mark.slow  # trains a model

SMALL = [
    "model.encoder={name: utae, encoder_widths: [8, 8, 8, 16], decoder_widths: [8, 8, 8, 16],"
    " n_head: 4, d_model: 16, d_k: 4}",
    "data.batch_size=2",
    "train.epochs=1",
    "train.warmup_epochs=0",
    "train.lr=1e-3",
]


def _keep_every_centre(checkpoint: Path) -> None:
    """Set the checkpoint's pseudo-NMS thresholds (the centres' one is tuned on validation
    after training) to 0, so that a model trained one epoch still keeps instances."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    paps = state["hyper_parameters"]["config"]["model"].setdefault("paps", {})
    paps |= {"min_confidence": 0.0, "mask_threshold": 0.0}
    torch.save(state, checkpoint)


def test_panoptic_checkpoint_writes_instances(pastis_r: Path, tmp_path: Path) -> None:
    cfg = load_config(
        CONFIGS / "garnot2021" / "panoptic" / "s2.yaml", [*SMALL, f"data.root={pastis_r}"]
    )
    run = fit(cfg, tmp_path / "run")
    assert run.checkpoint is not None
    _keep_every_centre(run.checkpoint)
    result = predict_maps(cfg, run.checkpoint, tmp_path / "maps", split="all", progress=False)
    assert len(result.instance_maps) == len(result.maps) == 6
    assert result.instances is not None and result.n_instances > 0
    frame = gpd.read_file(result.instances, layer="instances")
    assert len(frame) == result.n_instances
    assert {"patch", "instance", "pred_class", "confidence", "pixels", "ref_class"} <= set(
        frame.columns
    )

    # One patch against the model run directly on it: the same instances, renumbered.
    task = load_task(run.checkpoint).eval()
    dm = datamodule(cfg)
    dataset = dm.predict_dataset("all")
    sample = dataset[0]
    patch = str(sample.meta.get("patch", sample.meta.get("id")))
    with torch.inference_mode():
        out = task(collate([sample]))
    expected = out.panoptic_instance[0].numpy()
    with rasterio.open(tmp_path / "maps" / "instances" / f"{patch}.tif") as src:
        got = src.read(1)
        assert src.dtypes[0] == "uint32" and src.nodata == 0 and src.crs is not None
        transform = src.transform
    with rasterio.open(tmp_path / "maps" / "maps" / f"{patch}.tif") as src:
        classes = src.read(1)
        assert src.transform == transform and src.crs is not None
    assert ((got > 0) == (expected > 0)).all()
    pairs = {(int(a), int(b)) for a, b in zip(got[got > 0], expected[got > 0], strict=True)}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})  # a bijection
    rows = frame[frame["patch"] == patch]
    assert sorted(rows["instance"]) == sorted(int(i) for i in np.unique(got[got > 0]))
    areas = {int(i): int((got == i).sum()) for i in rows["instance"]}
    assert all(rows["pixels"].to_numpy() == [areas[int(i)] for i in rows["instance"]])
    pixel_area = abs(transform.determinant)  # PASTIS grids are rotated (grid convergence)
    assert np.allclose(rows.geometry.area.to_numpy(), rows["pixels"].to_numpy() * pixel_area)
    # the instance's class is the one of its pixels in the class map
    for instance, cls in zip(rows["instance"], rows["pred_class"], strict=True):
        assert (classes[got == instance] == cls).all()
