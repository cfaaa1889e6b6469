"""A small synthetic scene, prepared, and an untrained small U-TAE checkpoint trained "on" it:
what ``sitsfusion map`` needs (synthetic data; the model's weights are its initial ones)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import pytest
import torch

from paths import CONFIGS

pytest.importorskip("odc.stac")
pytest.importorskip("distributed")

CONFIG = CONFIGS / "garnot2021" / "semantic" / "s2.yaml"
SMALL = [
    "model.encoder={name: utae, encoder_widths: [8, 8, 8, 16], decoder_widths: [8, 8, 8, 16],"
    " n_head: 4, d_model: 16, d_k: 4}",
    "model.head=[8]",
    "data.batch_size=4",
]
SCENE = 72  # px: 3 x 3 patches of 32 (the last ones shifted back), 2 x 2 windows of 40


@dataclass(frozen=True)
class Area:
    scene: Path  # the simulated scene (catalog.json, parcels.gpkg)
    dataset: Path  # prepared, 32-px patches
    checkpoint: Path
    overrides: tuple[str, ...]

    @property
    def catalog(self) -> Path:
        return self.scene / "catalog.json"

    @property
    def parcels(self) -> Path:
        return self.scene / "parcels.gpkg"

    def config(self, *more: str):
        from sitsfusion.config import load_config

        return load_config(CONFIG, [*self.overrides, *more])


@pytest.fixture(scope="session")
def area(tmp_path_factory: pytest.TempPathFactory) -> Area:
    from sitsfusion.geo.prepare import prepare
    from sitsfusion.simulate.scene import simulate_scene
    from sitsfusion.training import build_task, datamodule

    root = tmp_path_factory.mktemp("mapping")
    scene = simulate_scene(root / "scene", size=SCENE, seed=3, s2_dates=8, s1_dates=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small parcels, empty folds: a tiny area
        prepare(
            scene / "catalog.json",
            scene / "parcels.gpkg",
            root / "ds",
            patch_size=32,
            block=1,
            folds=3,
        )
    overrides = (
        *SMALL,
        f"data.root={root / 'ds'}",
        "data.train_folds=[1]",
        "data.val_folds=[2]",
        "data.test_folds=[3]",
    )
    from sitsfusion.config import load_config

    cfg = load_config(CONFIG, list(overrides))
    torch.manual_seed(0)
    task = build_task(cfg, datamodule(cfg))
    path = root / "best.ckpt"
    torch.save(
        {
            "epoch": 0,
            "global_step": 0,
            "pytorch-lightning_version": L.__version__,
            "state_dict": task.state_dict(),
            "hyper_parameters": dict(task.hparams),
        },
        path,
    )
    return Area(scene, root / "ds", path, overrides)
