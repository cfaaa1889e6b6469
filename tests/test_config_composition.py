"""Config composition: ``extends`` chains, merging, several files, overrides, clear errors; the
papers' configs, now base files plus overlays, resolve to the values they always had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from paths import CONFIGS
from sitsfusion.config import ConfigError, ExperimentConfig, compose_config, load_config


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _non_defaults(cfg: ExperimentConfig) -> dict[str, Any]:
    """The keys of ``cfg`` that differ from the defaults, flat (``"model.fusion"``)."""
    default, tree = ExperimentConfig().to_dict(), cfg.to_dict()
    flat = {k: tree[k] for k in ("task", "name", "description") if tree[k] != default[k]}
    for section in ("data", "model", "train"):
        for key, value in tree[section].items():
            if value != default[section][key]:
                flat[f"{section}.{key}"] = value
    return flat


def test_extends_chain_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "root.yaml",
        "data:\n  modalities: [S2, S1A, S1D]\n  batch_size: 8\n"
        "model:\n  temporal: {name: tae, n_head: 4, mlp: [512, 128]}\n",
    )
    _write(
        tmp_path, "sub/base.yaml", "extends: ../root.yaml\ntask: semantic\ndata:\n  n_pixels: 16\n"
    )
    top = _write(
        tmp_path,
        "sub/top.yaml",
        "extends: base.yaml\nname: top\ndata:\n  modalities: [S1A]\n"
        "model:\n  temporal: {mlp: [64]}\n",
    )
    cfg = load_config(top)
    assert (cfg.task, cfg.name) == ("semantic", "top")
    assert cfg.data.modalities == ["S1A"]  # a list replaces
    assert (cfg.data.batch_size, cfg.data.n_pixels) == (8, 16)  # sections merge key by key
    assert cfg.model.temporal == {"name": "tae", "n_head": 4, "mlp": [64]}  # so do mappings
    assert cfg.train.epochs == 100  # untouched: the default


def test_an_empty_mapping_replaces(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", "data:\n  temporal_dropout: {S2: 0.4, S1A: 0.2}\n")
    off = _write(tmp_path, "off.yaml", "extends: base.yaml\ndata:\n  temporal_dropout: {}\n")
    some = _write(
        tmp_path, "some.yaml", "extends: base.yaml\ndata:\n  temporal_dropout: {S2: 0.1}\n"
    )
    assert load_config(off).data.temporal_dropout == {}
    assert load_config(some).data.temporal_dropout == {"S2": 0.1, "S1A": 0.2}


def test_extends_a_list_merges_left_to_right(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "train:\n  epochs: 3\n  lr: 0.5\n")
    _write(tmp_path, "b.yaml", "train:\n  epochs: 7\n")
    top = _write(tmp_path, "top.yaml", "extends: [a.yaml, b.yaml]\ntrain:\n  seed: 4\n")
    composed = compose_config(top)
    assert (composed.config.train.epochs, composed.config.train.lr) == (7, 0.5)
    assert composed.config.train.seed == 4
    assert [p.name for p in composed.files] == ["a.yaml", "b.yaml", "top.yaml"]
    assert composed.origins["train.epochs"] == (str(tmp_path / "b.yaml"),)
    assert composed.origins["train"] == tuple(
        str(tmp_path / n) for n in ("a.yaml", "b.yaml", "top.yaml")
    )


def test_several_files_merge_left_to_right_then_overrides(tmp_path: Path) -> None:
    first = _write(tmp_path, "first.yaml", "name: first\ndata:\n  batch_size: 4\n")
    second = _write(tmp_path, "second.yaml", "name: second\ntrain:\n  epochs: 2\n")
    cfg = load_config([first, second], ["train.epochs=5"])
    assert (cfg.name, cfg.data.batch_size, cfg.train.epochs) == ("second", 4, 5)
    assert load_config([second, first]).name == "first"


def test_override_replaces_a_mapping_and_dotted_keys_keep_the_rest() -> None:
    path = CONFIGS / "ofori2021" / "pse.yaml"
    cfg = load_config(path, ["model.temporal.n_head=8"])
    assert cfg.model.temporal == {"name": "tae", "n_head": 8, "d_k": 32, "mlp": [1024, 512, 256]}
    cfg = load_config(path, ["model.temporal={name: ltae}"])
    assert cfg.model.temporal == {"name": "ltae"}
    # a dotted key into a mapping no file wrote starts from the default mapping
    assert load_config(None, ["model.temporal.n_head=8"]).model.temporal["name"] == "ltae"


def test_extends_cycle_is_one_line_naming_the_files(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", "extends: b.yaml\n")
    _write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(
        ConfigError, match=r"b\.yaml: extends cycle .*a\.yaml -> .*b\.yaml -> .*a\.yaml"
    ) as e:
        load_config(tmp_path / "a.yaml")
    assert "\n" not in str(e.value)
    _write(tmp_path, "self.yaml", "extends: self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "self.yaml")


def test_missing_base_names_the_file_that_extends_it(tmp_path: Path) -> None:
    top = _write(tmp_path, "top.yaml", "extends: [nowhere.yaml]\n")
    with pytest.raises(ConfigError, match=r"top\.yaml: extends 'nowhere\.yaml': no such file"):
        load_config(top)
    bad = _write(tmp_path, "bad.yaml", "extends: {a: 1}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: extends: expected a file name"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"absent\.yaml: config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_unknown_key_in_an_overlay_names_the_overlay(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", "model:\n  fusion: late\n")
    overlay = _write(tmp_path, "overlay.yaml", "extends: base.yaml\nmodel:\n  fusoin: early\n")
    with pytest.raises(ConfigError, match=r"overlay\.yaml: model: unknown key.*fusoin.*'fusion'"):
        load_config(overlay)
    _write(tmp_path, "base2.yaml", "train:\n  epochs: many\n")
    overlay = _write(tmp_path, "overlay2.yaml", "extends: base2.yaml\n")
    with pytest.raises(ConfigError, match=r"base2\.yaml: train\.epochs: expected an integer"):
        load_config(overlay)


def test_bad_overrides_and_yaml_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--set data\.batch_sise=4: data: unknown key"):
        load_config(None, ["data.batch_sise=4"])
    with pytest.raises(ConfigError, match=r"--set 'data\.modalities=\[S2': not valid YAML"):
        load_config(None, ["data.modalities=[S2"])
    twice = _write(tmp_path, "twice.yaml", "model:\n  fusion: late\nmodel:\n  auxiliary: 0.5\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml: line 3: key 'model' written twice"):
        load_config(twice)
    broken = _write(tmp_path, "broken.yaml", "data: [1\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML") as e:
        load_config(broken)
    assert "\n" not in str(e.value)


# seed 001 / 000 / 003 / 004 configs and a real-data one, as resolved before they became
# overlays (commit b5f2ffb; normalize and out_dir then had the defaults "none", "runs/parcel")
PINNED: dict[str, dict[str, Any]] = {
    "garnot2021/parcel/late_aux_td": {
        "name": "garnot2021_parcel_late_aux_td",
        "description": "late fusion + auxiliary supervision + temporal dropout (Table 1)",
        "data.modalities": ["S2", "S1A", "S1D"],
        "data.temporal_dropout": {"S1A": 0.2, "S1D": 0.2, "S2": 0.4},
        "model.auxiliary": 0.5,
        "model.fusion": "late",
    },
    "garnot2021/panoptic/early_td": {
        "task": "panoptic",
        "name": "garnot2021_panoptic_early_td",
        "description": "early fusion (S1 resampled onto the S2 dates) + temporal dropout (Table 3)",
        "data.batch_size": 4,
        "data.modalities": ["S2", "S1A", "S1D"],
        "data.resample_to": "S2",
        "data.temporal_dropout": {"S1A": 0.2, "S1D": 0.2, "S2": 0.4},
        "model.fusion": "early",
        "model.ignore_index": 19,
        "model.num_classes": 20,
        "train.lr": 0.01,
        "train.milestones": [50],
        "train.monitor": "val_pq",
        "train.scheduler": "multistep",
        "train.warmup_epochs": 5,
        "train.val_every": 5,
        "train.val_after": 65,
    },
    "ofori2021/pse": {
        "name": "ofori2021_pse",
        "description": "PSE fusion = mid fusion merging per-date features (Table 2: 798,956)",
        "data.batch_size": 512,
        "data.classes": [1, 2, 3, 4, 5, 8, 11, 16, 17, 18, 20, 25],
        "data.format": "pixelset",
        "data.modalities": ["S2", "S1"],
        "data.nomenclature": "CODE_GROUP",
        "data.reference_date": "2018-10-01",
        "data.resample_method": "nearest",
        "data.resample_to": "S2",
        "data.subsequence": {"S2": 27},
        "data.test_roots": ["data/CropTypeMapping/s1_data/Brest"],
        "data.train_roots": [
            "data/CropTypeMapping/s1_data/Chateaulin",
            "data/CropTypeMapping/s1_data/Quimper",
        ],
        "data.val_roots": ["data/CropTypeMapping/s1_data/Morlaix"],
        "model.fusion": "pse",
        "model.num_classes": 12,
        "model.temporal": {"d_k": 32, "mlp": [1024, 512, 256], "n_head": 4, "name": "tae"},
        "train.loss": "focal",
    },
    "wenger2022/convlstm_s1_6classes": {
        "task": "semantic",
        "name": "wenger2022_convlstm_s1_6classes",
        "description": "ConvLSTM-S1: a ConvLSTM on S1 into a VGG-16 U-Net, 6 classes (Table 4)",
        "data.augment": True,
        "data.batch_size": 16,
        "data.class_scheme": 6,
        "data.format": "multisenge",
        "data.modalities": ["S1"],
        "data.root": "data/MultiSenGE",
        "model.dense_decoder": "vgg16_unet",
        "model.encoder": {"hidden": 32, "name": "convlstm"},
        "model.ignore_index": 0,
        "model.num_classes": 7,
        "train.early_stopping_patience": 20,
        "train.loss": "weighted_cross_entropy",
        "train.plateau_factor": 0.1,
        "train.scheduler": "plateau",
    },
    "sykas2022/pad/convstar_scenario3": {
        "task": "semantic",
        "name": "sykas2022_pad_convstar_scenario3",
        "description": "ConvSTAR: 3 stacked ConvSTAR cells (hidden 64, 3x3) and a 1x1 "
        "classifier; scenario 3",
        "data.batch_size": 32,
        "data.format": "sen4agrinet",
        "data.months": [4, 5, 6, 7, 8, 9],
        "data.nomenclature": "sen4agrinet",
        "data.reader": {"bands": ["B02", "B03", "B04", "B08"], "subpatch": 61},
        "data.root": "data/Sen4AgriNet",
        "data.split": "groups",
        "data.test_groups": ["catalonia/2020"],
        "data.train_groups": ["france/2019"],
        "model.dense_decoder": "linear",
        "model.encoder": {"hidden": 64, "kernel_size": 3, "layers": 3, "name": "convstar"},
        "model.head": [],
        "model.ignore_index": 0,
        "model.num_classes": 12,
        "train.epochs": 10,
        "train.plateau_patience": 4,
        "train.scheduler": "plateau",
    },
    "sykas2022/oad/transformer_scenario2": {
        "name": "sykas2022_oad_transformer_scenario2",
        "description": "Transformer encoder classifier on the 26 statistics, 2 heads, 3 layers, "
        "feed-forward 1024, sinusoidal positions; scenario 2",
        "data.batch_size": 512,
        "data.classes": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        "data.format": "oad",
        "data.reader": {"nomenclature": "sen4agrinet", "stat": "mean_std"},
        "data.root": "data/Sen4AgriNet_oad.parquet",
        "data.split": "groups",
        "data.test_groups": ["france/2019"],
        "data.train_groups": ["catalonia/2019", "catalonia/2020"],
        "model.decoder": [],
        "model.num_classes": 11,
        "model.spatial": {"name": "mean"},
        "model.temporal": {
            "dim_feedforward": 1024,
            "dropout": 0.1,
            "layers": 3,
            "n_head": 2,
            "name": "transformer",
        },
        "train.epochs": 10,
        "train.lr": 0.0001,
        "train.scheduler": "step",
    },
    "real/rondonia_lstm": {
        "name": "rondonia_lstm",
        "description": "LSTM, small real dataset (481 samples, Sentinel-2, Rondonia 2018-19)",
        "data.batch_size": 32,
        "data.format": "long_table",
        "data.normalize": "zscore",
        "data.root": "../shared/data/sits_s2_rondonia/samples_S2_T20LKP_2018_2019.csv",
        "data.split": "kfold",
        "model.decoder": [],
        "model.num_classes": 3,
        "model.spatial": {"name": "mean"},
        "model.temporal": {
            "bidirectional": True,
            "dropout": 0.2,
            "hidden": 128,
            "layers": 3,
            "name": "lstm",
        },
        "train.accelerator": "cpu",
        "train.epochs": 50,
        "train.log_every_n_steps": 5,
    },
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_overlays_resolve_to_the_pinned_values(name: str) -> None:
    assert _non_defaults(load_config(CONFIGS / f"{name}.yaml")) == PINNED[name]


def test_experiment_files_name_themselves_and_bases_are_extended() -> None:
    """Each file naming a run ends the name with its own stem (an overlay that forgot its name
    would inherit its base's); a file without a name is a base that other files extend."""
    own = {path: yaml.safe_load(path.read_text()) for path in sorted(CONFIGS.rglob("*.yaml"))}
    extended = set()
    for path, tree in own.items():
        bases = tree.get("extends", [])
        extended |= {
            (path.parent / b).resolve() for b in ([bases] if isinstance(bases, str) else bases)
        }
    names = [tree["name"] for tree in own.values() if "name" in tree]
    for path, tree in own.items():
        if "name" in tree:
            assert tree["name"].endswith(path.stem), path
        else:
            assert path.resolve() in extended, f"{path}: neither names a run nor is extended"
    assert len(names) == len(set(names)) == 82  # the experiments, one file each
