"""The real-data sequence experiment on two small real datasets.

Runs on the local copies of ``tempcnn_formosat2`` (GPL-3) and ``sits_s2_rondonia`` (GPL-2),
never part of the repository, and is skipped when they are absent. Fast: one epoch of tiny
networks.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from paths import REPO
from sitsfusion.config import load_config
from sitsfusion.experiments.real_sequences import (
    CONFIG_DIR,
    DEFAULT_MODELS,
    MODELS,
    RANDOM_FOREST,
    SplitData,
    config_for,
    random_forest_scores,
    run_real_sequences,
    split_data,
)

DATA = REPO / ".." / "shared" / "data"
FORMOSAT2 = DATA / "tempcnn_formosat2"
RONDONIA = DATA / "sits_s2_rondonia"
TINY = {
    "TempCNN": ["model.temporal={name: tempcnn, max_len: 149, kernels: [8], hidden: 16}"],
    "LSTM": ["model.temporal={name: lstm, hidden: 8, layers: 1}"],
    "Transformer": [
        "model.temporal={name: transformer, n_head: 1, layers: 1, dim_feedforward: 16}"
    ],
    "PSE+L-TAE": [
        "model.spatial={name: pse, mlp1: [8, 16], mlp2: [16]}",
        "model.temporal={name: ltae, n_head: 4, d_k: 4, d_model: 16, mlp: [16, 16]}",
        "model.decoder=[8]",
    ],
}

needs_formosat2 = pytest.mark.skipif(
    not FORMOSAT2.is_dir(),
    reason=f"real data folder absent: {FORMOSAT2} (local only, GPL-3)",
)
needs_rondonia = pytest.mark.skipif(
    not RONDONIA.is_dir(),
    reason=f"real data folder absent: {RONDONIA} (local only, GPL-2)",
)


def test_configs_exist_and_agree_on_their_data() -> None:
    for dataset in ("formosat2", "rondonia"):
        data = [load_config(CONFIG_DIR / f"{dataset}_{key}.yaml").data for key in MODELS.values()]
        assert all(d == data[0] for d in data), dataset  # one split for every network
    f2 = load_config(CONFIG_DIR / "formosat2_tempcnn.yaml")
    assert (REPO / f2.data.train_roots[0]).resolve() == (FORMOSAT2 / "train_dataset.csv").resolve()
    assert f2.model.temporal["max_len"] == 149 and f2.model.num_classes == 13
    ro = load_config(CONFIG_DIR / "rondonia_tempcnn.yaml")
    assert (REPO / ro.data.root).resolve().parent == RONDONIA.resolve()
    assert ro.data.split == "kfold" and ro.model.temporal["max_len"] == 36
    cfg = config_for("rondonia", "LSTM", 3, root="/x")
    assert (cfg.data.fold, cfg.train.seed, cfg.data.split_seed) == (3, 3, 0)
    cfg = config_for("formosat2", "LSTM", 2, root="/y")
    assert (cfg.data.split_seed, cfg.train.seed) == (2, 2)
    assert cfg.data.test_roots == ["/y/test_dataset.csv"]


def test_random_forest_scores_a_separable_problem() -> None:
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = (rng.normal(size=(60, 4)) * 0.1 + y[:, None]).astype(np.float32)
    idx = np.arange(60)
    data = SplitData(x, y, x, y, idx, idx[:0], idx, ("a", "b", "c"), 2, 2)
    scores, predicted = random_forest_scores(data, seed=0, n_estimators=10)
    assert predicted.tolist() == y.tolist()
    assert scores["overall_accuracy"] == 1.0 and scores["miou"] == 1.0
    assert scores["class_names"] == ["a", "b", "c"]


@needs_formosat2
def test_formosat2_split_keeps_polygons_and_the_test_file() -> None:
    cfg = config_for("formosat2", "TempCNN", 0, root=FORMOSAT2)
    split = split_data(cfg)
    assert split.test_index.tolist() == list(range(260))  # the test file as given
    assert split.train_index.size + split.val_index.size == 260
    assert (split.dates, split.channels) == (149, 3)
    assert split.x_train.shape == (split.train_index.size, 149 * 3)
    raw = pd.read_csv(FORMOSAT2 / "train_dataset.csv", header=None)
    polygons = raw[1].to_numpy()
    assert not set(polygons[split.train_index]) & set(polygons[split.val_index])
    np.testing.assert_allclose(
        split.x_train[0], raw.iloc[split.train_index[0], 2:].to_numpy(), rtol=1e-6
    )
    other = split_data(config_for("formosat2", "LSTM", 1, root=FORMOSAT2))
    assert other.fingerprint() != split.fingerprint()  # the seed moves the validation split


@needs_rondonia
def test_rondonia_folds_partition_the_samples() -> None:
    tests = [split_data(config_for("rondonia", "TempCNN", f, root=RONDONIA)) for f in (0, 2)]
    for s in tests:
        assert s.train_index.size + s.val_index.size + s.test_index.size == 481
        assert (s.dates, s.channels) == (36, 11)
    assert not set(tests[0].test_index) & set(tests[1].test_index)


@pytest.mark.slow
@needs_formosat2
@needs_rondonia
def test_tiny_run_uses_one_split_for_every_model(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    console = Console(file=io.StringIO(), width=160)
    out = tmp_path / "f2"
    table = run_real_sequences(
        "formosat2",
        FORMOSAT2,
        out,
        repetitions=[0],
        epochs=1,
        model_overrides=TINY,
        n_estimators=20,
        console=console,
    )
    models = [*DEFAULT_MODELS, RANDOM_FOREST]
    assert table["model"].tolist() == models
    assert list(table.columns[:7]) == [
        "dataset",
        "model",
        "repetition",
        "OA",
        "mIoU",
        "macro_F1",
        "weighted_F1",
    ]
    for col in ("OA", "mIoU", "macro_F1", "weighted_F1"):
        assert table[col].between(0, 1).all(), col
    assert table["split"].nunique() == 1
    names = ("runs.jsonl", "results.csv", "per_class.csv", "splits.json", "summary.csv")
    for name in (*names, "summary.json", "summary.md", "run.json"):
        assert (out / name).is_file(), name
    assert "520 pixels, Formosat-2" in (out / "summary.md").read_text()
    # identical test indices for the forest and every network, and the networks' own test
    # reports counted exactly those samples, class by class
    splits = json.loads((out / "splits.json").read_text())
    assert set(splits) == {f"{m}/rep_0" for m in models}
    assert all(v == splits[f"{RANDOM_FOREST}/rep_0"] for v in splits.values())
    runs = {
        r["model"]: r for r in map(json.loads, (out / "runs.jsonl").read_text().split("\n")[:-1])
    }
    support = runs[RANDOM_FOREST]["test_support"]
    assert sum(support) == 260
    for model in DEFAULT_MODELS:
        key = MODELS[model]
        report = json.loads((out / key / "rep_0" / "test" / "test_metrics.json").read_text())
        assert np.asarray(report["confusion_matrix"]).sum(axis=1).tolist() == support, model
    summary = pd.read_csv(out / "summary.csv")
    assert summary["params"].notna().sum() == len(DEFAULT_MODELS)
    # resumable: a second call trains only the model it adds, and the tables show all of them
    lines = (out / "runs.jsonl").read_text()
    extra = "Transformer (d_model 64)"
    again = run_real_sequences(
        "formosat2",
        FORMOSAT2,
        out,
        repetitions=[0],
        models=[extra],
        epochs=1,
        model_overrides={extra: ["model.temporal={name: transformer, d_model: 8, layers: 1}"]},
        n_estimators=20,
        console=console,
    )
    new_lines = (out / "runs.jsonl").read_text()
    assert new_lines.startswith(lines) and new_lines.count("\n") == lines.count("\n") + 1
    assert again["model"].tolist() == [*DEFAULT_MODELS, extra, RANDOM_FOREST]
    pd.testing.assert_frame_equal(
        again[again["model"] != extra].reset_index(drop=True), table, check_dtype=False
    )

    # the k-fold protocol on the long table: one fold, one network
    ro = tmp_path / "ro"
    table = run_real_sequences(
        "rondonia",
        RONDONIA,
        ro,
        repetitions=[1],
        models=["TempCNN"],
        epochs=1,
        model_overrides={
            "TempCNN": ["model.temporal={name: tempcnn, max_len: 36, kernels: [8], hidden: 16}"]
        },
        n_estimators=20,
        console=console,
    )
    assert table["model"].tolist() == ["TempCNN", RANDOM_FOREST]
    assert table["split"].nunique() == 1
    assert json.loads((ro / "run.json").read_text())["protocol"] == "kfold"
